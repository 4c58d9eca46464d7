//go:build wasip1

// Command degrade is the degradation policy: it follows the host's
// membership record (sys/members) and publishes the node's degrade level on
// the latest-value topic "degrade": FULL with 3 or more live nodes, REDUCED
// with 2, SOLO alone. Modules subscribe to "degrade" to trade accuracy for
// survival (the original's distributed attention falls back to local-only in
// SOLO). A level only drops at once; it rises after the larger cluster has
// held for a few seconds, so a flapping member does not flap every module.
//
// Grants: core, bus, timer, clock.
package main

import (
	"encoding/json"
	"time"

	pk "github.com/p-kernel/p-kernel/sdk/go"
)

func main() {}

// Record is what degrade publishes.
type Record struct {
	Level string `json:"level"`
	Alive int    `json:"alive"`
	Since int64  `json:"since_unix_ms"`
}

const riseAfter = 3 * time.Second

var (
	current   Record
	pendingUp string
	pendingAt time.Duration
	lastAlive int
)

func level(alive int) string {
	switch {
	case alive >= 3:
		return "FULL"
	case alive == 2:
		return "REDUCED"
	}
	return "SOLO"
}

func rank(l string) int {
	switch l {
	case "FULL":
		return 3
	case "REDUCED":
		return 2
	}
	return 1
}

func init() {
	pk.OnSnapshot(func() []byte { b, _ := json.Marshal(current); return b })
	pk.OnRestore(func(b []byte) error { return json.Unmarshal(b, &current) })
	pk.Init(func() error {
		if current.Level == "" {
			current = Record{Level: "SOLO", Alive: 1, Since: time.Now().UnixMilli()}
		}
		if err := pk.Subscribe("sys/members", members); err != nil {
			return err
		}
		_, err := pk.Every(time.Second, decide)
		return err
	})
}

func members(m pk.Message) {
	var rec struct {
		Alive int `json:"alive"`
	}
	if json.Unmarshal(m.Data, &rec) == nil && rec.Alive > 0 {
		lastAlive = rec.Alive
		decide()
	}
}

// decide applies the policy: drop at once, rise after riseAfter.
func decide() {
	if lastAlive == 0 {
		publish()
		return
	}
	want := level(lastAlive)
	switch {
	case rank(want) < rank(current.Level):
		set(want)
	case rank(want) > rank(current.Level):
		now := pk.Monotonic()
		if pendingUp != want {
			pendingUp, pendingAt = want, now
		} else if now-pendingAt >= riseAfter {
			set(want)
		}
	default:
		pendingUp = ""
		current.Alive = lastAlive
	}
	publish()
}

func set(l string) {
	current = Record{Level: l, Alive: lastAlive, Since: time.Now().UnixMilli()}
	pendingUp = ""
}

func publish() {
	b, _ := json.Marshal(current)
	pk.PublishLatest("degrade", b)
}
