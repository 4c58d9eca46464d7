package bus

import (
	"context"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

// Inbox is a [Subscriber] for host-side readers (the control API's
// `topic sub`, tests): a bounded queue for queue topics plus a set of latest
// topics with unread values, read in arrival order by Next.
type Inbox struct {
	ch      chan Message
	mu      sync.Mutex
	pending []*Topic
	retain  map[*Topic]bool
	seen    map[*Topic]uint64
	wake    chan struct{}
}

// NewInbox returns an inbox whose queue holds n messages.
func NewInbox(n int) *Inbox {
	return &Inbox{ch: make(chan Message, n), retain: map[*Topic]bool{}, seen: map[*Topic]uint64{}, wake: make(chan struct{}, 1)}
}

// Enqueue implements [Subscriber].
func (in *Inbox) Enqueue(m Message, wait time.Duration) bool {
	select {
	case in.ch <- m:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case in.ch <- m:
		return true
	case <-t.C:
		return false
	}
}

// Notify implements [Subscriber].
func (in *Inbox) Notify(t *Topic, retained bool) {
	in.mu.Lock()
	if _, queued := in.retain[t]; !queued {
		in.pending = append(in.pending, t)
		in.retain[t] = retained
	} else if retained {
		in.retain[t] = true
	}
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *Inbox) takeLatest() (Message, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for len(in.pending) > 0 {
		t := in.pending[0]
		in.pending = in.pending[1:]
		retained := in.retain[t]
		delete(in.retain, t)
		v, seq, ok := t.Value()
		if !ok || seq <= in.seen[t] {
			continue // already delivered this value
		}
		in.seen[t] = seq
		flags := uint32(abi.MsgLatest)
		if retained {
			flags |= abi.MsgRetained
		}
		return Message{Topic: t.Name, Seq: seq, Flags: flags, Data: v}, true
	}
	return Message{}, false
}

// Next returns the next message, waiting until one arrives or ctx ends.
func (in *Inbox) Next(ctx context.Context) (Message, error) {
	for {
		if m, ok := in.takeLatest(); ok {
			return m, nil
		}
		select {
		case m := <-in.ch:
			return m, nil
		case <-in.wake:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Len is the number of queued queue-topic messages.
func (in *Inbox) Len() int { return len(in.ch) }
