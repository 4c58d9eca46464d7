package place

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

func key(i int) cid.ID {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return cid.Sum(b[:])
}

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%03d", i)
	}
	return out
}

func TestRankDeterministicAndPermutationStable(t *testing.T) {
	ns := nodes(20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		k := key(i)
		want := Rank(k, ns)
		if len(want) != len(ns) {
			t.Fatalf("Rank returned %d nodes, want %d", len(want), len(ns))
		}
		shuffled := slices.Clone(ns)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Rank(k, shuffled); !slices.Equal(got, want) {
			t.Fatalf("key %d: rank depends on input order:\n%v\n%v", i, got, want)
		}
		for j := 1; j < len(want); j++ {
			if Score(k, want[j-1]) < Score(k, want[j]) {
				t.Fatalf("key %d: not ordered by score at %d", i, j)
			}
		}
		for _, n := range []int{0, 1, 3, 5, 9, 20, 25} {
			if got := Pick(k, shuffled, n); !slices.Equal(got, want[:min(n, len(want))]) {
				t.Fatalf("Pick(%d) = %v, want prefix of rank %v", n, got, want)
			}
		}
	}
}

func TestDistinct(t *testing.T) {
	ns := append(nodes(6), "node-001", "node-002", "node-001")
	got := Rank(key(1), ns)
	if len(got) != 6 {
		t.Fatalf("got %d nodes, want 6 distinct: %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n] {
			t.Fatalf("%s twice in %v", n, got)
		}
		seen[n] = true
	}
}

// TestBalance checks each node is first choice for about 1/n of the keys.
// The count for one node is Binomial(K, 1/n); with K=50000 and n=10 the
// mean is 5000 and sigma = sqrt(K p (1-p)) ~ 67. We allow 5 sigma: a fair
// hash fails that for a given node with probability ~6e-7. The keys are
// fixed, so the test is deterministic either way. The second check covers
// the whole placement: each node holds ~ (k+m)/n of the shards.
func TestBalance(t *testing.T) {
	const keys, n = 50_000, 10
	ns := nodes(n)
	first := map[string]int{}
	top5 := map[string]int{}
	for i := range keys {
		p := Pick(key(i), ns, 5)
		first[p[0]]++
		for _, x := range p {
			top5[x]++
		}
	}
	check := func(what string, counts map[string]int, p float64) {
		mean := keys * p
		tol := 5 * math.Sqrt(keys*p*(1-p))
		for _, x := range ns {
			if d := math.Abs(float64(counts[x]) - mean); d > tol {
				t.Errorf("%s: %s has %d, want %.0f ± %.0f", what, x, counts[x], mean, tol)
			}
		}
	}
	check("first choice", first, 1.0/n)
	check("in top 5", top5, 5.0/n)
}

// TestRemoveNode: removing a node only removes it from every ranking, so the
// only keys whose placement changes are those it held.
func TestRemoveNode(t *testing.T) {
	ns := nodes(12)
	gone := ns[7]
	rest := slices.Delete(slices.Clone(ns), 7, 8)
	for i := range 2000 {
		before := Rank(key(i), ns)
		after := Rank(key(i), rest)
		want := slices.DeleteFunc(slices.Clone(before), func(s string) bool { return s == gone })
		if !slices.Equal(after, want) {
			t.Fatalf("key %d: removing %s reordered others:\n%v\n%v", i, gone, before, after)
		}
	}
}

// TestAddNode: a new node becomes first choice for about 1/(n+1) of keys and
// every key that moves moves to it.
func TestAddNode(t *testing.T) {
	const keys = 20_000
	ns := nodes(9)
	grown := append(slices.Clone(ns), "newcomer")
	moved := 0
	for i := range keys {
		a, b := Pick(key(i), ns, 1)[0], Pick(key(i), grown, 1)[0]
		if a != b {
			if b != "newcomer" {
				t.Fatalf("key %d moved from %s to %s, not to the new node", i, a, b)
			}
			moved++
		}
	}
	p := 1.0 / 10
	mean, tol := keys*p, 5*math.Sqrt(keys*p*(1-p))
	if math.Abs(float64(moved)-mean) > tol {
		t.Fatalf("%d of %d keys moved, want %.0f ± %.0f", moved, keys, mean, tol)
	}
}

func TestShards(t *testing.T) {
	k := key(42)
	ns := nodes(5)
	got, err := Shards(k, ns, 5, false)
	if err != nil || !slices.Equal(got, Rank(k, ns)) {
		t.Fatalf("5 shards on 5 nodes: %v, %v", got, err)
	}
	if _, err := Shards(k, ns, 6, false); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("6 shards on 5 nodes without wrap: %v", err)
	}
	got, err = Shards(k, ns[:2], 5, true)
	r := Rank(k, ns[:2])
	if err != nil || !slices.Equal(got, []string{r[0], r[1], r[0], r[1], r[0]}) {
		t.Fatalf("wrap: %v, %v", got, err)
	}
	if _, err := Shards(k, nil, 1, true); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("no nodes: %v", err)
	}
	if got, err := Shards(k, nil, 0, false); err != nil || len(got) != 0 {
		t.Fatalf("zero shards: %v, %v", got, err)
	}
}

func BenchmarkRank(b *testing.B) {
	for _, n := range []int{5, 100, 1000} {
		ns := nodes(n)
		k := key(1)
		b.Run(fmt.Sprintf("nodes%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Rank(k, ns)
			}
		})
		b.Run(fmt.Sprintf("pick5/nodes%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Pick(k, ns, 5)
			}
		})
	}
}
