package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/node"
)

// dashboardHTML is the whole dashboard: one page, its CSS and JS inline,
// nothing loaded from elsewhere.
//
//go:embed dashboard.html
var dashboardHTML []byte

// Dashboard is the document the dashboard draws: one snapshot of the node
// and of the cluster as this node sees it (GET /v1/dashboard, and every
// event of GET /v1/events).
type Dashboard struct {
	TimeMS  int64         `json:"time_ms"`
	Node    node.NodeInfo `json:"node"`
	Cluster bool          `json:"cluster"` // false: the node runs alone (--listen off)
	Alive   int           `json:"alive"`   // live members (alive or suspect); 1 alone
	Leader  string        `json:"leader"`
	Term    uint64        `json:"term"`
	Quorum  bool          `json:"has_quorum"`
	// Degrade is the level the degrade policy (module) set; DegradeMembers
	// is the one the live members call for (the policy rises only after
	// a few stable seconds).
	Degrade        string       `json:"degrade"`
	DegradeMembers string       `json:"degrade_members"`
	Members        []DashMember `json:"members"`
	// Modules is this node's module table.
	Modules []DashModule      `json:"modules"`
	Topics  []bus.TopicStatus `json:"topics"`
	Bus     bus.Totals        `json:"bus"`
	FS      *FSUsage          `json:"fs,omitempty"`
}

// DashMember is one member of the cluster with the modules it runs: for
// this node its module table (Source "local"); for the others what the
// cluster manifest places there (Source "manifest": cluster-deployed
// modules only, not the first-party ones embedded in their pkhost).
type DashMember struct {
	ID      string       `json:"id"`
	Address string       `json:"address"`
	State   string       `json:"state"` // alive, suspect, dead, left
	Version string       `json:"version"`
	Role    string       `json:"role"` // leader, voter, non-voter or ""
	Self    bool         `json:"self"`
	Source  string       `json:"modules_source"`
	Modules []DashModule `json:"modules"`
}

// DashModule is a module on a node.
type DashModule struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	State    string `json:"state"` // an actor state, or a manifest phase for other nodes
	Events   uint64 `json:"events,omitempty"`
	Crashes  uint64 `json:"crashes,omitempty"`
	Restarts uint64 `json:"restarts,omitempty"`
}

// FSUsage is p-fs usage as last measured (walking every node's block store
// is not free, so it is measured at most every fsEvery, in the background).
type FSUsage struct {
	Nodes       map[string]FSNodeUsage `json:"nodes"`
	LocalBlocks int64                  `json:"local_blocks"`
	LocalBytes  int64                  `json:"local_bytes"`
	Namespaces  int                    `json:"namespaces"`
	Files       int                    `json:"files"`
	Versions    int                    `json:"versions"`
	MeasuredMS  int64                  `json:"measured_ms"` // when; 0: not yet
	Error       string                 `json:"error,omitempty"`
}

// fsEvery is how often p-fs usage is measured at most.
const fsEvery = 10 * time.Second

// fsCache measures p-fs usage in the background and keeps the last result.
type fsCache struct {
	mu      sync.Mutex
	last    *FSUsage
	alive   int // live members when last measured
	running bool
}

// get returns the last measurement (nil before the first) and starts a new
// one if it is older than fsEvery, or older than a second and taken with
// another number of live members.
func (c *fsCache) get(b Backend, alive int) *FSUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		age := time.Duration(0)
		if c.last != nil {
			age = time.Since(time.UnixMilli(c.last.MeasuredMS))
		}
		if c.last == nil || age > fsEvery || (c.alive != alive && age > time.Second) {
			c.running, c.alive = true, alive
			go func() {
				u := measureFS(b)
				c.mu.Lock()
				c.last, c.running = u, false
				c.mu.Unlock()
			}()
		}
	}
	return c.last
}

func measureFS(b Backend) *FSUsage {
	out := &FSUsage{Nodes: map[string]FSNodeUsage{}}
	defer func() { out.MeasuredMS = time.Now().UnixMilli() }()
	p, err := b.FS()
	if err != nil {
		out.Error = err.Error()
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := p.Volume().Stat(ctx)
	if err != nil {
		out.Error = err.Error()
	}
	for id, nu := range u.Nodes {
		out.Nodes[id] = FSNodeUsage{nu.Blocks, nu.Bytes}
	}
	for id, e := range u.NodeErrors {
		out.Error = fmt.Sprintf("%s: %v", id, e)
	}
	if nu, ok := u.Nodes[b.ID()]; ok {
		out.LocalBlocks, out.LocalBytes = nu.Blocks, nu.Bytes
	}
	out.Namespaces, out.Files, out.Versions = u.Namespaces, u.Files, u.Versions
	return out
}

// snapshot builds the dashboard document.
func (s *server) snapshot() Dashboard {
	st, _ := s.b.StatusJSON().(node.Status)
	if st.Node.ID == "" { // a backend without the node's status document
		st = node.Status{Node: node.NodeInfo{ID: s.b.ID()}, Modules: s.b.Actors().Statuses(),
			Topics: s.b.Bus().Topics(), Bus: s.b.Bus().Totals(), Degrade: "SOLO"}
	}
	d := Dashboard{TimeMS: time.Now().UnixMilli(), Node: st.Node, Alive: 1, Degrade: st.Degrade, DegradeMembers: node.Level(1),
		Modules: localModules(st.Modules), Topics: st.Topics, Bus: st.Bus, Members: []DashMember{}}
	if d.Topics == nil {
		d.Topics = []bus.TopicStatus{}
	}
	self := DashMember{ID: st.Node.ID, State: "alive", Version: st.Node.Version, Self: true, Source: "local", Modules: d.Modules}
	ci := st.Cluster
	if ci == nil {
		d.Members = append(d.Members, self)
		return d
	}
	d.Cluster, d.Alive, d.Leader, d.Term, d.Quorum = true, ci.Alive, ci.Leader, ci.Consensus.Term, ci.Consensus.HasQuorum
	d.DegradeMembers = node.Level(ci.Alive)
	role := map[string]string{}
	for _, sv := range ci.Consensus.Servers {
		role[sv.ID] = "non-voter"
		if sv.Voter {
			role[sv.ID] = "voter"
		}
	}
	if ci.Leader != "" {
		role[ci.Leader] = "leader"
	}
	placed := placedModules(s.b.ClusterManifest(), ci)
	for _, m := range ci.Members {
		dm := DashMember{ID: m.ID, Address: m.Address, State: m.State, Version: m.Meta.Version, Role: role[m.ID],
			Source: "manifest", Modules: placed[m.ID]}
		if m.ID == st.Node.ID {
			dm.Self, dm.Source, dm.Modules = true, "local", d.Modules
		}
		if dm.Modules == nil {
			dm.Modules = []DashModule{}
		}
		d.Members = append(d.Members, dm)
	}
	if !slices.ContainsFunc(d.Members, func(m DashMember) bool { return m.Self }) {
		d.Members = append(d.Members, self)
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].ID < d.Members[j].ID })
	d.FS = s.fsUsage.get(s.b, d.Alive)
	return d
}

func localModules(ms []actor.Status) []DashModule {
	out := make([]DashModule, 0, len(ms))
	for _, m := range ms {
		out = append(out, DashModule{Name: m.Name, Version: m.Version, State: m.State, Events: m.Events,
			Crashes: m.Crashes, Restarts: m.Restarts})
	}
	return out
}

// placedModules says which cluster-deployed module versions the manifest
// places on each member: placement "all" on every member, "guarded" on its
// chosen nodes; during a canary the canary nodes run the new version and
// the others the previous active one.
func placedModules(st *manifest.State, ci *node.ClusterStatus) map[string][]DashModule {
	out := map[string][]DashModule{}
	if st == nil {
		return out
	}
	for _, name := range st.Names() {
		m := st.Modules[name]
		if m.Removed {
			continue
		}
		var nodes []string
		if m.Placement.Mode == "guarded" {
			nodes = m.Placement.Nodes
		} else {
			for _, mb := range ci.Members {
				nodes = append(nodes, mb.ID)
			}
		}
		prev := ""
		for i := len(m.History) - 1; i >= 0 && m.Phase == manifest.PhaseCanary; i-- {
			if h := m.History[i]; h.Version != m.Version && h.Phase == manifest.PhaseActive {
				prev = h.Version
				break
			}
		}
		for _, id := range nodes {
			dm := DashModule{Name: name, Version: m.Version, State: m.Phase}
			if m.Phase == manifest.PhaseCanary && !slices.Contains(m.Canary, id) {
				if prev == "" {
					continue
				}
				dm.Version, dm.State = prev, manifest.PhaseActive
			}
			out[id] = append(out[id], dm)
		}
	}
	return out
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/dashboard" {
		fail(w, fmt.Errorf("%s: %w", r.URL.Path, abi.ENOENT))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing from elsewhere: no scripts, styles, images, fonts or
	// connections but this origin's (and the inline ones of the page).
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "+
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(dashboardHTML)
}

func (s *server) dashboardJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.snapshot())
}

// eventEvery is how often the event stream sends a snapshot when nothing
// changed.
const eventEvery = time.Second

// events streams dashboard snapshots as server-sent events: one at once,
// one at every membership change (sys/members) and one every eventEvery.
// It ends when the client leaves or the server shuts down.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(w, fmt.Errorf("streaming unsupported: %w", abi.EINVAL))
		return
	}
	ctx := r.Context()
	wake := make(chan struct{}, 1)
	in := bus.NewInbox(16)
	if s.b.Bus().Subscribe(in, "sys/members", false) == abi.OK {
		defer s.b.Bus().Remove(in)
		go func() {
			for {
				if _, err := in.Next(ctx); err != nil {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	fmt.Fprint(w, "retry: 1000\n\n")
	t := time.NewTicker(eventEvery)
	defer t.Stop()
	for {
		b, _ := json.Marshal(s.snapshot())
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}
