package bench

// Collective 5. Gossip convergence against cluster size: N memberships
// (host/member, LAN settings) on host/member's in-memory network; all N
// start, then all but the seed join it at once; the time is from the first
// Join until every node sees all N alive. No baseline: the curve against N
// is the result (SWIM should grow about logarithmically, plus the cost of
// running N memberlists on two cores). N = 200 did not converge within two
// minutes on the 2-core test machine and is left out.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/member"
)

func converge(tb testing.TB, n int) time.Duration {
	tb.Helper()
	h := newHub()
	lists := make([]*member.List, n)
	for i := range n {
		l, err := member.Start(member.Config{ID: fmt.Sprintf("n%03d", i), Network: h.add(20000 + i)})
		if err != nil {
			tb.Fatal(err)
		}
		lists[i] = l
	}
	defer func() {
		for _, l := range lists {
			l.Shutdown()
		}
	}()
	seed := lists[0].Members()[0].Address
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range lists[1:] {
		wg.Go(func() {
			if err := l.Join(seed); err != nil {
				tb.Error(err)
			}
		})
	}
	ok := clWait(2*time.Minute, func() bool {
		for _, l := range lists {
			if l.NumAlive() != n {
				return false
			}
		}
		return true
	})
	d := time.Since(start)
	wg.Wait()
	if !ok {
		tb.Fatalf("n=%d: not converged after %v", n, d)
	}
	return d
}

func TestClusterGossip(t *testing.T) {
	t.Logf("n=10 converged in %v", converge(t, 10))
}

func BenchmarkClusterGossip(b *testing.B) {
	for _, n := range []int{10, 50, 100} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var ds []time.Duration
			for range b.N {
				ds = append(ds, converge(b, n))
			}
			reportTrials(b, "converge-", ds)
		})
	}
}
