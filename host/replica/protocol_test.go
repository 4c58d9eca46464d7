package replica

import (
	"bytes"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"
)

func TestRoundConverges(t *testing.T) {
	type op func(a, b *Store)
	many := func(n int, prefix string, on func(*Store) *Store) op {
		return func(a, b *Store) {
			for i := range n {
				mustSet(t, on(a), fmt.Sprint(prefix, i), fmt.Sprint("v", i), at(int64(i)))
			}
		}
	}
	onA := func(s *Store) *Store { return s }
	tests := []struct {
		name string
		ops  []op
		// changedA and changedB are how many entries each side delivers.
		changedA, changedB int
	}{
		{"both empty", nil, 0, 0},
		{"identical", []op{func(a, b *Store) {
			e := mustSet(t, a, "t", "v", at(0))
			b.Merge(e)
		}}, 0, 0},
		{"responder empty", []op{many(50, "t", onA)}, 0, 50},
		{"initiator empty", []op{func(a, b *Store) {
			for i := range 50 {
				mustSet(t, b, fmt.Sprint("t", i), "v", at(0))
			}
		}}, 50, 0},
		{"disjoint", []op{func(a, b *Store) {
			mustSet(t, a, "a1", "x", at(0))
			mustSet(t, a, "a2", "x", at(0))
			mustSet(t, b, "b1", "y", at(0))
		}}, 1, 2},
		{"overlapping", []op{func(a, b *Store) {
			e := mustSet(t, a, "shared", "s", at(0))
			b.Merge(e)
			mustSet(t, a, "a", "x", at(1))
			mustSet(t, b, "b", "y", at(1))
			mustSet(t, b, "shared", "newer", at(2))
		}}, 2, 1},
		{"conflicting", []op{func(a, b *Store) {
			mustSet(t, a, "t", "from a", at(5)) // same wall: node id "b" wins
			mustSet(t, b, "t", "from b", at(5))
			mustSet(t, a, "u", "from a, later", at(9))
			mustSet(t, b, "u", "from b", at(8))
		}}, 1, 1},
		{"deletes", []op{func(a, b *Store) {
			for _, k := range []string{"x", "y", "z"} {
				e := mustSet(t, a, k, "v", at(0))
				b.Merge(e)
			}
			mustSet(t, b, "x", "rewritten", at(0)) // older than a's delete
			mustDelete(t, a, "x", at(1))
			mustDelete(t, b, "y", at(1))
		}}, 1, 1},
		{"large, 1% apart", []op{many(5000, "t", onA), func(a, b *Store) {
			for _, e := range a.Entries() {
				b.Merge(e)
			}
			for i := range 25 {
				mustSet(t, a, fmt.Sprint("t", i*200), "a", at(10_000))
				mustSet(t, b, fmt.Sprint("t", i*200+1), "b", at(10_000))
			}
		}}, 25, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newStore(t, "a"), newStore(t, "b")
			for _, o := range tt.ops {
				o(a, b)
			}
			st := round(t, a, b)
			requireSame(t, a, b)
			if got := len(st.changed[a]); got != tt.changedA {
				t.Errorf("a delivered %d entries, want %d", got, tt.changedA)
			}
			if got := len(st.changed[b]); got != tt.changedB {
				t.Errorf("b delivered %d entries, want %d", got, tt.changedB)
			}
			t.Logf("%d messages, %d bytes", st.msgs, st.bytes)
			// A second round finds nothing: one message, no answer.
			if st := round(t, b, a); st.msgs != 1 {
				t.Errorf("second round took %d messages, want 1", st.msgs)
			}
		})
	}
}

// cluster is a set of stores under a random workload, with an oracle: every
// entry ever written, by topic.
type cluster struct {
	t      testing.TB
	rng    *rand.Rand
	stores []*Store
	clock  int64
	writes map[string][]Entry
}

func newCluster(tb testing.TB, n int, seed uint64, opts ...func(*Config)) *cluster {
	c := &cluster{t: tb, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), writes: map[string][]Entry{}}
	for i := range n {
		c.stores = append(c.stores, newStore(tb, fmt.Sprint("n", i), opts...))
	}
	return c
}

// step does one random thing: a write, a delete, or a round between two
// stores. Clocks are skewed per node and walls sometimes repeat, so that
// concurrent writes with equal walls happen.
func (c *cluster) step() {
	c.clock += int64(c.rng.IntN(3))
	s := c.stores[c.rng.IntN(len(c.stores))]
	skew := int64(c.rng.IntN(50)) - 25
	topic := fmt.Sprint("topic/", c.rng.IntN(40))
	switch r := c.rng.IntN(10); {
	case r < 5:
		v := make([]byte, c.rng.IntN(64))
		for i := range v {
			v[i] = byte(c.rng.IntN(4)) // few distinct values: equal contents happen
		}
		e, _ := s.Set(topic, v, at(c.clock+skew))
		c.writes[topic] = append(c.writes[topic], e)
	case r < 7:
		e, _ := s.Delete(topic, at(c.clock+skew))
		c.writes[topic] = append(c.writes[topic], e)
	default:
		o := c.stores[c.rng.IntN(len(c.stores))]
		if o != s {
			round(c.t, s, o)
		}
	}
}

// heal runs rounds until all stores are equal: everyone with the first
// store, twice over, which is enough for any contents.
func (c *cluster) heal() {
	for range 2 {
		for _, s := range c.stores[1:] {
			round(c.t, c.stores[0], s)
		}
	}
	requireSame(c.t, c.stores...)
}

// checkOracle verifies that the converged contents are exactly the LWW
// winners of all writes.
func (c *cluster) checkOracle() {
	s := c.stores[0]
	if s.Len() != len(c.writes) {
		c.t.Fatalf("%d entries, %d topics written", s.Len(), len(c.writes))
	}
	for topic, es := range c.writes {
		want := winner(es)
		got, _ := s.Get(topic)
		if got.Version != want.Version || got.Deleted != want.Deleted || !bytes.Equal(got.Value, want.Value) {
			c.t.Fatalf("%s = %+v, want the LWW winner %+v", topic, got, want)
		}
	}
}

func TestRandomConvergence(t *testing.T) {
	for _, mm := range []int{DefaultMaxMessage, 200} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("max%d/seed%d", mm, seed), func(t *testing.T) {
				c := newCluster(t, 5, seed, withMaxMessage(mm))
				for range 400 {
					c.step()
				}
				c.heal()
				c.checkOracle()
			})
		}
	}
}

func TestQuickConvergence(t *testing.T) {
	f := func(seed uint64, steps uint8) bool {
		c := newCluster(t, 5, seed)
		for range int(steps) + 1 {
			c.step()
		}
		c.heal()
		c.checkOracle()
		return true
	}
	// A fixed source: the test is the same on every run.
	if err := quick.Check(f, &quick.Config{MaxCount: 50, Rand: mrand.New(mrand.NewSource(1))}); err != nil {
		t.Fatal(err)
	}
}

// TestRandomConvergenceWithGC adds tombstone collection to the workload.
// Resurrections are allowed, so there is no oracle; once every node has
// collected at the same time, one more healing pass must leave identical
// stores. With a count cap, nodes evict different tombstones (and refuse
// them back), so they only agree again once the TTL is past everywhere.
func TestRandomConvergenceWithGC(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		finalAge int64 // when the last GC runs, after the last step
	}{
		{"ttl", 0, 0},
		{"ttl and cap", 5, 1000},
	}
	for _, tt := range tests {
		for seed := range uint64(10) {
			t.Run(fmt.Sprint(tt.name, "/seed", seed), func(t *testing.T) {
				c := newCluster(t, 5, seed, func(cfg *Config) {
					cfg.TombstoneTTL = 20 * time.Millisecond
					cfg.MaxTombstones = tt.max
				})
				dropped := 0
				for i := range 400 {
					c.step()
					if i%10 == 0 {
						dropped += c.stores[c.rng.IntN(len(c.stores))].GC(at(c.clock))
					}
				}
				for _, s := range c.stores {
					dropped += s.GC(at(c.clock + tt.finalAge))
				}
				c.heal()
				if dropped == 0 || tt.finalAge == 0 && c.stores[0].Tombstones() == 0 {
					t.Fatalf("%d dropped, %d tombstones left: the test exercises nothing", dropped, c.stores[0].Tombstones())
				}
			})
		}
	}
}

// TestLossyRounds drops a third of the messages: rounds end early, but
// since messages are stateless, later rounds finish the job.
func TestLossyRounds(t *testing.T) {
	c := newCluster(t, 3, 7)
	for range 300 {
		c.step()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	drop := func() bool { return rng.IntN(3) == 0 }
	for range 30 {
		a, b := c.stores[rng.IntN(3)], c.stores[rng.IntN(3)]
		if a != b {
			roundDrop(t, a, b, drop)
		}
	}
	c.heal()
	c.checkOracle()
}

// TestPartitionConcurrentWrites writes one topic on both sides of a
// partition, at the same wall time, with gossip inside each side, then heals
// in different orders: every order ends with the same value on every node.
func TestPartitionConcurrentWrites(t *testing.T) {
	type pair [2]int
	heals := [][]pair{
		{{0, 2}, {0, 1}, {0, 3}, {0, 4}, {0, 1}, {0, 2}, {0, 3}},
		{{4, 1}, {3, 4}, {2, 3}, {1, 2}, {0, 1}, {4, 0}, {3, 4}, {2, 3}, {1, 2}},
		{{2, 0}, {3, 1}, {4, 0}, {1, 2}, {0, 3}, {4, 1}, {3, 2}, {1, 0}, {2, 4}, {0, 4}},
	}
	var want string
	for i, heal := range heals {
		ss := make([]*Store, 5)
		for j := range ss {
			ss[j] = newStore(t, fmt.Sprint("n", j))
		}
		// Side L = {0, 1}, side R = {2, 3, 4}.
		mustSet(t, ss[1], "z", "left", at(40)) // n1 writes z first: its clock is still at 40
		mustSet(t, ss[0], "x", "left", at(100))
		mustSet(t, ss[2], "x", "right", at(100))
		mustSet(t, ss[1], "y", "left", at(100))
		mustDelete(t, ss[3], "y", at(100))
		mustSet(t, ss[4], "z", "right", at(50))
		round(t, ss[0], ss[1])
		round(t, ss[2], ss[3])
		round(t, ss[3], ss[4])
		round(t, ss[2], ss[4])
		for _, p := range heal {
			round(t, ss[p[0]], ss[p[1]])
		}
		requireSame(t, ss...)
		got := dump(ss[0])
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("heal order %d ends with\n%s\nwant\n%s", i, got, want)
		}
	}
	// Equal walls and counters: the greater node id wins (n2 over n0, n3's
	// delete over n1's write); z's later wall wins.
	wantHas := []string{`x="right" @1700000000100.0@n2`, `y=<deleted> @1700000000100.0@n3`, `z="right" @1700000000050.0@n4`}
	for _, w := range wantHas {
		if !bytes.Contains([]byte(want), []byte(w)) {
			t.Errorf("converged state lacks %s:\n%s", w, want)
		}
	}
}

func TestLargeValueStreams(t *testing.T) {
	const big = 16 << 20
	a, b := newStore(t, "a"), newStore(t, "b")
	v := make([]byte, big)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	mustSet(t, a, "big", string(v), at(0))
	for i := range 30 { // 30 x 100 KiB: three messages of at most 1 MiB
		mustSet(t, a, fmt.Sprint("mid", i), string(v[:100<<10]), at(0))
	}
	st := round(t, a, b)
	requireSame(t, a, b)
	if got, _ := b.Get("big"); !bytes.Equal(got.Value, v) {
		t.Fatal("16 MiB value differs after the round")
	}
	if st.maxMsg < big || st.maxMsg > big+100 {
		t.Fatalf("largest message %d bytes, want the 16 MiB entry alone", st.maxMsg)
	}
	t.Logf("%d messages, %d bytes, largest %d", st.msgs, st.bytes, st.maxMsg)
}

func TestMessagesSplit(t *testing.T) {
	const limit = 4096
	a, b := newStore(t, "a", withMaxMessage(limit)), newStore(t, "b", withMaxMessage(limit))
	for i := range 500 {
		mustSet(t, a, fmt.Sprint("t", i), fmt.Sprint(i, "-some-value-bytes"), at(0))
	}
	mustSet(t, a, "huge", string(make([]byte, 3*limit)), at(0))
	st := round(t, a, b) // round checks every message against the limit
	requireSame(t, a, b)
	if st.msgs < 5 {
		t.Fatalf("%d messages for %d bytes with a %d-byte limit", st.msgs, st.bytes, limit)
	}
}

// TestDigestSize measures the round between two stores of 10 000 identical
// topics: one message, the root digest.
func TestDigestSize(t *testing.T) {
	a, b := newStore(t, "a"), newStore(t, "b")
	for i := range 10_000 {
		e := mustSet(t, a, fmt.Sprint("topic/", i), "value", at(int64(i)))
		b.Merge(e)
	}
	st := round(t, a, b)
	if st.msgs != 1 || st.bytes > 4096 {
		t.Fatalf("in-sync round: %d messages, %d bytes; want 1 message under 4 KiB", st.msgs, st.bytes)
	}
	t.Logf("digest of 10 000 identical topics: %d bytes", st.bytes)
}

func TestHandleRejectsInvalid(t *testing.T) {
	s := newStore(t, "a")
	bad := []Message{
		{Sums: []Sum{{Bits: 8, Children: make([]Child, 256)}}},
		{Sums: []Sum{{Bits: 64, Children: make([]Child, 16)}}},
		{Lists: []List{{Bits: 8, Prefix: 1}}},
		{Wants: []string{""}},
		{Entries: []Entry{{Topic: "t"}}},
	}
	for i, m := range bad {
		if _, _, err := s.Handle(m); err == nil {
			t.Errorf("message %d: no error", i)
		}
		if _, err := m.MarshalBinary(); err == nil {
			t.Errorf("message %d encodes", i)
		}
	}
}

// TestConfusedPeer sends listings that claim the wrong range and repeat
// topics: the answer is still correct and names each topic once.
func TestConfusedPeer(t *testing.T) {
	s := newStore(t, "a")
	mustSet(t, s, "mine", "v", at(0))
	old := Item{Topic: "mine", Version: HLC{1, 0, "b"}}
	theirs := Item{Topic: "theirs", Version: HLC{1, 0, "b"}}
	m := Message{
		Lists: []List{{Bits: 64, Prefix: 0, Items: []Item{old, old, theirs}}, {Items: []Item{theirs}}},
		Wants: []string{"mine", "mine", "unknown"},
	}
	replies, _, err := s.Handle(m)
	if err != nil || len(replies) != 1 {
		t.Fatalf("Handle = %d replies, %v", len(replies), err)
	}
	r := replies[0]
	if len(r.Entries) != 1 || r.Entries[0].Topic != "mine" || len(r.Wants) != 1 || r.Wants[0] != "theirs" {
		t.Fatalf("reply %+v, want entry mine and want theirs once each", r)
	}
}
