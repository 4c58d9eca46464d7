package bench

// 4. Hot-swap pause under load. A publisher publishes to the actor's input
// topic, either flat out (load=flat: the mailbox stays full, the publisher
// waits, nothing is dropped) or at a steady 20 000 msgs/s (load=paced),
// and a subscriber drains the actor's output topic, while the benchmark
// swaps the actor back and forth between two functionally identical builds:
//
//   - tiny: the WAT polyglot fixture and the same bytes plus a custom section
//     (a different hash, so a real swap rather than a shared compilation);
//   - go: tests/guests/echo built with main.tag v1 and v2.
//
// Reported: SwapResult.Pause p50/p99 (events not served), and the largest
// gap between two deliveries the subscriber saw during each swap call
// (compile and pk_init of the new version included, as they compete for the
// CPU). After each swap the benchmark idles, untimed, for as long as the
// swap took, and the largest gap in that window is the baseline
// (idlegap): what the same load shows with no swap.

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
)

// gapFloor: gaps shorter than this are not recorded (a window without a
// recorded gap reports gapFloor).
const gapFloor = 20 * time.Microsecond

type swapCase struct {
	name, actor, in, out string // the echo guest's topics are <actor>/in and <actor>/out
	versions             [2][]byte
}

func swapCases(tb testing.TB) []swapCase {
	wat := watGuest(tb)
	return []swapCase{
		{"tiny", "wat", "poly/wat/in", "poly/wat/out", [2][]byte{wat, withCustom(wat, "b")}},
		{"go", "echo", "echo/in", "echo/out", [2][]byte{goGuest(tb, "v1"), goGuest(tb, "v2")}},
	}
}

// gap is a silence on the output topic: no delivery in (end-d, end].
type gap struct{ end, d time.Duration }

// loadRig is an actor under load with a subscriber recording gaps.
type loadRig struct {
	n      *node
	base   time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	gaps   []gap
	got    int
}

// pacedPeriod is the publisher's period with load=paced.
const pacedPeriod = 50 * time.Microsecond

// startRig loads c's first version and starts the publisher (flat out when
// period is 0) and the subscriber.
func startRig(tb testing.TB, c swapCase, period time.Duration) *loadRig {
	r := &loadRig{n: newNode(tb), base: time.Now()}
	out := bus.NewInbox(queueLen)
	r.n.bus.Subscribe(out, c.out, false)
	if _, err := r.n.sys.Load(context.Background(), actor.Manifest{Name: c.actor, Mailbox: queueLen}, c.versions[0], nil); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go func() { // publisher
		defer r.wg.Done()
		next := time.Now()
		for ctx.Err() == nil {
			if period > 0 {
				next = next.Add(period)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
			r.n.bus.Publish(nil, c.in, busPayload, abi.KindAny, 100*time.Millisecond)
		}
	}()
	go func() { // subscriber
		defer r.wg.Done()
		last := time.Duration(-1)
		for {
			if _, err := out.Next(ctx); err != nil {
				return
			}
			now := time.Since(r.base)
			r.mu.Lock()
			r.got++
			if last >= 0 && now-last >= gapFloor {
				r.gaps = append(r.gaps, gap{now, now - last})
			}
			r.mu.Unlock()
			last = now
		}
	}()
	tb.Cleanup(r.stop)
	return r
}

func (r *loadRig) stop() {
	r.cancel()
	r.wg.Wait()
}

func (r *loadRig) now() time.Duration { return time.Since(r.base) }

func (r *loadRig) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// maxGap is the longest silence overlapping [from, to]; with fresh, only
// silences that began at or after from count (so that a silence spanning
// the end of a swap is not also charged to the idle window after it).
func (r *loadRig) maxGap(from, to time.Duration, fresh bool) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := gapFloor
	for _, g := range r.gaps {
		if fresh && g.end-g.d < from {
			continue
		}
		if g.end >= from && g.end-g.d <= to {
			m = max(m, g.d)
		}
	}
	return m
}

// waitFlowing waits until the subscriber has seen n more messages.
func (r *loadRig) waitFlowing(tb testing.TB, n int) {
	want := r.delivered() + n
	deadline := time.Now().Add(10 * time.Second)
	for r.delivered() < want {
		if time.Now().After(deadline) {
			tb.Fatalf("messages stopped flowing (%d delivered)", r.delivered())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSwap(t *testing.T) {
	ctx := context.Background()
	for _, c := range swapCases(t) {
		t.Run(c.name, func(t *testing.T) {
			n := newNode(t)
			out := bus.NewInbox(16)
			n.bus.Subscribe(out, c.out, false)
			if _, err := n.sys.Load(ctx, actor.Manifest{Name: c.actor}, c.versions[0], nil); err != nil {
				t.Fatal(err)
			}
			n.bus.Publish(nil, c.in, busPayload, abi.KindAny, time.Second)
			m1 := recvWithin(t, out, 5*time.Second)
			res, err := n.sys.Swap(ctx, actor.Manifest{Name: c.actor}, c.versions[1])
			if err != nil {
				t.Fatal(err)
			}
			if res.From == res.To || res.Pause <= 0 || res.StateBytes == 0 {
				t.Fatalf("swap result %+v", res)
			}
			n.bus.Publish(nil, c.in, busPayload, abi.KindAny, time.Second)
			m2 := recvWithin(t, out, 5*time.Second)
			if c.name == "tiny" {
				// The counter in the output survives the swap.
				if string(m1.Data) != "wat:hello:1" || string(m2.Data) != "wat:hello:2" {
					t.Fatalf("outputs %q, %q", m1.Data, m2.Data)
				}
			} else if reply, err := n.sys.Call(ctx, c.actor, []byte("count"), 0); err != nil || string(reply) != "2" {
				t.Fatalf("count after swap = %q, %v", reply, err)
			}
			t.Logf("%s: pause %v, state %d bytes", c.name, res.Pause, res.StateBytes)
		})
	}
	// The rig itself: one swap under load.
	c := swapCases(t)[0]
	r := startRig(t, c, 0)
	r.waitFlowing(t, 100)
	if _, err := r.n.sys.Swap(ctx, actor.Manifest{Name: c.actor}, c.versions[1]); err != nil {
		t.Fatal(err)
	}
	r.waitFlowing(t, 100)
}

func BenchmarkSwap(b *testing.B) {
	for _, c := range swapCases(b) {
		for _, load := range []struct {
			name   string
			period time.Duration
		}{{"flat", 0}, {"paced", pacedPeriod}} {
			b.Run("mod="+c.name+"/load="+load.name, func(b *testing.B) { benchSwap(b, c, load.period) })
		}
	}
}

func benchSwap(b *testing.B, c swapCase, period time.Duration) {
	ctx := context.Background()
	r := startRig(b, c, period)
	r.waitFlowing(b, 1000)
	var pauses []time.Duration
	var windows [][3]time.Duration // swap start, swap end, idle end
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		t0 := r.now()
		res, err := r.n.sys.Swap(ctx, actor.Manifest{Name: c.actor, Mailbox: queueLen}, c.versions[i%2])
		if err != nil {
			b.Fatal(err)
		}
		t1 := r.now()
		pauses = append(pauses, res.Pause)
		b.StopTimer()
		time.Sleep(t1 - t0)
		windows = append(windows, [3]time.Duration{t0, t1, r.now()})
		b.StartTimer()
	}
	time.Sleep(10 * time.Millisecond) // let the last silence end and be recorded
	var gaps, idle []time.Duration
	for _, w := range windows {
		gaps = append(gaps, r.maxGap(w[0], w[1], false))
		idle = append(idle, r.maxGap(w[1], w[2], true))
	}
	if got := r.delivered(); got < 1000 {
		b.Fatalf("only %d messages delivered", got)
	}
	for _, s := range []struct {
		name string
		ds   []time.Duration
	}{{"pause", pauses}, {"gap", gaps}, {"idlegap", idle}} {
		slices.Sort(s.ds)
		b.ReportMetric(float64(pct(s.ds, 0.50).Nanoseconds()), s.name+"-p50-ns")
		b.ReportMetric(float64(pct(s.ds, 0.99).Nanoseconds()), s.name+"-p99-ns")
	}
	b.ReportMetric(float64(len(pauses)), "swaps")
}
