package pid1

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestUpdateCommitted(t *testing.T) {
	s := &BootState{}
	if k, _ := s.BaseBoot(); k != "" {
		t.Fatalf("fresh machine chain-loads %q", k)
	}
	if err := s.Begin("B"); err != nil {
		t.Fatal(err)
	}
	// B boots (kexec, pk.try=B) and reports healthy.
	if n := s.Healthy("B"); n == "" || s.Committed != "B" || s.Trying != "" {
		t.Fatalf("after healthy: %+v", s)
	}
	// Next cold boot: the base image chain-loads B.
	if k, _ := s.BaseBoot(); k != "B" || s.Boots != 1 {
		t.Fatalf("cold boot: kexec %q, %+v", k, s)
	}
	s.Healthy("B")
	if s.Boots != 0 {
		t.Fatalf("boots not reset: %+v", s)
	}
}

func TestUpdateFallback(t *testing.T) {
	s := &BootState{Committed: "A2"}
	s.Begin("B")
	// B never reports healthy; its pid1 reboots (or the machine is reset):
	// the base image boots and finds the trial open.
	k, note := s.BaseBoot()
	if k != "A2" || note == "" || s.Trying != "" || len(s.Failed) != 1 || s.Failed[0] != "B" {
		t.Fatalf("fallback: kexec %q note %q state %+v", k, note, s)
	}
	if err := s.Begin("B"); !errors.Is(err, ErrFailedBefore) {
		t.Fatalf("retrying a failed image: %v", err)
	}
	if err := s.Begin("C"); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateBootCounter(t *testing.T) {
	s := &BootState{Committed: "B"}
	for i := 0; i < MaxBoots; i++ {
		if k, _ := s.BaseBoot(); k != "B" {
			t.Fatalf("boot %d: kexec %q", i, k)
		}
		// B crashes before reporting healthy, every time.
	}
	k, note := s.BaseBoot()
	if k != "" || note == "" || s.Committed != "" {
		t.Fatalf("after %d failed boots: kexec %q note %q %+v", MaxBoots, k, note, s)
	}
}

func TestBootStateFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "boot", "state.json")
	s, err := LoadBootState(p)
	if err != nil || s.Committed != "" {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	s.Begin("B")
	s.Healthy("B")
	if err := s.Save(p); err != nil {
		t.Fatal(err)
	}
	r, err := LoadBootState(p)
	if err != nil || r.Committed != "B" || len(r.History) != 2 {
		t.Fatalf("reloaded %+v %v", r, err)
	}
}
