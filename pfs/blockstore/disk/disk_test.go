package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/storetest"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

// corrupter flips a byte of a block's file, as a failing disk would.
type corrupter struct{ *Store }

func (c corrupter) Corrupt(id cid.ID) error {
	p := c.Path(id)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		b = []byte{0}
	} else {
		b[len(b)/2] ^= 0x40
	}
	os.Chmod(p, 0o644)
	return os.WriteFile(p, b, 0o644)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return corrupter{s}
	})
}

func TestQuarantineAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("hello blocks")
	id := cid.Sum(b)
	if err := s.Put(t.Context(), id, b); err != nil {
		t.Fatal(err)
	}
	if err := (corrupter{s}).Corrupt(id); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(t.Context(), id)
	var ce *blockstore.CorruptError
	if !errors.As(err, &ce) || filepath.Dir(ce.Path) != filepath.Join(dir, "quarantine") {
		t.Fatalf("Get: %v, want a CorruptError pointing into quarantine/", err)
	}
	if ok, _ := s.Has(t.Context(), id); ok {
		t.Fatal("corrupt block still in place after Get")
	}
	// A temp file left by a crash is removed by Open; the blocks stay.
	if err := s.Put(t.Context(), id, b); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(filepath.Dir(s.Path(id)), tmpPrefix+"123")
	if err := os.WriteFile(stray, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stray temp file survived Open: %v", err)
	}
	if got, err := s2.Get(t.Context(), id); err != nil || string(got) != string(b) {
		t.Fatalf("reopened Get = %q, %v", got, err)
	}
	if u, err := s2.Stat(t.Context()); err != nil || u.Blocks != 1 || u.Bytes != int64(len(b)) {
		t.Fatalf("Stat = %+v, %v", u, err)
	}
}

// BenchmarkPut compares a store Put (hash check, temp file, fsync, rename,
// directory fsync) with the plain baseline of writing the same bytes to a
// new file and fsyncing it.
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{4 << 10, 256 << 10, 1 << 20} {
		data := make([]byte, size)
		b.Run(fmt.Sprintf("store/%dKiB", size>>10), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
				if err := s.Put(b.Context(), cid.Sum(data), data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("plain/%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// TestFansOnDemand: a new store makes no fan-out directories (on FAT over
// an SD card each is a synced write); a Put makes its own, and a store with
// blocks in some fans and none in others opens, walks and reads.
func TestFansOnDemand(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "blocks"))
	if err != nil || len(ents) != 0 {
		t.Fatalf("a new store's blocks/: %d entries, %v; want none", len(ents), err)
	}
	want := map[cid.ID]bool{}
	for i := range 5 {
		b := []byte(fmt.Sprint("block ", i))
		id := cid.Sum(b)
		if err := s.Put(t.Context(), id, b); err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	ents, _ = os.ReadDir(filepath.Join(dir, "blocks"))
	if len(ents) == 0 || len(ents) > 5 {
		t.Fatalf("after 5 puts: %d fan-out directories", len(ents))
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := s2.Walk(t.Context(), func(id cid.ID, _ int64) error {
		if !want[id] {
			t.Errorf("walk found %s, never put", id.Short())
		}
		got++
		return nil
	}); err != nil || got != len(want) {
		t.Fatalf("walk after reopen: %d blocks, %v; want %d", got, err, len(want))
	}
}
