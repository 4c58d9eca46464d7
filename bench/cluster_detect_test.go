package bench

// Collective 2. Dead-node detection: three memberships (host/member) over
// meshes on loopback, as host/cluster wires them; one node falls silent
// without leaving (a mesh filter drops all its traffic, both ways); the
// time is until every other node's Alive() lacks it (Alive counts suspects
// as alive, so this is the time to "dead"). Fresh nodes each trial; the LAN
// settings (probe 500 ms, suspicion multiplier 3) next to Fast (200 ms, 2).

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/p-kernel/p-kernel/host/mesh"
)

const detectTrials = 10

type meshMember struct {
	m *mesh.Mesh
	l *member.List
}

// meshMembers starts n memberships over meshes filtered by cut, all joined
// to the first.
func meshMembers(tb testing.TB, n int, fast bool, cut *cutoff) []meshMember {
	tb.Helper()
	secret := mesh.NewSecret()
	var out []meshMember
	for range n {
		self := new(string)
		m, err := mesh.Listen(context.Background(), mesh.Config{Listen: "127.0.0.1:0", Identity: clKey(),
			Secret: secret, Filter: cut.filter(self), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatal(err)
		}
		*self = m.Addr().String()
		l, err := member.Start(member.Config{ID: m.ID(), Network: cluster.MemberNetwork(m), Fast: fast})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, meshMember{m, l})
	}
	for _, x := range out[1:] {
		if err := x.l.Join(out[0].m.Addr().String()); err != nil {
			tb.Fatal(err)
		}
	}
	for _, x := range out {
		clMust(tb, 20*time.Second, "everyone alive", func() bool { return len(x.l.Alive()) == n })
	}
	return out
}

func stopMembers(ms []meshMember) {
	for _, x := range ms {
		x.l.Shutdown()
		x.m.Close()
	}
}

// detect silences the last of three nodes and returns the time until both
// others hold it dead.
func detect(tb testing.TB, fast bool) time.Duration {
	tb.Helper()
	cut := newCutoff()
	ms := meshMembers(tb, 3, fast, cut)
	defer stopMembers(ms)
	victim := ms[2]
	start := time.Now()
	cut.kill(victim.m.Addr().String())
	clMust(tb, 30*time.Second, "the silent node declared dead", func() bool {
		for _, x := range ms[:2] {
			if x.l.Alive()[victim.m.ID()] {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

func TestClusterDeadDetect(t *testing.T) {
	t.Logf("silent node dead after %v (fast)", detect(t, true))
}

func BenchmarkClusterDeadDetect(b *testing.B) {
	for _, mode := range []struct {
		name string
		fast bool
	}{{"member=lan", false}, {"member=fast", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var ds []time.Duration
			for range b.N {
				for range detectTrials {
					ds = append(ds, detect(b, mode.fast))
				}
			}
			reportTrials(b, "dead-", ds)
		})
	}
}
