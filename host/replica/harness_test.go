package replica

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the wall time tests start from; tests advance it by hand.
var t0 = time.UnixMilli(1_700_000_000_000)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func newStore(tb testing.TB, node string, opts ...func(*Config)) *Store {
	tb.Helper()
	cfg := Config{Node: node}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := NewStore(cfg)
	if err != nil {
		tb.Fatalf("NewStore(%q): %v", node, err)
	}
	return s
}

func withMaxMessage(n int) func(*Config) { return func(c *Config) { c.MaxMessage = n } }

func mustSet(tb testing.TB, s *Store, topic, value string, now time.Time) Entry {
	tb.Helper()
	e, err := s.Set(topic, []byte(value), now)
	if err != nil {
		tb.Fatalf("Set(%q): %v", topic, err)
	}
	return e
}

func mustDelete(tb testing.TB, s *Store, topic string, now time.Time) Entry {
	tb.Helper()
	e, err := s.Delete(topic, now)
	if err != nil {
		tb.Fatalf("Delete(%q): %v", topic, err)
	}
	return e
}

// roundStats describes one round as it went over the wire.
type roundStats struct {
	msgs, bytes, maxMsg int
	changed             map[*Store][]Entry
}

// round runs one round from a to b, every message going through the codec,
// until neither side answers. It checks the packing rule: a message is at
// most MaxMessage bytes unless it holds a single item.
func round(tb testing.TB, a, b *Store) roundStats {
	tb.Helper()
	return roundDrop(tb, a, b, nil)
}

// roundDrop is round with a filter that may drop messages (lossy network).
func roundDrop(tb testing.TB, a, b *Store, drop func() bool) roundStats {
	tb.Helper()
	type envelope struct {
		from, to *Store
		m        Message
	}
	st := roundStats{changed: map[*Store][]Entry{}}
	q := []envelope{{a, b, a.StartRound()}}
	for len(q) > 0 {
		e := q[0]
		q = q[1:]
		raw, err := e.m.MarshalBinary()
		if err != nil {
			tb.Fatalf("encode: %v", err)
		}
		checkPacking(tb, e.from, e.m, len(raw))
		st.msgs++
		st.bytes += len(raw)
		st.maxMsg = max(st.maxMsg, len(raw))
		if st.msgs > 1_000_000 {
			tb.Fatal("round does not end")
		}
		if drop != nil && drop() {
			continue
		}
		m, err := Decode(raw)
		if err != nil {
			tb.Fatalf("decode: %v", err)
		}
		replies, changed, err := e.to.Handle(m)
		if err != nil {
			tb.Fatalf("handle: %v", err)
		}
		st.changed[e.to] = append(st.changed[e.to], changed...)
		for _, r := range replies {
			q = append(q, envelope{e.to, e.from, r})
		}
	}
	return st
}

func items(m Message) int { return len(m.Sums) + len(m.Lists) + len(m.Wants) + len(m.Entries) }

func checkPacking(tb testing.TB, from *Store, m Message, size int) {
	tb.Helper()
	if max := from.cfg.MaxMessage; size > max && items(m) > 1 {
		tb.Fatalf("message of %d bytes with %d items, limit %d", size, items(m), max)
	}
}

// dump renders a store's contents for comparison and failure messages.
func dump(s *Store) string {
	var b strings.Builder
	for _, e := range s.Entries() {
		if e.Deleted {
			fmt.Fprintf(&b, "%s=<deleted> @%s\n", e.Topic, e.Version)
			continue
		}
		v := e.Value
		if len(v) > 16 {
			v = fmt.Appendf(nil, "%d bytes %x", len(v), contentSum(false, v))
		}
		fmt.Fprintf(&b, "%s=%q @%s\n", e.Topic, v, e.Version)
	}
	return b.String()
}

// requireSame fails unless all stores hold the same entries and digests.
func requireSame(tb testing.TB, stores ...*Store) {
	tb.Helper()
	want := dump(stores[0])
	root := stores[0].StartRound()
	for _, s := range stores[1:] {
		if got := dump(s); got != want {
			tb.Fatalf("%s differs from %s:\n--- %s\n%s--- %s\n%s", s.cfg.Node, stores[0].cfg.Node,
				stores[0].cfg.Node, want, s.cfg.Node, got)
		}
		if !slices.Equal(s.StartRound().Sums[0].Children, root.Sums[0].Children) {
			tb.Fatalf("%s: same entries, different digest", s.cfg.Node)
		}
	}
}

// winner is the entry LWW keeps among es (the oracle for property tests).
func winner(es []Entry) Entry {
	w := es[0]
	for _, e := range es[1:] {
		c := e.Version.Compare(w.Version)
		if c == 0 {
			a, b := contentSum(e.Deleted, e.Value), contentSum(w.Deleted, w.Value)
			c = bytes.Compare(a[:], b[:])
		}
		if c > 0 {
			w = e
		}
	}
	return w
}
