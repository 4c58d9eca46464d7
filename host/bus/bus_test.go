package bus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

func next(t *testing.T, in *Inbox) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	m, err := in.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return m
}

func empty(t *testing.T, in *Inbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if m, err := in.Next(ctx); err == nil {
		t.Fatalf("unexpected message %+v", m)
	}
}

func TestQueueDeliversOnceToEverySubscriber(t *testing.T) {
	b := New()
	a, c, p := NewInbox(10), NewInbox(10), NewInbox(10)
	b.Subscribe(a, "sensor/raw", false)
	b.Subscribe(c, "sensor/raw", false)
	b.Subscribe(c, "sensor/", true) // overlapping: still once
	b.Subscribe(p, "vital/", true)
	for i := range 3 {
		if _, e := b.Publish(nil, "sensor/raw", []byte{byte(i)}, abi.KindAny, 0); e != abi.OK {
			t.Fatal(e)
		}
	}
	for _, in := range []*Inbox{a, c} {
		for i := range 3 {
			m := next(t, in)
			if m.Seq != uint64(i+1) || m.Data[0] != byte(i) || m.Topic != "sensor/raw" || m.Flags != 0 {
				t.Fatalf("got %+v, want seq %d", m, i+1)
			}
		}
		empty(t, in)
	}
	empty(t, p)
	b.Publish(nil, "vital/n1", []byte("x"), abi.KindAny, 0)
	b.Publish(nil, "vitals", []byte("x"), abi.KindAny, 0)
	if m := next(t, p); m.Topic != "vital/n1" {
		t.Fatalf("prefix got %+v", m)
	}
	empty(t, p)
	if tot := b.Totals(); tot.Published != 5 || tot.Delivered != 7 || tot.Dropped != 0 {
		t.Fatalf("totals %+v", tot)
	}
}

func TestLatestRetainedAndCoalesced(t *testing.T) {
	b := New()
	for i := range 5 {
		b.Publish(nil, "vital/n1", fmt.Appendf(nil, "v%d", i), abi.KindLatest, 0)
	}
	in := NewInbox(1)
	b.Subscribe(in, "vital/", true)
	m := next(t, in)
	if string(m.Data) != "v4" || m.Seq != 5 || m.Flags != abi.MsgLatest|abi.MsgRetained {
		t.Fatalf("retained got %+v", m)
	}
	empty(t, in)
	// A slow reader gets the newest value, not a backlog, and no drops.
	for i := 5; i < 100; i++ {
		b.Publish(nil, "vital/n1", fmt.Appendf(nil, "v%d", i), abi.KindAny, 0)
	}
	m = next(t, in)
	if string(m.Data) != "v99" || m.Seq != 100 || m.Flags != abi.MsgLatest {
		t.Fatalf("coalesced got %+v", m)
	}
	empty(t, in)
	if v, seq, e := b.Get("vital/n1"); e != abi.OK || seq != 100 || string(v) != "v99" {
		t.Fatalf("Get = %q %d %v", v, seq, e)
	}
	if tot := b.Totals(); tot.Dropped != 0 {
		t.Fatalf("latest topic dropped: %+v", tot)
	}
}

func TestBackpressureCountsDrops(t *testing.T) {
	b := New()
	slow, fast := NewInbox(2), NewInbox(100)
	b.Subscribe(slow, "q", false)
	b.Subscribe(fast, "q", false)
	for i := range 2 {
		if _, e := b.Publish(nil, "q", []byte{byte(i)}, abi.KindQueue, 0); e != abi.OK {
			t.Fatal(e)
		}
	}
	start := time.Now()
	if _, e := b.Publish(nil, "q", []byte{2}, abi.KindQueue, 30*time.Millisecond); e != abi.EAGAIN {
		t.Fatalf("publish into full queue = %v, want EAGAIN", e)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("publisher did not wait for room (%v)", d)
	}
	if got := b.Dropped(slow); got != 1 {
		t.Fatalf("slow dropped %d, want 1", got)
	}
	ts := b.Topics()[0]
	if ts.Dropped != 1 || ts.Delivered != 5 || ts.Published != 3 || ts.Subscribers != 2 {
		t.Fatalf("topic status %+v", ts)
	}
	// The fast subscriber got all three.
	for i := range 3 {
		if m := next(t, fast); m.Data[0] != byte(i) {
			t.Fatalf("fast got %+v", m)
		}
	}
	// Backpressure: a reader freeing room lets a waiting publisher through.
	go func() { time.Sleep(10 * time.Millisecond); next(t, slow) }()
	if _, e := b.Publish(nil, "q", []byte{3}, abi.KindQueue, 2*time.Second); e != abi.OK {
		t.Fatalf("publish with reader = %v", e)
	}
	// The publisher's own full queue never blocks it.
	start = time.Now()
	if _, e := b.Publish(slow, "q", []byte{4}, abi.KindQueue, time.Second); e != abi.EAGAIN || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("self publish = %v after %v", e, time.Since(start))
	}
}

func TestNamesKindsAndSubscriptions(t *testing.T) {
	b := New()
	in := NewInbox(1)
	cases := []struct {
		name string
		want abi.Errno
	}{
		{"", abi.EINVAL},
		{strings.Repeat("x", 256), abi.ENAMETOOLONG},
		{strings.Repeat("x", 255), abi.OK},
		{"a\x00b", abi.EINVAL},
	}
	for _, c := range cases {
		if _, e := b.Publish(nil, c.name, nil, abi.KindAny, 0); e != c.want {
			t.Errorf("Publish(%q) = %v, want %v", c.name, e, c.want)
		}
	}
	if _, e := b.Publish(nil, "big", make([]byte, abi.MaxPayload+1), abi.KindAny, 0); e != abi.EMSGSIZE {
		t.Errorf("oversize = %v", e)
	}
	if _, e := b.Publish(nil, "mib", make([]byte, 1<<20), abi.KindAny, 0); e != abi.OK {
		t.Errorf("1 MiB = %v", e)
	}
	b.Declare("l", abi.KindLatest, abi.ScopeLocal)
	if _, e := b.Publish(nil, "l", nil, abi.KindQueue, 0); e != abi.EKIND {
		t.Errorf("kind mismatch = %v", e)
	}
	if _, e := b.Declare("c", abi.KindQueue, abi.ScopeCluster); e != abi.ENOTSUP {
		t.Errorf("cluster scope = %v", e)
	}
	if e := b.Unsubscribe(in, "x", false); e != abi.ENOENT {
		t.Errorf("unsubscribe unknown = %v", e)
	}
	b.Subscribe(in, "a", false)
	b.Subscribe(in, "p/", true)
	b.Retain(in, []Subscription{{"p/", true}, {"z", false}})
	got := b.Subscriptions(in)
	if len(got) != 2 || got[0] != (Subscription{"p/", true}) || got[1] != (Subscription{"z", false}) {
		t.Errorf("after Retain: %+v", got)
	}
	for range abi.MaxSubs - 2 {
		b.Subscribe(in, fmt.Sprint("s", len(b.Subscriptions(in))), false)
	}
	if e := b.Subscribe(in, "one-too-many", false); e != abi.ENOMEM {
		t.Errorf("subscription limit = %v", e)
	}
}

// TestConcurrentPublishers is a hammer test for -race.
func TestConcurrentPublishers(t *testing.T) {
	b := New()
	in := NewInbox(100000)
	b.Subscribe(in, "h/", true)
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				b.Publish(nil, fmt.Sprintf("h/%d", p), []byte{byte(i)}, abi.KindAny, time.Second)
				if i%100 == 0 {
					b.Subscribe(NewInbox(100000), "h/", true)
				}
			}
		}()
	}
	wg.Wait()
	if in.Len() != 8000 {
		t.Fatalf("got %d messages, want 8000", in.Len())
	}
}
