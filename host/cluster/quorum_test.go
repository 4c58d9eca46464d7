package cluster

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/consensus"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/replica"
)

// partition is a switchboard of cut links between test nodes.
type partition struct {
	mu    sync.Mutex
	group map[string]int // mesh port -> group; different groups cannot talk
	ports map[*Cluster]string
}

func (p *partition) filter(self *string) func(net.Addr) bool {
	return func(a net.Addr) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, port, _ := net.SplitHostPort(a.String())
		_, mine, _ := net.SplitHostPort(*self)
		g1, ok1 := p.group[port]
		g2, ok2 := p.group[mine]
		return !ok1 || !ok2 || g1 == g2
	}
}

func (p *partition) set(groups map[*Cluster]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.group = map[string]int{}
	for c, g := range groups {
		_, port, _ := net.SplitHostPort(c.Addr())
		p.group[port] = g
	}
}

// freeAddr reserves a loopback UDP address (so a node's own address is
// known before it starts, for its filter).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().String()
}

func openP(t *testing.T, p *partition, join []string, token string) *Cluster {
	t.Helper()
	self := freeAddr(t)
	c, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: self, Join: join, Token: token,
		Identity: newKey(), Fast: true, Filter: p.filter(&self), ReformAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// threeVoters starts a leader a and two joiners, and waits until all three
// vote.
func threeVoters(t *testing.T, p *partition) (a, b, c *Cluster) {
	t.Helper()
	a = openP(t, p, nil, "")
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	b = openP(t, p, []string{a.Addr()}, a.Token())
	c = openP(t, p, []string{a.Addr()}, a.Token())
	eventually(t, 15*time.Second, "3 voters", func() bool { return a.Info().Consensus.Voters == 3 })
	return a, b, c
}

func write(t *testing.T, c *Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := manifest.Command{Op: manifest.OpDeploy, Name: name, Version: strings.Repeat("a", 64),
		Clock: manifest.Clock{Wall: time.Now().UnixMilli(), Node: c.ID()}}
	if err := c.Propose(ctx, cmd); err != nil {
		t.Fatalf("write %s on %s: %v", name, c.ID(), err)
	}
}

func has(c *Cluster, names ...string) bool {
	m := c.Manifest()
	for _, n := range names {
		if m.Modules[n] == nil {
			return false
		}
	}
	return true
}

// TestPartitionReformAndMerge: a node cut off from the other two cannot
// tell the partition from their death, re-forms a cluster of one and takes
// writes; the majority side takes writes too; when the partition heals the
// two sides merge into one cluster (the bigger side wins) and every
// acknowledged write from both sides is in the manifest.
func TestPartitionReformAndMerge(t *testing.T) {
	p := &partition{}
	a, b, c := threeVoters(t, p)
	all := []*Cluster{a, b, c}
	write(t, b, "before")
	for _, n := range all {
		eventually(t, 5*time.Second, "replication", func() bool { return has(n, "before") })
	}

	p.set(map[*Cluster]int{a: 1, b: 1, c: 2})
	write(t, a, "majority-side")
	deadline := time.Now().Add(30 * time.Second)
	for !(c.cons.IsLeader() && c.Reforms() == 1) {
		if time.Now().After(deadline) {
			in := c.Info()
			t.Fatalf("c did not re-form: reforms=%d leader=%q state=%s members=%+v servers=%+v", in.Reforms, in.Leader, in.Consensus.State, in.Members, in.Consensus.Servers)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !has(c, "before") {
		t.Fatal("c lost an entry it had")
	}
	write(t, c, "minority-side")
	if a.CID() == c.CID() {
		t.Fatal("the two sides share a consensus id")
	}

	p.set(map[*Cluster]int{a: 1, b: 1, c: 1})
	eventually(t, 60*time.Second, "one cluster again", func() bool {
		return c.CID() == a.CID() && len(a.Alive()) == 3 && a.Info().Consensus.Voters == 3
	})
	for _, n := range all {
		eventually(t, 20*time.Second, n.ID()+" to hold both sides' writes", func() bool {
			return has(n, "before", "majority-side", "minority-side")
		})
	}
	leaders := 0
	for _, n := range all {
		if n.cons.IsLeader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders after the merge", leaders)
	}
}

// TestSoleSurvivorReforms: two of three nodes die; the survivor becomes a
// working cluster of one with everything it had.
func TestSoleSurvivorReforms(t *testing.T) {
	p := &partition{}
	a, b, c := threeVoters(t, p)
	write(t, a, "acked")
	eventually(t, 5*time.Second, "c has it", func() bool { return has(c, "acked") })
	a.Close()
	b.Close()
	eventually(t, 30*time.Second, "c to lead alone", c.cons.IsLeader)
	if !has(c, "acked") {
		t.Fatal("an acknowledged entry on the survivor was lost")
	}
	write(t, c, "after")
}

// TestClusterTopicsConverge: values written on both sides of a partition
// converge everywhere after the heal; a large value travels too.
func TestClusterTopicsConverge(t *testing.T) {
	p := &partition{}
	var mu sync.Mutex
	seen := map[string]map[string]string{}
	open := func(join []string, token string) *Cluster {
		self := freeAddr(t)
		c, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: self, Join: join, Token: token,
			Identity: newKey(), Fast: true, Filter: p.filter(&self), ReformAfter: time.Hour,
			TopicChanged: func(topic string, v []byte, _ bool) {
				mu.Lock()
				defer mu.Unlock()
				if seen[self] == nil {
					seen[self] = map[string]string{}
				}
				seen[self][topic] = string(v)
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := open(nil, "")
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	b := open([]string{a.Addr()}, a.Token())
	c := open([]string{a.Addr()}, a.Token())
	all := []*Cluster{a, b, c}
	eventually(t, 10*time.Second, "3 alive", func() bool { return len(a.Alive()) == 3 && len(c.Alive()) == 3 })
	big := strings.Repeat("x", 3<<20)
	a.SetTopic("big", []byte(big))
	p.set(map[*Cluster]int{a: 1, b: 1, c: 2})
	a.SetTopic("t", []byte("left"))
	time.Sleep(50 * time.Millisecond)
	c.SetTopic("t", []byte("right, later"))
	c.SetTopic("only-c", []byte("c"))
	eventually(t, 20*time.Second, "b to get the left side's write during the partition", func() bool {
		v, _ := b.TopicValue("t")
		return string(v) == "left"
	})
	p.set(map[*Cluster]int{a: 1, b: 1, c: 1})
	for _, n := range all {
		eventually(t, 30*time.Second, n.ID()+" to converge", func() bool {
			v, _ := n.TopicValue("t")
			o, _ := n.TopicValue("only-c")
			bg, _ := n.TopicValue("big")
			return string(v) == "right, later" && string(o) == "c" && len(bg) == len(big)
		})
	}
	// The host hears of a change just after the store has it (once it is
	// on disk), so the report may trail the value a little.
	eventually(t, 5*time.Second, "the changes reported to the host", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[a.Addr()]["t"] == "right, later" && seen[b.Addr()]["only-c"] == "c"
	})
}

// TestNodeMovesToNewPort: a voter restarts from its data directory on
// another port; the leader records its new address, it catches up, and it
// still counts for quorum once the old leader is gone.
func TestNodeMovesToNewPort(t *testing.T) {
	p := &partition{}
	a, b, c := threeVoters(t, p)
	write(t, a, "before")
	eventually(t, 5*time.Second, "b has it", func() bool { return has(b, "before") })

	dir, key, oldAddr := b.cfg.DataDir, b.cfg.Identity, b.Addr()
	b.Close()
	self := freeAddr(t)
	b, err := Open(context.Background(), Config{DataDir: dir, Listen: self, Join: []string{a.Addr()},
		Identity: key, Fast: true, Filter: p.filter(&self), ReformAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Addr() == oldAddr {
		t.Fatalf("b came back on its old address %s", oldAddr)
	}
	eventually(t, 20*time.Second, "raft to record b's new address", func() bool {
		for _, s := range a.cons.Servers() {
			if s.ID == b.ID() {
				return s.Address == b.Addr() && s.Voter
			}
		}
		return false
	})
	write(t, a, "moved")
	eventually(t, 10*time.Second, "b to catch up", func() bool { return has(b, "moved") })

	// b and c must now make a quorum without a: c reaches b only at its
	// new address.
	a.Close()
	eventually(t, 20*time.Second, "a leader among b and c", func() bool { return b.cons.IsLeader() || c.cons.IsLeader() })
	if b.Reforms()+c.Reforms() != 0 {
		t.Fatal("b and c re-formed consensus instead of electing a leader: quorum was lost")
	}
	write(t, c, "after")
	eventually(t, 10*time.Second, "b has it", func() bool { return has(b, "after") })
}

// TestClusterTopicsSurviveRestart: every node stops; a node started again
// alone has its own writes and the ones it learnt from peers, with their
// versions (an older value does not come back over a newer one).
func TestClusterTopicsSurviveRestart(t *testing.T) {
	p := &partition{}
	a := openP(t, p, nil, "")
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	b := openP(t, p, []string{a.Addr()}, a.Token())
	if err := a.WriteTopic("from-a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteTopic("from-b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	a.SetTopic("gone", []byte("x"))
	if _, err := a.topics.Delete("gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b to learn a's topic", func() bool { _, ok := b.TopicValue("from-a"); return ok })
	// b may have stored "gone" before the deletion reached it (the write
	// starts a gossip round at once, the deletion waits for the next one):
	// wait until it holds the tombstone, which is what must survive.
	eventually(t, 10*time.Second, "b to learn the deletion", func() bool { e, ok := b.topics.Get("gone"); return ok && e.Deleted })
	dir, key := b.cfg.DataDir, b.cfg.Identity
	a.Close()
	b.Close()

	got := map[string]string{}
	self := freeAddr(t)
	b, err := Open(context.Background(), Config{DataDir: dir, Listen: self, Identity: key, Fast: true,
		Filter: p.filter(&self), ReformAfter: time.Hour,
		TopicChanged: func(topic string, v []byte, _ bool) { got[topic] = string(v) }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for topic, want := range map[string]string{"from-a": "1", "from-b": "2"} {
		if v, ok := b.TopicValue(topic); !ok || string(v) != want {
			t.Errorf("after restart %s = %q, %v; want %q", topic, v, ok, want)
		}
		if got[topic] != want {
			t.Errorf("restored %s delivered as %q, want %q", topic, got[topic], want)
		}
	}
	if v, ok := b.TopicValue("gone"); ok {
		t.Errorf("a deleted topic came back: %q", v)
	}
	// A write after the restart is newer than anything restored.
	if err := b.WriteTopic("from-a", []byte("3")); err != nil {
		t.Fatal(err)
	}
	e, _ := b.topics.Get("from-a")
	if string(e.Value) != "3" {
		t.Fatalf("a write after the restart lost to a restored version: %q", e.Value)
	}
}

func TestTopicRecordRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {2, 0, 0}, {0, 0, 50, 1}, {0, 0, 1, 0}} {
		if _, err := decodeEntry("t", b); err == nil {
			t.Errorf("decodeEntry(%v) accepted", b)
		}
	}
}

func FuzzTopicRecord(f *testing.F) {
	e := replica.Entry{Topic: "t", Value: []byte("v"), Version: replica.HLC{Wall: 1, Logical: 2, Node: "n"}}
	b, _ := encodeEntry(e)
	f.Add(b)
	e.Deleted, e.Value = true, nil
	b, _ = encodeEntry(e)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry("t", b)
		if err != nil {
			return
		}
		again, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		e2, err := decodeEntry("t", again)
		if err != nil || e2.Version != e.Version || e2.Deleted != e.Deleted || string(e2.Value) != string(e.Value) {
			t.Fatalf("round trip changed the entry: %+v vs %+v (%v)", e, e2, err)
		}
	})
}

// TestLeaderAdoptsStrays: a leader whose raft configuration lost live
// members of its own cluster (a re-form decided on a picture that lacked
// them) takes them back, and they vote again.
func TestLeaderAdoptsStrays(t *testing.T) {
	p := &partition{}
	a, b, c := threeVoters(t, p)
	write(t, a, "before")
	// What the survivors of a lost quorum do when their pictures differ:
	// each re-forms with a as the only voter, b and c each list
	// themselves as non-voters, a lists no one.
	av := consensus.Server{ID: a.ID(), Address: a.Addr()}
	for _, n := range []*Cluster{b, c} {
		if err := n.cons.Recover(av, []consensus.Server{{ID: n.ID(), Address: n.Addr()}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.cons.Recover(av, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a to lead alone", func() bool { return a.cons.IsLeader() })
	eventually(t, 30*time.Second, "b and c back as voters", func() bool {
		return a.Info().Consensus.Voters == 3
	})
	write(t, a, "after")
	eventually(t, 10*time.Second, "b and c to have the write", func() bool { return has(b, "after") && has(c, "after") })
}
