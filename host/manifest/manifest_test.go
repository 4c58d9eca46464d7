package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func ver(c byte) string { return strings.Repeat(string(c), 64) }

func clk(wall int64, node string) Clock { return Clock{Wall: wall, Node: node} }

func apply(t *testing.T, s *State, cs ...Command) {
	t.Helper()
	for _, c := range cs {
		if err := s.Apply(c.Encode()); err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
	}
}

func TestDeployCanaryPromoteRollback(t *testing.T) {
	s := New()
	apply(t, s,
		Command{Op: OpDeploy, Name: "vital", Version: ver('a'), Clock: clk(1, "n1")},
		Command{Op: OpDeploy, Name: "vital", Version: ver('b'), Canary: []string{"n2"}, Clock: clk(2, "n1")},
	)
	m := s.Modules["vital"]
	if m.Version != ver('b') || m.Phase != PhaseCanary || m.Generation != 2 || len(m.History) != 1 || m.History[0].Version != ver('a') {
		t.Fatalf("after canary deploy: %+v", m)
	}
	// The canary crash-loops: roll back to the previous active version.
	apply(t, s, Command{Op: OpRollback, Name: "vital", Note: "crash loop on n2", Clock: clk(3, "n2")})
	if m.Version != ver('a') || m.Phase != PhaseActive || m.Generation != 3 {
		t.Fatalf("after rollback: %+v", m)
	}
	if last := m.History[len(m.History)-1]; last.Version != ver('b') || last.Phase != PhaseRolledBack || !strings.Contains(last.Note, "crash loop") {
		t.Fatalf("history %+v", m.History)
	}
	apply(t, s,
		Command{Op: OpDeploy, Name: "vital", Version: ver('c'), Canary: []string{"n3"}, Clock: clk(4, "n1")},
		Command{Op: OpPromote, Name: "vital", Version: ver('c'), Clock: clk(5, "n1")},
	)
	if m.Phase != PhaseActive || m.Canary != nil {
		t.Fatalf("after promote: %+v", m)
	}
	if err := s.Apply(Command{Op: OpPromote, Name: "vital", Clock: clk(6, "n1")}.Encode()); !errors.Is(err, ErrPhase) {
		t.Fatalf("promote of an active version: %v", err)
	}
	apply(t, s, Command{Op: OpRemove, Name: "vital", Clock: clk(7, "n1")})
	if err := s.Apply(Command{Op: OpRollback, Name: "vital", Clock: clk(8, "n1")}.Encode()); !errors.Is(err, ErrNoModule) {
		t.Fatalf("rollback of a removed module: %v", err)
	}
	if s.Index != 8 { // every entry counts, failed ones too (they are in the log)
		t.Fatalf("index %d", s.Index)
	}
}

func TestBadCommands(t *testing.T) {
	s := New()
	for _, b := range [][]byte{
		[]byte("{"), []byte(`{"v":2,"op":"deploy"}`), []byte(`{"v":1,"op":"fly"}`),
		Command{Op: OpDeploy, Name: "x", Version: "short"}.Encode(),
		Command{Op: OpRollback, Name: "missing"}.Encode(),
		Command{Op: OpSet}.Encode(),
		Command{Op: OpPlace, Name: "missing"}.Encode(),
	} {
		if err := s.Apply(b); err == nil {
			t.Errorf("Apply(%s) succeeded", b)
		}
	}
	if len(s.Modules) != 0 || len(s.Settings) != 0 {
		t.Fatalf("bad commands changed the state: %+v", s)
	}
	apply(t, s, Command{Op: OpDeploy, Name: "x", Version: ver('a'), Clock: clk(1, "n")})
	if err := s.Apply(Command{Op: OpRollback, Name: "x"}.Encode()); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("rollback without history: %v", err)
	}
}

func TestDeterministicAndSnapshot(t *testing.T) {
	log := []Command{
		{Op: OpDeploy, Name: "a", Version: ver('1'), Clock: clk(1, "n1")},
		{Op: OpSet, Key: "voters", Value: "3"},
		{Op: OpDeploy, Name: "b", Version: ver('2'), Placement: &Placement{Mode: "guarded", Replicas: 2}, Clock: clk(2, "n2")},
		{Op: OpPlace, Name: "b", Placement: &Placement{Mode: "guarded", Replicas: 2, Nodes: []string{"n1", "n3"}}, Clock: clk(3, "n2")},
		{Op: OpDeploy, Name: "a", Version: ver('3'), Clock: clk(4, "n3")},
	}
	s1, s2 := New(), New()
	apply(t, s1, log...)
	apply(t, s2, log[:2]...)
	r, err := Restore(s2.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, log[2:]...)
	if !bytes.Equal(s1.Snapshot(), r.Snapshot()) {
		t.Fatalf("replay from a snapshot diverged:\n%s\n%s", s1.Snapshot(), r.Snapshot())
	}
	if got := s1.Modules["b"].Placement.Nodes; len(got) != 2 {
		t.Fatalf("placement %v", got)
	}
	if _, err := Restore([]byte("nope")); err == nil {
		t.Fatal("Restore accepted garbage")
	}
}

// TestMergeAfterPartition: both sides of a partition deployed a version of
// the same module; after the heal both converge to the later one and the
// earlier is kept in history, whichever side merges first.
func TestMergeAfterPartition(t *testing.T) {
	base := New()
	apply(t, base, Command{Op: OpDeploy, Name: "m", Version: ver('0'), Clock: clk(1, "n1")})
	left, _ := Restore(base.Snapshot())
	right, _ := Restore(base.Snapshot())
	apply(t, left, Command{Op: OpDeploy, Name: "m", Version: ver('L'), Clock: clk(10, "n1")},
		Command{Op: OpDeploy, Name: "only-left", Version: ver('x'), Clock: clk(11, "n1")})
	apply(t, right, Command{Op: OpDeploy, Name: "m", Version: ver('R'), Clock: clk(12, "n4")},
		Command{Op: OpSet, Key: "k", Value: "right"})

	a, _ := Restore(left.Snapshot())
	a.Merge(right)
	b, _ := Restore(right.Snapshot())
	b.Merge(left)
	a.Index, b.Index = 0, 0
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) {
		t.Fatalf("merge is order-dependent:\n%s\n%s", a.Snapshot(), b.Snapshot())
	}
	m := a.Modules["m"]
	if m.Version != ver('R') {
		t.Fatalf("winner %s, want the later write R", m.Version[:4])
	}
	found := false
	for _, h := range m.History {
		if h.Version == ver('L') && strings.Contains(h.Note, "conflict") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the losing version is not in history: %+v", m.History)
	}
	// The same merge through the log, as the losing side sends it.
	c, _ := Restore(right.Snapshot())
	apply(t, c, Command{Op: OpMerge, Snapshot: left.Snapshot()}, Command{Op: OpMerge, Snapshot: left.Snapshot()})
	c.Index = 0
	if !bytes.Equal(c.Snapshot(), b.Snapshot()) {
		t.Fatalf("OpMerge (applied twice) differs from Merge:\n%s\n%s", c.Snapshot(), b.Snapshot())
	}
	if a.Modules["only-left"] == nil || a.Settings["k"] != "right" {
		t.Fatalf("union lost entries: %+v %+v", a.Modules, a.Settings)
	}
}

func FuzzApply(f *testing.F) {
	f.Add(Command{Op: OpDeploy, Name: "a", Version: ver('1'), Canary: []string{"n"}}.Encode())
	f.Add(Command{Op: OpRollback, Name: "a"}.Encode())
	f.Add(Command{Op: OpPlace, Name: "a", Placement: &Placement{Mode: "guarded"}}.Encode())
	f.Add([]byte(`{"v":1,"op":"set","key":"k","value":"v"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New()
		s.Apply(Command{Op: OpDeploy, Name: "a", Version: ver('0')}.Encode())
		s.Apply(b)
		s.Apply(b)
		if _, err := Restore(s.Snapshot()); err != nil {
			t.Fatalf("snapshot of a state does not restore: %v", err)
		}
	})
}
