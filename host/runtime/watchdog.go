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
	now   atomic.Int64 // unix nanoseconds at the last tick
	mu    sync.Mutex
	insts map[*Instance]struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

func startWatchdog() *watchdog {
	w := &watchdog{insts: map[*Instance]struct{}{}, done: make(chan struct{})}
	w.now.Store(time.Now().UnixNano())
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
			// Deadlines were set from a clock up to one tick old: check
			// against the time a tick ago, so none fires early.
			w.now.Store(now.UnixNano())
			batch = batch[:0]
			w.mu.Lock()
			for in := range w.insts {
				batch = append(batch, in)
			}
			w.mu.Unlock()
			n := now.Add(-watchdogTick).UnixNano()
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

// begin arms the deadline of a call. It reads the watchdog's coarse clock
// (refreshed every tick) rather than time.Now, which costs more than the
// call it guards on some machines (~40 ns here against a 14 ns wasm call);
// a deadline is therefore exact to one tick, as the interrupt already is.
func (in *Instance) begin(budget time.Duration) {
	in.dl.v.Store(in.Module.r.wd.now.Load() + int64(budget))
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
