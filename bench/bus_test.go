package bench

// 3. Local bus publish→deliver, against a buffered Go channel of the same
// shape:
//
//   - Bus: bus.Publish to a queue topic, one bus.Inbox (1024) drained by a
//     consumer goroutine; baseline: a chan bus.Message (1024) drained the
//     same way.
//   - Actor: bus.Publish to poly/wat/in, delivered into the WAT polyglot
//     actor (mailbox 1024), which republishes on poly/wat/out, drained from
//     an Inbox; baseline: producer → chan → forwarding goroutine → chan →
//     consumer. What is timed is the whole trip, the guest's own publish
//     included.
//
// Throughput: a producer publishing flat out in b.Loop (publishers wait on
// a full queue, so nothing is dropped), msgs/s from the first send to the
// last receive. Latency: ping-pong, one message in flight, one-way time from
// before the publish to the consumer's receive (including the consumer's
// wake-up), p50/p99.

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
)

const queueLen = 1024

var busPayload = []byte("hello")

// flow is one producer/consumer pipeline.
type flow struct {
	send func()                      // publish one message (producer goroutine)
	recv func(context.Context) error // wait for one message (consumer goroutine)
	stop func()                      // release everything
}

func busFlow(tb testing.TB) *flow {
	b := bus.New()
	in := bus.NewInbox(queueLen)
	if e := b.Subscribe(in, "bench/q", false); e != abi.OK {
		tb.Fatal(e)
	}
	return &flow{
		send: func() {
			if _, e := b.Publish(nil, "bench/q", busPayload, abi.KindAny, time.Second); e != abi.OK {
				panic(e)
			}
		},
		recv: func(ctx context.Context) error { _, err := in.Next(ctx); return err },
		stop: func() {},
	}
}

func chanFlow(tb testing.TB) *flow {
	ch := make(chan bus.Message, queueLen)
	seq := uint64(0)
	return &flow{
		send: func() {
			seq++
			ch <- bus.Message{Topic: "bench/q", Seq: seq, Data: busPayload}
		},
		recv: func(ctx context.Context) error {
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		stop: func() {},
	}
}

// actorFlow runs the WAT polyglot guest as an actor on a fresh node.
func actorFlow(tb testing.TB, wasm []byte, name, in, out string) *flow {
	n := newNode(tb)
	outbox := bus.NewInbox(queueLen)
	n.bus.Subscribe(outbox, out, false)
	if _, err := n.sys.Load(context.Background(), actor.Manifest{Name: name, Mailbox: queueLen}, wasm, nil); err != nil {
		tb.Fatal(err)
	}
	return &flow{
		send: func() {
			if _, e := n.bus.Publish(nil, in, busPayload, abi.KindAny, time.Second); e != abi.OK {
				panic(e)
			}
		},
		recv: func(ctx context.Context) error { _, err := outbox.Next(ctx); return err },
		stop: func() {},
	}
}

// chan2Flow is actorFlow's baseline: two buffered channels and a
// forwarding goroutine in between.
func chan2Flow(tb testing.TB) *flow {
	in, out := make(chan bus.Message, queueLen), make(chan bus.Message, queueLen)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-in:
				out <- m
			case <-done:
				return
			}
		}
	}()
	seq := uint64(0)
	return &flow{
		send: func() {
			seq++
			in <- bus.Message{Topic: "bench/in", Seq: seq, Data: busPayload}
		},
		recv: func(ctx context.Context) error {
			select {
			case <-out:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		stop: func() { close(done) },
	}
}

// throughput publishes flat out in b.Loop while a goroutine consumes, and
// reports msgs/s from the first send to the last receive.
func throughput(b *testing.B, f *flow) {
	defer f.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Int64
	go func() {
		for f.recv(ctx) == nil {
			got.Add(1)
		}
	}()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		f.send()
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", got.Load(), b.N)
		}
		runtime.Gosched()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// latency sends one message at a time and reports the one-way delivery
// time percentiles.
func latency(b *testing.B, f *flow) {
	defer f.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sentAt atomic.Int64
	base := time.Now()
	ack := make(chan time.Duration, 1)
	go func() {
		for f.recv(ctx) == nil {
			ack <- time.Since(base) - time.Duration(sentAt.Load())
		}
	}()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		sentAt.Store(int64(time.Since(base)))
		f.send()
		lat = append(lat, <-ack)
	}
	reportLatency(b, lat)
}

func TestBus(t *testing.T) {
	for name, mk := range map[string]func(testing.TB) *flow{
		"bus": busFlow, "chan": chanFlow, "chan2": chan2Flow,
		"wat": func(tb testing.TB) *flow { return actorFlow(tb, watGuest(tb), "wat", "poly/wat/in", "poly/wat/out") },
		"go":  func(tb testing.TB) *flow { return actorFlow(tb, goGuest(tb, "v1"), "echo", "echo/in", "echo/out") },
	} {
		f := mk(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for range 3 {
			f.send()
		}
		for i := range 3 {
			if err := f.recv(ctx); err != nil {
				t.Fatalf("%s: message %d: %v", name, i, err)
			}
		}
		cancel()
		f.stop()
	}
}

func BenchmarkBusThroughput(b *testing.B) {
	b.Run("impl=bus", func(b *testing.B) { throughput(b, busFlow(b)) })
	b.Run("impl=chan", func(b *testing.B) { throughput(b, chanFlow(b)) })
}

func BenchmarkBusLatency(b *testing.B) {
	b.Run("impl=bus", func(b *testing.B) { latency(b, busFlow(b)) })
	b.Run("impl=chan", func(b *testing.B) { latency(b, chanFlow(b)) })
}

func BenchmarkActorThroughput(b *testing.B) {
	b.Run("impl=wat", func(b *testing.B) {
		throughput(b, actorFlow(b, watGuest(b), "wat", "poly/wat/in", "poly/wat/out"))
	})
	b.Run("impl=go", func(b *testing.B) {
		throughput(b, actorFlow(b, goGuest(b, "v1"), "echo", "echo/in", "echo/out"))
	})
	b.Run("impl=chan2", func(b *testing.B) { throughput(b, chan2Flow(b)) })
}

func BenchmarkActorLatency(b *testing.B) {
	b.Run("impl=wat", func(b *testing.B) {
		latency(b, actorFlow(b, watGuest(b), "wat", "poly/wat/in", "poly/wat/out"))
	})
	b.Run("impl=go", func(b *testing.B) {
		latency(b, actorFlow(b, goGuest(b, "v1"), "echo", "echo/in", "echo/out"))
	})
	b.Run("impl=chan2", func(b *testing.B) { latency(b, chan2Flow(b)) })
}
