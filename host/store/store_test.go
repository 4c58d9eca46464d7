package store

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(KV("m"), []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty = %v", err)
	}
	for _, k := range []string{"b", "a", "ab", "c"} {
		if err := s.Put(KV("m"), []byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(KV("other"), []byte("a"), []byte("x"))
	keys, _ := s.Keys(KV("m"), []byte("a"))
	if len(keys) != 2 || string(keys[0]) != "a" || string(keys[1]) != "ab" {
		t.Fatalf("Keys(a) = %q", keys)
	}
	if err := s.Delete(KV("m"), []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(KV("m"), []byte("missing")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Durable: reopen and read back.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(KV("m"), []byte("ab")); err != nil || string(v) != "vab" {
		t.Fatalf("after reopen Get = %q %v", v, err)
	}
	if _, err := s.Get(KV("m"), []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key = %v", err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("second Open of a locked database succeeded")
	}
	s.DropNamespace(KV("m"))
	if keys, _ := s.Keys(KV("m"), nil); len(keys) != 0 {
		t.Fatalf("after drop: %q", keys)
	}
	if v, _ := s.Get(KV("other"), []byte("a")); string(v) != "x" {
		t.Fatal("drop removed another namespace")
	}
}
