package replica

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNewStoreConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Node: "a"}, true},
		{"no node", Config{}, false},
		{"long node", Config{Node: strings.Repeat("a", MaxNodeLen+1)}, false},
		{"negative ttl", Config{Node: "a", TombstoneTTL: -1}, false},
		{"negative max", Config{Node: "a", MaxMessage: -1}, false},
	}
	for _, tt := range tests {
		s, err := NewStore(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err == nil && (s.Config().TombstoneTTL != DefaultTombstoneTTL || s.Config().MaxMessage != DefaultMaxMessage) {
			t.Errorf("%s: defaults not filled: %+v", tt.name, s.Config())
		}
	}
}

func TestSetGetDelete(t *testing.T) {
	s := newStore(t, "a")
	v := []byte("one")
	e, err := s.Set("t", v, at(0))
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the store keeps its own copy
	if got, _ := s.Get("t"); string(got.Value) != "one" || got.Version != e.Version {
		t.Fatalf("Get = %+v, want one @%v", got, e.Version)
	}
	d := mustDelete(t, s, "t", at(0))
	if d.Version.Compare(e.Version) <= 0 {
		t.Fatalf("delete version %v not after set %v", d.Version, e.Version)
	}
	if got, ok := s.Get("t"); !ok || !got.Deleted || got.Value != nil {
		t.Fatalf("Get after Delete = %+v, %v; want a tombstone", got, ok)
	}
	if s.Len() != 1 || s.Tombstones() != 1 {
		t.Fatalf("Len, Tombstones = %d, %d; want 1, 1", s.Len(), s.Tombstones())
	}
	mustDelete(t, s, "never-set", at(0))
	if s.Tombstones() != 2 {
		t.Fatalf("a delete of an unknown topic keeps no tombstone")
	}
}

func TestInvalidTopics(t *testing.T) {
	s := newStore(t, "a")
	for _, topic := range []string{"", strings.Repeat("x", MaxTopicLen+1)} {
		if _, err := s.Set(topic, nil, at(0)); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Set(%d bytes) err = %v", len(topic), err)
		}
		if _, err := s.Delete(topic, at(0)); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Delete(%d bytes) err = %v", len(topic), err)
		}
		if _, err := s.Merge(Entry{Topic: topic, Version: HLC{1, 0, "b"}}); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Merge(%d bytes) err = %v", len(topic), err)
		}
	}
	if _, err := s.Merge(Entry{Topic: "t", Version: HLC{Wall: 1}}); !errors.Is(err, ErrInvalidHLC) {
		t.Errorf("Merge without writer: err = %v", err)
	}
	if _, err := s.Merge(Entry{Topic: "t", Version: HLC{1, 0, "b"}, Deleted: true, Value: []byte("x")}); err == nil {
		t.Errorf("Merge of a tombstone with a value: no error")
	}
}

func live(topic, value string, wall int64, logical uint32, node string) Entry {
	return Entry{Topic: topic, Value: []byte(value), Version: HLC{t0.UnixMilli() + wall, logical, node}}
}

func tomb(topic string, wall int64, logical uint32, node string) Entry {
	return Entry{Topic: topic, Deleted: true, Version: HLC{t0.UnixMilli() + wall, logical, node}}
}

func TestMergeLastWriterWins(t *testing.T) {
	// Equal versions with different content: the greater content sum wins,
	// whichever arrives first.
	x, y := live("t", "x", 5, 0, "b"), live("t", "y", 5, 0, "b")
	sx, sy := contentSum(false, x.Value), contentSum(false, y.Value)
	hi, lo := x, y
	if bytes.Compare(sx[:], sy[:]) < 0 {
		hi, lo = y, x
	}
	tests := []struct {
		name    string
		local   []Entry // merged first
		in      Entry
		changed bool
		want    Entry
	}{
		{"new topic", nil, live("t", "v", 1, 0, "b"), true, live("t", "v", 1, 0, "b")},
		{"newer wall", []Entry{live("t", "old", 1, 0, "b")}, live("t", "new", 2, 0, "c"), true, live("t", "new", 2, 0, "c")},
		{"older wall", []Entry{live("t", "new", 2, 0, "b")}, live("t", "old", 1, 9, "z"), false, live("t", "new", 2, 0, "b")},
		{"newer logical", []Entry{live("t", "old", 1, 0, "b")}, live("t", "new", 1, 1, "b"), true, live("t", "new", 1, 1, "b")},
		{"node breaks tie", []Entry{live("t", "b", 1, 0, "b")}, live("t", "c", 1, 0, "c"), true, live("t", "c", 1, 0, "c")},
		{"node breaks tie, loser", []Entry{live("t", "c", 1, 0, "c")}, live("t", "b", 1, 0, "b"), false, live("t", "c", 1, 0, "c")},
		{"same entry again", []Entry{live("t", "v", 1, 0, "b")}, live("t", "v", 1, 0, "b"), false, live("t", "v", 1, 0, "b")},
		{"same version, greater content", []Entry{lo}, hi, true, hi},
		{"same version, smaller content", []Entry{hi}, lo, false, hi},
		{"tombstone beats older write", []Entry{live("t", "v", 1, 0, "b")}, tomb("t", 2, 0, "c"), true, tomb("t", 2, 0, "c")},
		{"older tombstone loses", []Entry{live("t", "v", 2, 0, "b")}, tomb("t", 1, 0, "c"), false, live("t", "v", 2, 0, "b")},
		{"newer write beats tombstone", []Entry{tomb("t", 1, 0, "b")}, live("t", "back", 2, 0, "c"), true, live("t", "back", 2, 0, "c")},
		{"older write loses to tombstone", []Entry{tomb("t", 2, 0, "b")}, live("t", "v", 1, 0, "c"), false, tomb("t", 2, 0, "b")},
		{"tombstone of unknown topic kept", nil, tomb("t", 1, 0, "b"), true, tomb("t", 1, 0, "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, "a")
			for _, e := range tt.local {
				if _, err := s.Merge(e); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := s.Merge(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := s.Get("t")
			if changed != tt.changed || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Merge = %v, entry %+v; want %v, %+v", changed, got, tt.changed, tt.want)
			}
		})
	}
}

// TestMergeOrderIndependent merges every permutation of conflicting entries
// and checks that all orders end with the same entry.
func TestMergeOrderIndependent(t *testing.T) {
	es := []Entry{
		live("t", "x", 5, 0, "b"), live("t", "y", 5, 0, "b"), tomb("t", 5, 0, "b"),
		live("t", "z", 5, 0, "a"), live("t", "w", 4, 7, "c"),
	}
	want := ""
	permute(len(es), func(order []int) {
		s := newStore(t, "n")
		for _, i := range order {
			s.Merge(es[i])
		}
		got := dump(s)
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("order %v: got %s, want %s", order, got, want)
		}
	})
}

func permute(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(p)
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

func TestMergeAdvancesClock(t *testing.T) {
	// A write made after seeing a value wins over it, even when the writer's
	// wall clock is behind the value's.
	s := newStore(t, "a")
	future := live("t", "from the future", 60_000, 3, "z")
	s.Merge(future)
	e := mustSet(t, s, "t", "mine", at(0))
	if e.Version.Compare(future.Version) <= 0 {
		t.Fatalf("local write %v not after observed %v", e.Version, future.Version)
	}
	// Observing an older version applies nothing but still moves nothing back.
	s.Merge(live("u", "old", -60_000, 0, "z"))
	if e2 := mustSet(t, s, "t", "again", at(0)); e2.Version.Compare(e.Version) <= 0 {
		t.Fatalf("clock went back: %v after %v", e2.Version, e.Version)
	}
}

func TestGCTombstoneTTL(t *testing.T) {
	ttl := 10 * time.Minute
	tests := []struct {
		name    string
		gcAt    time.Duration // after the delete
		dropped int
	}{
		{"just deleted", 0, 0},
		{"before ttl", ttl - time.Millisecond, 0},
		{"at ttl", ttl, 0},
		{"after ttl", ttl + time.Millisecond, 1},
		{"long after", 24 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, "a", func(c *Config) { c.TombstoneTTL = ttl })
			mustSet(t, s, "kept", "v", at(0))
			mustSet(t, s, "t", "v", at(0))
			mustDelete(t, s, "t", at(0))
			// A live value never expires, however old.
			if got := s.GC(at(0).Add(tt.gcAt)); got != tt.dropped {
				t.Fatalf("GC dropped %d, want %d", got, tt.dropped)
			}
			if _, ok := s.Get("t"); ok == (tt.dropped == 1) {
				t.Fatalf("tombstone present = %v after dropping %d", ok, tt.dropped)
			}
			if _, ok := s.Get("kept"); !ok {
				t.Fatalf("GC dropped a live value")
			}
		})
	}
}

func TestGCMaxTombstones(t *testing.T) {
	s := newStore(t, "a", func(c *Config) { c.MaxTombstones = 3 })
	for i := range 5 {
		mustDelete(t, s, fmt.Sprint("t", i), at(int64(i)))
	}
	if got := s.GC(at(5)); got != 2 || s.Tombstones() != 3 {
		t.Fatalf("GC dropped %d, %d left; want 2, 3", got, s.Tombstones())
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := s.Get(fmt.Sprint("t", i)); ok != want {
			t.Errorf("t%d present = %v, want %v (the oldest go first)", i, ok, want)
		}
	}
	// An evicted tombstone that comes back is not kept again.
	if changed, _ := s.Merge(tomb("t0", 0, 0, "b")); changed || s.Tombstones() != 3 {
		t.Fatalf("evicted tombstone re-entered: changed=%v tombstones=%d", changed, s.Tombstones())
	}
}

func TestExpiredTombstoneStillDeletes(t *testing.T) {
	// A tombstone that arrives after the TTL deletes an older value it finds,
	// but is not kept (it would only bounce between nodes).
	s := newStore(t, "a")
	old := live("t", "v", 0, 0, "b")
	s.Merge(old)
	s.GC(at(0).Add(time.Hour))
	changed, _ := s.Merge(tomb("t", 1, 0, "c"))
	if _, ok := s.Get("t"); !changed || ok {
		t.Fatalf("changed=%v present=%v; want the value deleted and no tombstone", changed, ok)
	}
	if changed, _ := s.Merge(tomb("u", 1, 0, "c")); changed || s.Len() != 0 {
		t.Fatalf("expired tombstone of an unknown topic stored")
	}
}

// TestResurrectionAfterTTL pins down the documented weak point: a node cut
// off for longer than the TTL brings a deleted topic back.
func TestResurrectionAfterTTL(t *testing.T) {
	ttl := time.Minute
	cfg := func(c *Config) { c.TombstoneTTL = ttl }
	a, b := newStore(t, "a", cfg), newStore(t, "b", cfg)
	mustSet(t, a, "t", "v", at(0))
	round(t, a, b)
	mustDelete(t, a, "t", at(1000)) // b is partitioned away from here on
	later := at(1000).Add(ttl + time.Second)
	if a.GC(later) != 1 {
		t.Fatal("tombstone not collected after the TTL")
	}
	round(t, b, a) // the partition heals
	requireSame(t, a, b)
	if e, ok := a.Get("t"); !ok || e.Deleted {
		t.Fatalf("got %+v, %v; this test documents that the value comes back", e, ok)
	}

	// Within the TTL the delete wins.
	a, b = newStore(t, "a", cfg), newStore(t, "b", cfg)
	mustSet(t, a, "t", "v", at(0))
	round(t, a, b)
	mustDelete(t, a, "t", at(1000))
	a.GC(at(1000).Add(ttl - time.Second))
	b.GC(at(1000).Add(ttl - time.Second))
	round(t, b, a)
	requireSame(t, a, b)
	if e, _ := b.Get("t"); !e.Deleted {
		t.Fatalf("b holds %+v, want the tombstone", e)
	}
}
