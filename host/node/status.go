package node

import (
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/p-kernel/p-kernel/host/runtime"
)

// Status is the document behind `pkhost status --json` and node_status.
type Status struct {
	Node NodeInfo `json:"node"`
	// Leader, Members and Degrade summarise the cluster (empty when the
	// node runs alone); Cluster has the details.
	Leader  string            `json:"leader"`
	Members []member.Member   `json:"members"`
	Degrade string            `json:"degrade"`
	Cluster *ClusterStatus    `json:"cluster,omitempty"`
	Modules []actor.Status    `json:"modules"`
	Topics  []bus.TopicStatus `json:"topics"`
	Bus     bus.Totals        `json:"bus"`
	// Power is the power state and the charging policy (power.go).
	Power PowerStatus `json:"power"`
}

// NodeInfo describes the node itself.
type NodeInfo struct {
	ID         string  `json:"id"`
	Version    string  `json:"version"`
	ABI        string  `json:"abi"`
	DataDir    string  `json:"data_dir"`
	UptimeSec  float64 `json:"uptime_s"`
	Engine     string  `json:"engine"`
	Go         string  `json:"go"`
	Platform   string  `json:"platform"`
	HeapBytes  uint64  `json:"heap_bytes"`
	SysBytes   uint64  `json:"sys_bytes"`
	GuestBytes uint64  `json:"guest_bytes"`
	Goroutines int     `json:"goroutines"`
}

// Status reports the node, its modules and topics.
func (n *Node) Status() Status {
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	mods := n.sys.Statuses()
	var guest uint64
	for _, m := range mods {
		guest += m.MemoryBytes
	}
	engine := runtime.Engine(n.cfg.Interpreter)
	st := Status{
		Node: NodeInfo{
			ID: n.id, Version: Version, ABI: fmt.Sprintf("%d.%d", abi.Major, abi.Minor), DataDir: n.cfg.DataDir,
			UptimeSec: time.Since(n.start).Seconds(), Engine: engine, Go: goruntime.Version(),
			Platform: goruntime.GOOS + "/" + goruntime.GOARCH, HeapBytes: ms.HeapAlloc, SysBytes: ms.Sys,
			GuestBytes: guest, Goroutines: goruntime.NumGoroutine(),
		},
		Modules: mods,
		Topics:  n.bus.Topics(),
		Bus:     n.bus.Totals(),
		Members: []member.Member{},
		Degrade: "SOLO",
		Power:   n.Power(),
	}
	if ci := n.ClusterInfo(); ci != nil {
		st.Cluster, st.Leader, st.Members, st.Degrade = ci, ci.Leader, ci.Members, ci.Degrade
	}
	// The degrade module's policy decides the level when it runs.
	if v, _, e := n.bus.Get("degrade"); e == 0 {
		var rec struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(v, &rec) == nil && rec.Level != "" {
			st.Degrade = rec.Level
			if st.Cluster != nil {
				st.Cluster.Degrade = rec.Level
			}
		}
	}
	return st
}
