package actor

import (
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
)

// Status is one module's row in `pkhost status`.
type Status struct {
	Name          string             `json:"name"`
	Version       string             `json:"version"` // BLAKE3 hash of the module bytes
	State         string             `json:"state"`
	Generation    uint64             `json:"generation"`
	Grants        []abi.Group        `json:"grants"`
	MemoryBytes   uint64             `json:"memory_bytes"`
	MemoryLimit   uint64             `json:"memory_limit"`
	Events        uint64             `json:"events"`
	HandlerErrors uint64             `json:"handler_errors"`
	Crashes       uint64             `json:"crashes"`
	Restarts      uint64             `json:"restarts"`
	Swaps         uint64             `json:"swaps"`
	LastSwapPause float64            `json:"last_swap_pause_ms"`
	Mailbox       int                `json:"mailbox"`
	MailboxCap    int                `json:"mailbox_cap"`
	Dropped       uint64             `json:"dropped"`
	Subscriptions []bus.Subscription `json:"subscriptions"`
	UptimeSec     float64            `json:"uptime_s"`
	LastError     string             `json:"last_error,omitempty"`
}

// Status reports the actor's state and counters.
func (a *Actor) Status() Status {
	a.mu.Lock()
	st := Status{
		Name: a.name, Version: a.version, State: a.state, Generation: a.gen, Grants: a.grants,
		MemoryLimit: a.memLimit, LastSwapPause: float64(a.lastPause) / float64(time.Millisecond),
		LastError: a.lastErr,
	}
	if a.state == StateRunning {
		st.UptimeSec = time.Since(a.startedAt).Seconds()
	}
	a.mu.Unlock()
	st.MemoryBytes = a.memBytes.Load()
	st.Events, st.HandlerErrors = a.events.Load(), a.herrs.Load()
	st.Crashes, st.Restarts, st.Swaps = a.crashes.Load(), a.restarts.Load(), a.swaps.Load()
	st.Mailbox, st.MailboxCap = len(a.mailbox), cap(a.mailbox)
	st.Dropped = a.sys.cfg.Bus.Dropped(a)
	st.Subscriptions = a.sys.cfg.Bus.Subscriptions(a)
	if st.Subscriptions == nil {
		st.Subscriptions = []bus.Subscription{}
	}
	return st
}

// Logs returns the module's recent log lines, oldest first.
func (a *Actor) Logs() []LogLine { return a.logs.snapshot() }
