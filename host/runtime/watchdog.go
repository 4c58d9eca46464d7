package runtime

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdogTick is how often running instances are checked: a runaway handler
// is interrupted at most this long after its budget runs out.
const watchdogTick = 5 * time.Millisecond

// watchdog interrupts guests that overrun their per-call budget. The guard
// (host/internal/guard) makes every loop head and function entry test an
// exported global; raising it makes the guest trap at its next check. The
// per-call cost on the hot path is one clock read and two atomic operations;
// the scanning happens here, off the hot path. See RATIONALE.md § Runaway
// guests.
type watchdog struct {
	mu    sync.Mutex
	insts map[*Instance]struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

func startWatchdog() *watchdog {
	w := &watchdog{insts: map[*Instance]struct{}{}, done: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *watchdog) add(in *Instance) {
	w.mu.Lock()
	w.insts[in] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(in *Instance) {
	w.mu.Lock()
	delete(w.insts, in)
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	close(w.done)
	w.wg.Wait()
}

func (w *watchdog) run() {
	defer w.wg.Done()
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	var batch []*Instance
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			batch = batch[:0]
			w.mu.Lock()
			for in := range w.insts {
				batch = append(batch, in)
			}
			w.mu.Unlock()
			n := now.UnixNano()
			for _, in := range batch {
				in.checkDeadline(n)
			}
		}
	}
}

// tripped is the deadline value of an instance the watchdog interrupted.
const tripped = -1

// deadline state of one instance: 0 idle, >0 the unix-nano deadline of the
// running call, tripped after an interrupt.
type deadline struct{ v atomic.Int64 }

func (in *Instance) begin(budget time.Duration) {
	in.dl.v.Store(time.Now().Add(budget).UnixNano())
}

// end reports whether the call that just returned was interrupted.
func (in *Instance) end() bool { return in.dl.v.Swap(0) == tripped }

func (in *Instance) checkDeadline(now int64) {
	d := in.dl.v.Load()
	if d > 0 && now > d && in.dl.v.CompareAndSwap(d, tripped) {
		in.Interrupt()
	}
}

// Remaining is the time left in the current call's budget (0 if none is
// running or it is spent). Safe from the instance's goroutine only.
func (in *Instance) Remaining() time.Duration {
	d := in.dl.v.Load()
	if d <= 0 {
		return 0
	}
	return max(time.Until(time.Unix(0, d)), 0)
}
