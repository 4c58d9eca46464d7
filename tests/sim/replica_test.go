package sim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/replica"
)

// gossipSim is n replica stores doing anti-entropy in simulated rounds: pure
// state machines, no goroutines, no timers, a deterministic seed. In each
// round every live store starts one exchange with a peer picked at random
// among all n (it does not know who died: an exchange with a dead store is
// lost after its first message). Every message goes through the wire codec
// and is counted.
type gossipSim struct {
	stores []*replica.Store
	dead   []bool
	rng    *rand.Rand
	now    time.Time
	loss   float64 // probability that any one message is lost

	rounds, exchanges, msgs, bytes int64
}

func newGossipSim(tb testing.TB, n int, seed uint64) *gossipSim {
	tb.Helper()
	g := &gossipSim{rng: rand.New(rand.NewPCG(seed, 7)), now: time.UnixMilli(1_700_000_000_000), dead: make([]bool, n)}
	for i := range n {
		s, err := replica.NewStore(replica.Config{Node: fmt.Sprintf("node-%05d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		g.stores = append(g.stores, s)
	}
	return g
}

// set writes topic=value at store i.
func (g *gossipSim) set(tb testing.TB, i int, topic, value string) {
	tb.Helper()
	g.now = g.now.Add(time.Millisecond)
	if _, err := g.stores[i].Set(topic, []byte(value), g.now); err != nil {
		tb.Fatal(err)
	}
}

// exchange runs one anti-entropy round from a to b until neither answers.
func (g *gossipSim) exchange(tb testing.TB, a, b int) {
	type envelope struct {
		to int
		m  replica.Message
	}
	g.exchanges++
	q := []envelope{{b, g.stores[a].StartRound()}}
	for len(q) > 0 {
		e := q[0]
		q = q[1:]
		raw, err := e.m.MarshalBinary()
		if err != nil {
			tb.Fatalf("encode: %v", err)
		}
		g.msgs++
		g.bytes += int64(len(raw))
		if g.dead[e.to] || (g.loss > 0 && g.rng.Float64() < g.loss) {
			continue
		}
		m, err := replica.Decode(raw)
		if err != nil {
			tb.Fatalf("decode: %v", err)
		}
		replies, _, err := g.stores[e.to].Handle(m)
		if err != nil {
			tb.Fatalf("handle: %v", err)
		}
		from := a
		if e.to == a {
			from = b
		}
		for _, r := range replies {
			q = append(q, envelope{from, r})
		}
	}
}

// round lets every live store start one exchange with a random other store.
func (g *gossipSim) round(tb testing.TB) {
	g.rounds++
	n := len(g.stores)
	for _, a := range g.rng.Perm(n) {
		if g.dead[a] {
			continue
		}
		b := g.rng.IntN(n - 1)
		if b >= a {
			b++
		}
		g.exchange(tb, a, b)
	}
}

// converged reports whether all live stores hold the same entries (same
// root digest: per-bucket XOR of fingerprints and counts), and how many
// live stores differ from the first one.
func (g *gossipSim) converged() (bool, int) {
	var ref []replica.Child
	off := 0
	for i, s := range g.stores {
		if g.dead[i] {
			continue
		}
		d := s.Digest().Children
		if ref == nil {
			ref = d
			continue
		}
		if !slices.Equal(d, ref) {
			off++
		}
	}
	return off == 0, off
}

// run does rounds until convergence, at most limit of them, and returns
// how many it took.
func (g *gossipSim) run(tb testing.TB, limit int) int {
	tb.Helper()
	for r := 1; r <= limit; r++ {
		g.round(tb)
		if ok, _ := g.converged(); ok {
			return r
		}
	}
	_, off := g.converged()
	tb.Fatalf("not converged after %d rounds: %d live stores differ", limit, off)
	return 0
}

// checkHas fails unless every live store holds topic=value.
func (g *gossipSim) checkHas(tb testing.TB, want map[string]string) {
	tb.Helper()
	for i, s := range g.stores {
		if g.dead[i] {
			continue
		}
		for topic, v := range want {
			e, ok := s.Get(topic)
			if !ok || e.Deleted || string(e.Value) != v {
				tb.Fatalf("store %d: %s = %q (%v), want %q", i, topic, e.Value, ok, v)
			}
		}
	}
}

// TestGossipConvergence: N stores, K topics each written at a random store;
// rounds and bytes until every store holds all of them. With K = N (one
// entry per node, like a membership table) for N = 1000; K = 500 for
// N = 5000 (opt-in with SIM_MEMBER_1000=1: 10-50 s on 2 shared cores).
func TestGossipConvergence(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{1000, 1000}, {1000, 100}, {5000, 500}} {
		t.Run(fmt.Sprintf("N=%d/K=%d", tc.n, tc.k), func(t *testing.T) {
			if tc.n > 1000 && os.Getenv("SIM_MEMBER_1000") == "" {
				t.Skip("slow on 2 shared cores; set SIM_MEMBER_1000=1")
			}
			start := time.Now()
			g := newGossipSim(t, tc.n, uint64(tc.n*tc.k))
			want := map[string]string{}
			for j := range tc.k {
				topic, v := fmt.Sprintf("cluster/member/%05d", j), fmt.Sprintf("meta of %d: version sim, capacity %d", j, 100+j)
				g.set(t, g.rng.IntN(tc.n), topic, v)
				want[topic] = v
			}
			rounds := g.run(t, 100)
			g.checkHas(t, want)
			t.Logf("N=%d K=%d: converged in %d rounds (%d exchanges, %d messages, %.1f MiB, %.1f KiB per store); %v wall; %s",
				tc.n, tc.k, rounds, g.exchanges, g.msgs, float64(g.bytes)/(1<<20), float64(g.bytes)/1024/float64(tc.n),
				time.Since(start).Round(time.Millisecond), memStats())
		})
	}
}

// BenchmarkGossipConvergence reports rounds and bytes per store to
// converge.
func BenchmarkGossipConvergence(b *testing.B) {
	for _, tc := range []struct{ n, k int }{{1000, 1000}, {5000, 500}} {
		b.Run(fmt.Sprintf("N=%d/K=%d", tc.n, tc.k), func(b *testing.B) {
			var rounds, bytes int64
			for b.Loop() {
				g := newGossipSim(b, tc.n, 1)
				for j := range tc.k {
					g.set(b, g.rng.IntN(tc.n), fmt.Sprintf("cluster/member/%05d", j), "meta")
				}
				rounds += int64(g.run(b, 100))
				bytes += g.bytes
			}
			b.ReportMetric(float64(rounds)/float64(b.N), "rounds")
			b.ReportMetric(float64(bytes)/float64(b.N)/float64(tc.n), "B/store")
		})
	}
}

// TestGossipSurvives90PercentLoss: 1000 stores converge on K topics; 90% of
// them die at once; the survivors, still picking peers among all 1000 (a
// round with a dead one is lost), write new topics and overwrite old ones,
// and must converge to identical contents holding every write. Run
// without message loss and with 10% of messages lost as well.
func TestGossipSurvives90PercentLoss(t *testing.T) {
	for _, loss := range []float64{0, 0.1} {
		t.Run(fmt.Sprintf("msgloss=%.0f%%", loss*100), func(t *testing.T) {
			const n, k = 1000, 300
			g := newGossipSim(t, n, 90)
			want := map[string]string{}
			for j := range k {
				topic, v := fmt.Sprintf("cluster/t/%04d", j), fmt.Sprint("v0-", j)
				g.set(t, g.rng.IntN(n), topic, v)
				want[topic] = v
			}
			before := g.run(t, 100)
			perm := g.rng.Perm(n)
			for _, i := range perm[n/10:] {
				g.dead[i] = true
			}
			live := perm[:n/10]
			// Writes after the loss: 50 new topics and 50 overwrites, at
			// random survivors.
			for j := range 100 {
				topic := fmt.Sprintf("cluster/after/%04d", j)
				if j%2 == 1 {
					topic = fmt.Sprintf("cluster/t/%04d", g.rng.IntN(k))
				}
				v := fmt.Sprint("v1-", j)
				g.set(t, live[g.rng.IntN(len(live))], topic, v)
				want[topic] = v
			}
			g.loss = loss
			r0, b0 := g.rounds, g.bytes
			after := g.run(t, 200)
			g.checkHas(t, want)
			t.Logf("N=%d K=%d msgloss %.0f%%: converged in %d rounds; killed %d; %d survivors converged with %d post-loss writes in %d rounds (%.1f KiB per survivor)",
				n, k, loss*100, before, n-len(live), len(live), 100, after, float64(g.bytes-b0)/1024/float64(len(live)))
			_ = r0
		})
	}
}
