package cluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// cut blocks the direct path between two sets of addresses.
type cut struct {
	mu      sync.Mutex
	blocked map[[2]string]bool
}

func (c *cut) filter(self *string) func(net.Addr) bool {
	return func(a net.Addr) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.blocked[[2]string{*self, a.String()}]
	}
}

func (c *cut) block(x, y string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocked[[2]string{x, y}] = true
	c.blocked[[2]string{y, x}] = true
}

// TestRelay: a and c cannot reach each other, both reach b. Membership,
// raft replication, a write forwarded from c to the leader a, and cluster
// topics all work through b.
func TestRelay(t *testing.T) {
	cu := &cut{blocked: map[[2]string]bool{}}
	open := func(join []string, token string) *Cluster {
		self := freeAddr(t)
		c, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: self, Join: join, Token: token,
			Identity: newKey(), Fast: true, Filter: cu.filter(&self), ReformAfter: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := open(nil, "")
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	b := open([]string{a.Addr()}, a.Token())
	// c exists before the cut so that its address is known; then the
	// direct path a<->c goes away before c joins.
	caddr := freeAddr(t)
	cu.block(a.Addr(), caddr)
	c, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: caddr, Join: []string{b.Addr()}, Token: a.Token(),
		Identity: newKey(), Fast: true, Filter: cu.filter(&caddr), ReformAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 20*time.Second, "c alive everywhere and a voter", func() bool {
		return len(a.Alive()) == 3 && len(c.Alive()) == 3 && a.Info().Consensus.Voters == 3
	})
	write(t, c, "from-c")
	eventually(t, 10*time.Second, "a and c to hold it", func() bool { return has(a, "from-c") && has(c, "from-c") })
	c.SetTopic("relay/t", []byte("through b"))
	eventually(t, 10*time.Second, "a to get c's topic", func() bool {
		v, _ := a.TopicValue("relay/t")
		return string(v) == "through b"
	})
	if a.Relayed()+c.Relayed() == 0 {
		t.Fatal("nothing went through the relay")
	}
	t.Logf("relayed streams: a %d, c %d", a.Relayed(), c.Relayed())
}
