package bench

// Collective 1. Failover: three cluster.Cluster nodes over real QUIC on
// loopback; the leader is closed (raft stops without handing over
// leadership; membership says goodbye), or, in the crash variants, cut off
// by a mesh filter (it says nothing, it just falls silent); the time is from
// the start of the Close (or the cut) until a survivor leads and a Propose on it commits (the manifest is
// writable again). Each trial uses a fresh cluster. Fast (raft heartbeat
// and election timeouts 200 ms, membership probes 200 ms) and the LAN
// settings (500 ms, 500 ms) side by side.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/cluster"
)

const failoverTrials = 10

// threeNodes starts a cluster of three voters; cut, if set, filters every
// node's traffic.
func threeNodes(tb testing.TB, fast bool, cut *cutoff) []*cluster.Cluster {
	tb.Helper()
	ctx := context.Background()
	var nodes []*cluster.Cluster
	open := func(join []string, token string) *cluster.Cluster {
		self := new(string)
		cfg := cluster.Config{DataDir: tb.TempDir(), Listen: "127.0.0.1:0", Join: join, Token: token,
			Identity: clKey(), Fast: fast}
		if cut != nil {
			cfg.Filter = cut.filter(self)
		}
		c, err := cluster.Open(ctx, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		*self = c.Addr()
		nodes = append(nodes, c)
		return c
	}
	a := open(nil, "")
	clMust(tb, 10*time.Second, "a first leader", a.IsLeader)
	open([]string{a.Addr()}, a.Token())
	open([]string{a.Addr()}, a.Token())
	clMust(tb, 30*time.Second, "three voters", func() bool { return a.Info().Consensus.Voters == 3 })
	for _, n := range nodes {
		clMust(tb, 10*time.Second, "three alive", func() bool { return len(n.Alive()) == 3 })
	}
	// A settled cluster: the three-voter configuration is committed on
	// every node (a write after it is applied everywhere). Killing the
	// leader while its newest configuration is still only in its own log
	// is a real quorum loss by raft's rules (the survivors' configuration
	// may need the dead node's vote), which only the re-form resolves;
	// that is not what failover measures.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Propose(ctx, clSet(-1)); err != nil {
		tb.Fatalf("settle: %v", err)
	}
	for _, n := range nodes {
		clMust(tb, 10*time.Second, "the settling write everywhere", func() bool {
			return n.Manifest().Settings["bench"] == "-1" && n.Info().Consensus.Voters == 3
		})
	}
	return nodes
}

// closeCluster closes the nodes in parallel and waits.
func closeCluster(nodes []*cluster.Cluster) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}

// failover kills the leader of a fresh cluster and returns the time until
// the manifest is writable again.
func failover(tb testing.TB, fast, crash bool) time.Duration {
	tb.Helper()
	var cut *cutoff // only the crash variants filter (filtering costs a little)
	if crash {
		cut = newCutoff()
	}
	nodes := threeNodes(tb, fast, cut)
	defer closeCluster(nodes)
	// Leadership may have moved while the others joined (a loaded host
	// misses a heartbeat now and then): take whoever leads now.
	var leader *cluster.Cluster
	clMust(tb, 10*time.Second, "a leader before the kill", func() bool {
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	var survivors []*cluster.Cluster
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	start := time.Now()
	if crash {
		cut.kill(leader.Addr()) // silent: no goodbye, links time out
	} else {
		go leader.Close()
	}
	var elected *cluster.Cluster
	clMust(tb, 30*time.Second, "a new leader", func() bool {
		for _, n := range survivors {
			if n.IsLeader() {
				elected = n
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := elected.Propose(ctx, clSet(1)); err != nil {
		tb.Fatalf("write after failover: %v", err)
	}
	return time.Since(start)
}

func TestClusterFailover(t *testing.T) {
	t.Logf("failover (fast) in %v", failover(t, true, false))
}

func BenchmarkClusterFailover(b *testing.B) {
	for _, mode := range []struct {
		name        string
		fast, crash bool
	}{{"raft=fast", true, false}, {"raft=lan", false, false}, {"raft=fast/crash", true, true}, {"raft=lan/crash", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			var ds []time.Duration
			for range b.N {
				for range failoverTrials {
					ds = append(ds, failover(b, mode.fast, mode.crash))
				}
			}
			reportTrials(b, "failover-", ds)
		})
	}
}
