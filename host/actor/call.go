package actor

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

var callIDs atomic.Uint64

// callReq is one call in flight: made by a module (or the host), queued in
// the callee's mailbox, answered once.
type callReq struct {
	id       uint64
	from     string
	chain    []string // modules blocked waiting, outermost first
	req      []byte
	deadline time.Time
	reply    chan callResult

	// Set by the callee while handling (its goroutine only).
	replied   bool
	replyData []byte

	once sync.Once
}

type callResult struct {
	data []byte
	e    abi.Errno
}

func (c *callReq) expired() bool { return time.Now().After(c.deadline) }

// finish answers the caller once; later answers are ignored.
func (c *callReq) finish(data []byte, e abi.Errno) {
	c.once.Do(func() { c.reply <- callResult{data, e} })
}

// route delivers a call to the named module and waits for the reply. from
// is the calling module ("" for the host); chain lists the modules already
// waiting further up the call chain.
func (s *System) route(from string, chain []string, target string, req []byte, timeout time.Duration) ([]byte, abi.Errno) {
	if strings.Contains(target, "@") {
		return nil, abi.ENOTSUP // remote calls arrive with the collective
	}
	s.mu.RLock()
	a := s.actors[target]
	s.mu.RUnlock()
	if a == nil {
		return nil, abi.ENOENT
	}
	if target == from || slices.Contains(chain, target) {
		return nil, abi.EDEADLK
	}
	if !a.running.Load() {
		return nil, abi.EUNAVAILABLE
	}
	c := &callReq{
		id: callIDs.Add(1), from: from, req: req,
		deadline: time.Now().Add(timeout),
		reply:    make(chan callResult, 1),
	}
	if from != "" {
		c.chain = append(slices.Clip(chain), from)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a.mailbox <- event{kind: abi.EventCall, call: c}:
	case <-t.C:
		return nil, abi.ETIMEDOUT
	case <-a.done:
		return nil, abi.ESHUTDOWN
	}
	select {
	case r := <-c.reply:
		return r.data, r.e
	case <-t.C:
		c.finish(nil, abi.ETIMEDOUT)
		return nil, abi.ETIMEDOUT
	case <-a.done:
		return nil, abi.ESHUTDOWN
	}
}
