package replica

import (
	"fmt"
	"testing"
)

// benchPair is two stores of n equal topics with 100-byte values.
func benchPair(tb testing.TB, n int) (a, b *Store) {
	a, b = newStore(tb, "node-a"), newStore(tb, "node-b")
	v := make([]byte, 100)
	for i := range n {
		e, _ := a.Set(fmt.Sprint("cluster/topic/", i), v, at(0))
		b.Merge(e)
	}
	return a, b
}

// diverge writes d/2 topics on each side (different ones), with fresh
// versions: d differences in all.
func diverge(tb testing.TB, a, b *Store, n, d, iter int) {
	for j := range d / 2 {
		k := (iter*d + 2*j) % n
		now := at(int64(iter + 1))
		a.Set(fmt.Sprint("cluster/topic/", k), []byte(fmt.Sprint("a", iter, j)), now)
		b.Set(fmt.Sprint("cluster/topic/", (k+1)%n), []byte(fmt.Sprint("b", iter, j)), now)
	}
}

// BenchmarkRound times one anti-entropy round (encode, decode and handle
// every message) between two stores of 10 000 topics, equal or 1% apart,
// and reports the bytes and messages it takes.
func BenchmarkRound(b *testing.B) {
	for _, bc := range []struct {
		name string
		n, d int
	}{
		{"10k/equal", 10_000, 0},
		{"10k/1pct", 10_000, 100},
		{"100k/1pct", 100_000, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			x, y := benchPair(b, bc.n)
			var bytes, msgs, rounds int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				diverge(b, x, y, bc.n, bc.d, rounds)
				b.StartTimer()
				st := round(b, x, y)
				bytes += st.bytes
				msgs += st.msgs
				rounds++
			}
			b.ReportMetric(float64(bytes)/float64(rounds), "bytes/round")
			b.ReportMetric(float64(msgs)/float64(rounds), "msgs/round")
		})
	}
}

// TestBenchmarkRound runs the benchmark's setup once, so that it cannot rot
// unnoticed, and checks that the round converges and what it costs.
func TestBenchmarkRound(t *testing.T) {
	x, y := benchPair(t, 10_000)
	diverge(t, x, y, 10_000, 100, 0)
	st := round(t, x, y)
	requireSame(t, x, y)
	if len(st.changed[x]) != 50 || len(st.changed[y]) != 50 {
		t.Fatalf("delivered %d and %d entries, want 50 and 50", len(st.changed[x]), len(st.changed[y]))
	}
	// 100 entries of ~130 bytes are 13 KB of payload; the rest is digests
	// and listings.
	if st.bytes > 64<<10 {
		t.Fatalf("round took %d bytes", st.bytes)
	}
	t.Logf("10 000 topics, 1%% apart: %d messages, %d bytes", st.msgs, st.bytes)
}
