package bench

// Collective 3. Raft commit latency and throughput: host/consensus with
// three voters (bolt log on disk, as in production) over the mesh's QUIC
// streams (the stream layer of host/cluster) against the same raft over
// plain TCP (consensus.ListenTCP). Commands are small settings. Latency:
// sequential Propose on the leader, p50/p99; throughput: 8 goroutines
// proposing at once.

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/host/consensus"
	"github.com/p-kernel/p-kernel/host/mesh"
)

// raftTrio starts three voters over "quic" or "tcp" and returns the leader.
func raftTrio(tb testing.TB, layer string) *consensus.Consensus {
	tb.Helper()
	secret := mesh.NewSecret()
	var nodes []*consensus.Consensus
	for i := range 3 {
		var addr string
		var mk func() (consensus.StreamLayer, error)
		switch layer {
		case "quic":
			m, err := mesh.Listen(context.Background(), mesh.Config{Listen: "127.0.0.1:0", Identity: clKey(),
				Secret: secret, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { m.Close() })
			addr = m.Addr().String()
			mk = func() (consensus.StreamLayer, error) {
				return cluster.RaftLayer(m), nil
			}
		default:
			l, err := consensus.ListenTCP("127.0.0.1:0")
			if err != nil {
				tb.Fatal(err)
			}
			addr = l.Addr().String()
			mk = func() (consensus.StreamLayer, error) {
				if l != nil {
					first := l
					l = nil
					return first, nil
				}
				return consensus.ListenTCP(addr)
			}
		}
		c, err := consensus.Open(consensus.Config{ID: "n" + string(rune('0'+i)), Addr: addr, Dir: tb.TempDir(),
			Layer: mk, Bootstrap: i == 0, MaxVoters: 3, Fast: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		nodes = append(nodes, c)
		if i == 0 {
			clMust(tb, 10*time.Second, "n0 to lead", c.IsLeader)
		} else if err := nodes[0].AddNonvoter("n"+string(rune('0'+i)), addr); err != nil {
			tb.Fatal(err)
		}
	}
	clMust(tb, 20*time.Second, "three voters", func() bool { return nodes[0].Info().Voters == 3 })
	return nodes[0]
}

func TestClusterRaft(t *testing.T) {
	for _, layer := range []string{"quic", "tcp"} {
		l := raftTrio(t, layer)
		for i := range 10 {
			if err := l.Propose(context.Background(), clSet(i)); err != nil {
				t.Fatalf("%s: %v", layer, err)
			}
		}
	}
}

func BenchmarkClusterRaft(b *testing.B) {
	for _, layer := range []string{"quic", "tcp"} {
		b.Run("layer="+layer+"/seq", func(b *testing.B) {
			l := raftTrio(b, layer)
			ctx := context.Background()
			var ds []time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if err := l.Propose(ctx, clSet(i)); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
				i++
			}
			reportLatency(b, ds)
		})
		b.Run("layer="+layer+"/par8", func(b *testing.B) {
			l := raftTrio(b, layer)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(8 / max(1, gomaxprocs()))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Propose(ctx, clSet(int(n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "commits/s")
		})
	}
}
