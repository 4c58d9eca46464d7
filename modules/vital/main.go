//go:build wasip1

// Command vital is the vital-signs layer: every second it publishes
// vital/<node> (a latest-value topic) with the node's uptime, its modules and
// their states, memory, events handled per second and restarts. Neighbours
// (and people, with `pkhost topic sub vital/ --prefix`) feel the node is
// alive each time a value arrives.
//
// Grants: core, log, clock, bus, timer, node.
package main

import (
	"encoding/json"
	"time"

	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

// Vital is the record published on vital/<node>.
type Vital struct {
	Node         string   `json:"node"`
	Seq          uint64   `json:"seq"`
	UptimeSec    float64  `json:"uptime_s"`
	Modules      []Module `json:"modules"`
	HeapBytes    uint64   `json:"heap_bytes"`
	GuestBytes   uint64   `json:"guest_bytes"`
	EventsPerSec float64  `json:"events_per_s"`
	Restarts     uint64   `json:"restarts"`
	Crashes      uint64   `json:"crashes"`
	Dropped      uint64   `json:"dropped"`
}

// Module is one module's line in a vital record.
type Module struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts uint64 `json:"restarts"`
}

// status is the part of node_status that vital reads.
type status struct {
	Node struct {
		ID         string  `json:"id"`
		UptimeSec  float64 `json:"uptime_s"`
		HeapBytes  uint64  `json:"heap_bytes"`
		GuestBytes uint64  `json:"guest_bytes"`
	} `json:"node"`
	Modules []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Events   uint64 `json:"events"`
		Restarts uint64 `json:"restarts"`
		Crashes  uint64 `json:"crashes"`
		Dropped  uint64 `json:"dropped"`
	} `json:"modules"`
}

var (
	seq        uint64
	lastEvents uint64
	lastAt     time.Duration
)

func init() {
	pk.OnSnapshot(func() []byte { b, _ := json.Marshal(seq); return b })
	pk.OnRestore(func(b []byte) error { return json.Unmarshal(b, &seq) })
	pk.Init(func() error {
		_, err := pk.Every(time.Second, beat)
		return err
	})
}

func beat() {
	raw, err := pk.NodeStatus()
	if err != nil {
		pk.Warn("node_status failed", "err", err.Error())
		return
	}
	var st status
	if err := json.Unmarshal(raw, &st); err != nil {
		pk.Warn("bad node_status", "err", err.Error())
		return
	}
	seq++
	v := Vital{Node: st.Node.ID, Seq: seq, UptimeSec: st.Node.UptimeSec, HeapBytes: st.Node.HeapBytes, GuestBytes: st.Node.GuestBytes}
	var events uint64
	for _, m := range st.Modules {
		v.Modules = append(v.Modules, Module{m.Name, m.State, m.Restarts})
		events += m.Events
		v.Restarts += m.Restarts
		v.Crashes += m.Crashes
		v.Dropped += m.Dropped
	}
	now := pk.Monotonic()
	if lastAt > 0 && now > lastAt && events >= lastEvents {
		v.EventsPerSec = float64(events-lastEvents) / (now - lastAt).Seconds()
	}
	lastEvents, lastAt = events, now
	b, _ := json.Marshal(v)
	if err := pk.PublishLatest("vital/"+st.Node.ID, b); err != nil {
		pk.Warn("publish failed", "err", err.Error())
	}
}
