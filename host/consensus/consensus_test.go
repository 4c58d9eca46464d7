package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/tests/syncbuf"
)

type tnode struct {
	id string
	c  *Consensus
}

func start(t *testing.T, id string, bootstrap bool, maxVoters int, alive func() map[string]bool) *tnode {
	t.Helper()
	return startLogged(t, id, bootstrap, maxVoters, alive, nil)
}

func startLogged(t *testing.T, id string, bootstrap bool, maxVoters int, alive func() map[string]bool, log *slog.Logger) *tnode {
	t.Helper()
	l, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	layer := func() (StreamLayer, error) {
		if l != nil {
			first := l
			l = nil
			return first, nil
		}
		return ListenTCP(addr)
	}
	c, err := Open(Config{ID: id, Addr: addr, Dir: t.TempDir(), Layer: layer, Bootstrap: bootstrap,
		MaxVoters: maxVoters, Fast: true, DeadAfter: time.Second, Alive: alive, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &tnode{id, c}
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaderOf(nodes []*tnode) *tnode {
	for _, n := range nodes {
		if n != nil && n.c.IsLeader() {
			return n
		}
	}
	return nil
}

// liveness is a membership stub: who the housekeeping thinks is alive.
type liveness struct {
	mu  sync.Mutex
	set map[string]bool
}

func newLiveness(ids ...string) *liveness {
	l := &liveness{set: map[string]bool{}}
	for _, id := range ids {
		l.set[id] = true
	}
	return l
}

func (l *liveness) alive() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for k, v := range l.set {
		out[k] = v
	}
	return out
}

func (l *liveness) kill(id string) {
	l.mu.Lock()
	l.set[id] = false
	l.mu.Unlock()
}

func deploy(name string, v byte, node string) manifest.Command {
	return manifest.Command{Op: manifest.OpDeploy, Name: name, Version: strings.Repeat(string(v), 64),
		Clock: manifest.Clock{Wall: time.Now().UnixMilli(), Node: node}}
}

// TestClusterOfThree: bootstrap, join as non-voters, promotion, replicated
// manifest, leader loss and a new leader that accepts writes.
func TestClusterOfThree(t *testing.T) {
	liveness := newLiveness("n1", "n2", "n3")
	alive := liveness.alive
	n1 := start(t, "n1", true, 3, alive)
	eventually(t, 5*time.Second, "n1 to lead", n1.c.IsLeader)
	n2 := start(t, "n2", false, 3, alive)
	n3 := start(t, "n3", false, 3, alive)
	nodes := []*tnode{n1, n2, n3}
	for _, n := range nodes[1:] {
		if err := n1.c.AddNonvoter(n.id, n.c.cfg.Addr); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "three voters", func() bool { return n1.c.Info().Voters == 3 })
	ctx := context.Background()
	if err := n2.c.Propose(ctx, deploy("x", 'a', "n2")); err != ErrNotLeader {
		t.Fatalf("follower propose = %v", err)
	}
	if err := n1.c.Propose(ctx, deploy("vital", 'a', "n1")); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, n.id+" to apply", func() bool { return n.c.Manifest().Modules["vital"] != nil })
	}
	// Kill the leader: a new one is elected among the survivors and
	// deploys work again.
	n1.c.Close()
	liveness.kill("n1")
	nodes[0] = nil
	var l *tnode
	eventually(t, 10*time.Second, "a new leader", func() bool { l = leaderOf(nodes); return l != nil })
	if err := l.c.Propose(ctx, deploy("vital", 'b', l.id)); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		eventually(t, 5*time.Second, n.id+" to apply v2", func() bool {
			m := n.c.Manifest().Modules["vital"]
			return m != nil && m.Generation == 2
		})
	}
	in := l.c.Info()
	if in.Term < 2 || in.Leader != l.id {
		t.Fatalf("info %+v", in)
	}
	for _, n := range nodes[1:] {
		n.c.Close()
	}
}

// TestCloseHandsOver: a leader that is closed hands leadership to another
// voter first (a planned stop costs no election timeout); a follower that
// is closed just leaves. The survivors keep a leader that takes writes.
func TestCloseHandsOver(t *testing.T) {
	liveness := newLiveness("n1", "n2", "n3")
	logs := map[string]*syncbuf.Buffer{}
	nodes := make([]*tnode, 3)
	for i, id := range []string{"n1", "n2", "n3"} {
		logs[id] = &syncbuf.Buffer{}
		nodes[i] = startLogged(t, id, i == 0, 3, liveness.alive, slog.New(slog.NewTextHandler(logs[id], nil)))
		if i == 0 {
			eventually(t, 5*time.Second, "n1 to lead", nodes[0].c.IsLeader)
			continue
		}
		if err := nodes[0].c.AddNonvoter(id, nodes[i].c.cfg.Addr); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "three voters", func() bool { return nodes[0].c.Info().Voters == 3 })
	leader := leaderOf(nodes)
	leader.c.Close()
	if got := logs[leader.id].String(); !strings.Contains(got, "leadership handed over on close") {
		t.Fatalf("the closed leader did not hand over:\n%s", got)
	}
	var rest []*tnode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	var l *tnode
	eventually(t, 5*time.Second, "the successor to lead", func() bool { l = leaderOf(rest); return l != nil })
	if err := l.c.Propose(context.Background(), deploy("vital", 'c', l.id)); err != nil {
		t.Fatal(err)
	}
	for _, n := range rest {
		if n != l {
			n.c.Close()
			if strings.Contains(logs[n.id].String(), "handed over") || strings.Contains(logs[n.id].String(), "handover") {
				t.Fatalf("a closed follower tried to hand over: %s", logs[n.id].String())
			}
		}
	}
	l.c.Close()
}

// TestDeadVoterReplaced: with MaxVoters 3 and a spare non-voter, a voter
// reported dead is removed and the spare promoted, keeping three voters.
func TestDeadVoterReplaced(t *testing.T) {
	liveness := newLiveness("a", "b", "c", "d")
	alive := liveness.alive
	a := start(t, "a", true, 3, alive)
	defer a.c.Close()
	eventually(t, 5*time.Second, "a to lead", a.c.IsLeader)
	others := map[string]*tnode{}
	for _, id := range []string{"b", "c"} {
		others[id] = start(t, id, false, 3, alive)
		a.c.AddNonvoter(id, others[id].c.cfg.Addr)
	}
	eventually(t, 10*time.Second, "three voters", func() bool { return a.c.Info().Voters == 3 })
	d := start(t, "d", false, 3, alive)
	defer d.c.Close()
	defer others["b"].c.Close()
	a.c.AddNonvoter("d", d.c.cfg.Addr)
	time.Sleep(time.Second)
	if v := a.c.Info().Voters; v != 3 {
		t.Fatalf("%d voters with MaxVoters 3", v)
	}
	others["c"].c.Close()
	liveness.kill("c")
	eventually(t, 15*time.Second, "d to replace c", func() bool {
		voters := 0
		for _, s := range a.c.Servers() {
			if s.ID == "c" {
				return false
			}
			if s.Voter {
				voters++
			}
		}
		return voters == 3
	})
}

// TestRecoverSoleSurvivor: after losing two of three voters, the survivor
// re-forms consensus as a cluster of one and keeps every entry it had.
func TestRecoverSoleSurvivor(t *testing.T) {
	a := start(t, "a", true, 3, nil)
	eventually(t, 5*time.Second, "a to lead", a.c.IsLeader)
	b := start(t, "b", false, 3, nil)
	c := start(t, "c", false, 3, nil)
	a.c.AddNonvoter("b", b.c.cfg.Addr)
	a.c.AddNonvoter("c", c.c.cfg.Addr)
	eventually(t, 10*time.Second, "three voters", func() bool { return a.c.Info().Voters == 3 })
	ctx := context.Background()
	for i := range 5 {
		if err := a.c.Propose(ctx, deploy(fmt.Sprint("m", i), 'a', "a")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "c to apply", func() bool { return len(c.c.Manifest().Modules) == 5 })
	a.c.Close()
	b.c.Close()
	eventually(t, 5*time.Second, "c to notice the lost leader", func() bool { l, _ := c.c.Leader(); return l == "" })
	term, index := c.c.LastLog()
	if index == 0 || term == 0 {
		t.Fatalf("last log %d/%d", term, index)
	}
	if err := c.c.Recover(Server{ID: "c", Address: c.c.cfg.Addr}, nil); err != nil {
		t.Fatal(err)
	}
	defer c.c.Close()
	eventually(t, 5*time.Second, "c to lead alone", c.c.IsLeader)
	if n := len(c.c.Manifest().Modules); n != 5 {
		t.Fatalf("after recovery the manifest has %d modules, want 5", n)
	}
	if err := c.c.Propose(ctx, deploy("after", 'b', "c")); err != nil {
		t.Fatal(err)
	}
	if in := c.c.Info(); in.Voters != 1 || in.Leader != "c" {
		t.Fatalf("info %+v", in)
	}
}
