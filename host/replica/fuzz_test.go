package replica

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzDecode from sampleMessages")

// FuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformed, and that whatever it accepts encodes and decodes again to
// the same message. The corpus in testdata/fuzz/FuzzDecode holds encoded
// real messages (go test -run TestFuzzSeeds -write-fuzz-seeds rewrites it).
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := Decode(again)
		if err != nil || !equalMessages(m, m2) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
		// Handling an accepted message must not fail or panic either.
		s := newStore(t, "fuzz")
		s.Set("topic/1", []byte("v"), at(0))
		if _, _, err := s.Handle(m); err != nil {
			t.Fatalf("Handle of a decoded message: %v", err)
		}
	})
}

// TestFuzzSeeds keeps the checked-in corpus in step with the format: every
// seed file must still decode.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *writeSeeds {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, m := range sampleMessages(t) {
			b, _ := m.MarshalBinary()
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("round-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "round-*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds in %s (%v)", dir, err)
	}
}
