package pfshost

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

func TestGCMemory(t *testing.T) {
	m := gcMemory{path: filepath.Join(t.TempDir(), "gc-seen")}
	if seen, err := m.LoadSeen(); err != nil || seen != nil {
		t.Fatalf("no file: %v %v, want nothing", seen, err)
	}
	a, b := cid.Sum([]byte("a")), cid.Sum([]byte("b"))
	want := map[string]map[cid.ID]time.Duration{
		"n0": {a: 40 * time.Minute, b: 0},
		"n1": {a: 90 * time.Second},
	}
	if err := m.SaveSeen(want); err != nil {
		t.Fatal(err)
	}
	got, err := m.LoadSeen()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %v %v, want %v", got, err, want)
	}
	// A damaged file is an error (the volume logs it and starts the
	// grace over), never a panic or a made-up age.
	for _, bad := range []string{"n0\n", "n0 xyz 10\n", "n0 " + a.String() + " -5\n", "n0 " + a.String() + " 1e9\n"} {
		if err := os.WriteFile(m.path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if seen, err := m.LoadSeen(); err == nil {
			t.Errorf("LoadSeen of %q: %v, want an error", bad, seen)
		}
	}
}

func FuzzParseSeen(f *testing.F) {
	f.Add(formatSeen(map[string]map[cid.ID]time.Duration{"n0": {cid.Sum(nil): time.Hour}}))
	f.Add([]byte("n0 x 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		seen, err := parseSeen(b)
		if err != nil {
			return
		}
		// What parses formats back to something that parses the same.
		again, err := parseSeen(formatSeen(seen))
		if err != nil || !reflect.DeepEqual(again, seen) {
			t.Fatalf("reparse: %v %v, want %v", again, err, seen)
		}
	})
}
