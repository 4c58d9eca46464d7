package api

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/node"
)

// metricsWriter writes the Prometheus text exposition format (0.0.4): each
// family once, HELP and TYPE first, then its samples.
type metricsWriter struct {
	buf  bytes.Buffer
	seen map[string]bool
}

// family starts a metric family (if not started yet).
func (m *metricsWriter) family(name, typ, help string) {
	if m.seen[name] {
		return
	}
	m.seen[name] = true
	fmt.Fprintf(&m.buf, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (m *metricsWriter) sample(name string, v float64, labels ...string) {
	m.buf.WriteString(name)
	if len(labels) > 0 {
		m.buf.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.buf.WriteByte(',')
			}
			fmt.Fprintf(&m.buf, "%s=\"%s\"", labels[i], escapeLabel(labels[i+1]))
		}
		m.buf.WriteByte('}')
	}
	m.buf.WriteByte(' ')
	m.buf.WriteString(formatValue(v))
	m.buf.WriteByte('\n')
}

// one writes a family with a single sample.
func (m *metricsWriter) one(name, typ, help string, v float64, labels ...string) {
	m.family(name, typ, help)
	m.sample(name, v, labels...)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metrics serves GET /metrics.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(s.exposition())
}

// exposition renders the node's metrics.
func (s *server) exposition() []byte {
	m := &metricsWriter{seen: map[string]bool{}}
	d := s.snapshot()
	n := d.Node
	m.one("pkhost_info", "gauge", "The node: id, pkhost version, ABI and Go versions (always 1).", 1,
		"node", n.ID, "version", n.Version, "abi", n.ABI, "go", goruntime.Version(), "engine", n.Engine)
	m.one("pkhost_uptime_seconds", "gauge", "Seconds since the node started.", n.UptimeSec)

	// The cluster as this node sees it.
	m.one("pkhost_cluster_enabled", "gauge", "1 if the node is part of a cluster, 0 if it runs alone.", b2f(d.Cluster))
	m.one("pkhost_cluster_members_alive", "gauge", "Live members (alive or suspect), this node included.", float64(d.Alive))
	states := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
	for _, mb := range d.Members {
		states[mb.State]++
	}
	m.family("pkhost_cluster_members", "gauge", "Members known to SWIM, by state.")
	for _, st := range sortedKeys(states) {
		m.sample("pkhost_cluster_members", float64(states[st]), "state", st)
	}
	m.one("pkhost_cluster_leader", "gauge", "1 if this node is the raft leader.", b2f(d.Leader != "" && d.Leader == n.ID))
	m.one("pkhost_cluster_has_leader", "gauge", "1 if this node knows a raft leader.", b2f(d.Leader != ""))
	m.one("pkhost_cluster_has_quorum", "gauge", "1 if consensus has a quorum of voters.", b2f(d.Quorum))
	m.one("pkhost_raft_term", "gauge", "The current raft term.", float64(d.Term))
	if st, ok := s.b.StatusJSON().(node.Status); ok && st.Cluster != nil {
		m.one("pkhost_raft_applied_index", "gauge", "The last raft log index applied to the manifest.", float64(st.Cluster.Consensus.Applied))
		m.one("pkhost_raft_voters", "gauge", "Voters in the raft configuration.", float64(st.Cluster.Consensus.Voters))
	}
	m.family("pkhost_degrade_level", "gauge", "The degrade level: 1 for the current one (FULL 3+ live nodes, REDUCED 2, SOLO 1).")
	for _, lv := range []string{"FULL", "REDUCED", "SOLO"} {
		m.sample("pkhost_degrade_level", b2f(d.Degrade == lv), "level", lv)
	}

	// Modules.
	byState := map[string]int{actor.StateStarting: 0, actor.StateRunning: 0, actor.StateRestarting: 0, actor.StateQuarantined: 0, actor.StateStopped: 0}
	for _, mod := range d.Modules {
		byState[mod.State]++
	}
	m.family("pkhost_modules", "gauge", "Modules on this node, by state.")
	for _, st := range sortedKeys(byState) {
		m.sample("pkhost_modules", float64(byState[st]), "state", st)
	}
	mods := s.b.Actors().Statuses()
	perModule := []struct {
		name, typ, help string
		v               func(actor.Status) float64
	}{
		{"pkhost_module_events_total", "counter", "Events handled by the module.", func(a actor.Status) float64 { return float64(a.Events) }},
		{"pkhost_module_handler_errors_total", "counter", "Events whose handler returned an error.", func(a actor.Status) float64 { return float64(a.HandlerErrors) }},
		{"pkhost_module_crashes_total", "counter", "Crashes (trap, exit, budget or memory overrun).", func(a actor.Status) float64 { return float64(a.Crashes) }},
		{"pkhost_module_restarts_total", "counter", "Restarts after a crash.", func(a actor.Status) float64 { return float64(a.Restarts) }},
		{"pkhost_module_swaps_total", "counter", "Hot swaps.", func(a actor.Status) float64 { return float64(a.Swaps) }},
		{"pkhost_module_dropped_total", "counter", "Messages dropped because the module's mailbox stayed full.", func(a actor.Status) float64 { return float64(a.Dropped) }},
		{"pkhost_module_mailbox", "gauge", "Events waiting in the module's mailbox.", func(a actor.Status) float64 { return float64(a.Mailbox) }},
		{"pkhost_module_memory_bytes", "gauge", "The module's linear memory.", func(a actor.Status) float64 { return float64(a.MemoryBytes) }},
	}
	for _, f := range perModule {
		m.family(f.name, f.typ, f.help)
		for _, a := range mods {
			m.sample(f.name, f.v(a), "module", a.Name, "version", short(a.Version))
		}
	}

	// The bus.
	m.one("pkhost_bus_topics", "gauge", "Topics on the local bus.", float64(d.Bus.Topics))
	m.one("pkhost_bus_published_total", "counter", "Messages published on the local bus.", float64(d.Bus.Published))
	m.one("pkhost_bus_delivered_total", "counter", "Message copies delivered to subscribers.", float64(d.Bus.Delivered))
	m.one("pkhost_bus_dropped_total", "counter", "Message copies dropped (a subscriber's queue stayed full).", float64(d.Bus.Dropped))

	// p-fs, as last measured.
	if fs := d.FS; fs != nil && fs.MeasuredMS > 0 && fs.Error == "" {
		m.one("pkhost_pfs_local_blocks", "gauge", "p-fs blocks stored on this node (measured at most every 10 s).", float64(fs.LocalBlocks))
		m.one("pkhost_pfs_local_bytes", "gauge", "p-fs bytes stored on this node (measured at most every 10 s).", float64(fs.LocalBytes))
		m.one("pkhost_pfs_files", "gauge", "Live p-fs names, every namespace.", float64(fs.Files))
		m.one("pkhost_pfs_versions", "gauge", "p-fs versions of every name, removals included.", float64(fs.Versions))
	}

	// The Go runtime.
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	m.one("go_goroutines", "gauge", "Goroutines that currently exist.", float64(goruntime.NumGoroutine()))
	m.one("go_memstats_heap_alloc_bytes", "gauge", "Bytes of allocated heap objects.", float64(ms.HeapAlloc))
	m.one("go_memstats_sys_bytes", "gauge", "Bytes of memory obtained from the OS.", float64(ms.Sys))
	m.one("go_memstats_gc_completed_total", "counter", "Completed GC cycles.", float64(ms.NumGC))
	m.one("go_gc_pause_seconds_total", "counter", "Total GC stop-the-world pause.", float64(ms.PauseTotalNs)/1e9)
	m.one("pkhost_guest_memory_bytes", "gauge", "Linear memory of every module together.", float64(n.GuestBytes))
	return m.buf.Bytes()
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
