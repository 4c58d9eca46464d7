package pfsfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/object"
)

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tree is the test tree: nested dirs, an empty file, a 1-byte file, a
// multi-chunk file and one big enough for a multi-level File tree.
var tree = map[string][]byte{
	"empty":             {},
	"one":               {'x'},
	"a/multi.bin":       random(1, 5000),
	"a/b/c/deep.txt":    []byte("deep\n"),
	"a/b/big.bin":       random(2, 20*1024+17), // 21 chunks of 1 KiB, fanout 3: 3 levels
	"a/emptydir/.keep":  nil,
	"z/é and space.txt": []byte("unicode name"),
}

func writeTree(t *testing.T) string {
	dir := t.TempDir()
	for name, b := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if name == "a/emptydir/.keep" {
			continue // leave the directory empty
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func importTree(t *testing.T, store blockstore.Store) cid.ID {
	t.Helper()
	root, err := Import(t.Context(), store, os.DirFS(writeTree(t)), &ImportOptions{Splitter: chunk.Fixed(1024), Fanout: 3, ModTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFS(t *testing.T) {
	store := blockstore.NewMem()
	root := importTree(t, store)
	fsys := New(Source{Object: store.Get}, root)
	var want []string
	for name := range tree {
		if name != "a/emptydir/.keep" {
			want = append(want, name)
		}
	}
	if err := fstest.TestFS(fsys, want...); err != nil {
		t.Fatal(err)
	}
	for name, b := range tree {
		if name == "a/emptydir/.keep" {
			continue
		}
		got, err := fs.ReadFile(fsys, name)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("ReadFile(%s): %d bytes, %v; want %d bytes", name, len(got), err, len(b))
		}
		fi, err := fs.Stat(fsys, name)
		if err != nil || fi.Mode() != 0o640 {
			t.Fatalf("Stat(%s) mode %v, %v; want 0640", name, fi.Mode(), err)
		}
	}
	if ents, err := fs.ReadDir(fsys, "a/emptydir"); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir(a/emptydir) = %v, %v", ents, err)
	}
}

// TestBigFileIsATree: the import really made a multi-level File.
func TestBigFileIsATree(t *testing.T) {
	store := blockstore.NewMem()
	root := importTree(t, store)
	d, _ := object.LoadDir(t.Context(), store.Get, root)
	a, _ := d.Lookup("a")
	ad, _ := object.LoadDir(t.Context(), store.Get, a.ID)
	b, _ := ad.Lookup("b")
	bd, _ := object.LoadDir(t.Context(), store.Get, b.ID)
	big, _ := bd.Lookup("big.bin")
	f, err := object.LoadFile(t.Context(), store.Get, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Parts) == 0 {
		t.Fatal("big.bin's root lists chunks; want parts")
	}
	child, err := object.LoadFile(t.Context(), store.Get, f.Parts[0].ID)
	if err != nil || len(child.Parts) == 0 {
		t.Fatalf("big.bin is not 3 levels deep (%v)", err)
	}
	if want := uint64(len(tree["a/b/c/deep.txt"]) + len(tree["a/b/big.bin"])); b.Size != want {
		t.Fatalf("dir a/b size %d, want %d", b.Size, want)
	}
}

func TestReadAtSeek(t *testing.T) {
	store := blockstore.NewMem()
	fsys := New(Source{Object: store.Get}, importTree(t, store))
	want := tree["a/b/big.bin"]
	f, err := fsys.Open("a/b/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra := f.(io.ReaderAt)
	r := rand.New(rand.NewPCG(9, 9))
	for range 200 {
		off := r.IntN(len(want) + 10)
		n := r.IntN(3000)
		buf := make([]byte, n)
		got, err := ra.ReadAt(buf, int64(off))
		wantN := max(0, min(n, len(want)-off))
		if got != wantN || !bytes.Equal(buf[:got], want[min(off, len(want)):min(off, len(want))+wantN]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d bytes", n, off, got, err, wantN)
		}
		if got < n && err != io.EOF {
			t.Fatalf("short ReadAt without io.EOF: %v", err)
		}
	}
	sk := f.(io.ReadSeeker)
	if pos, err := sk.Seek(-100, io.SeekEnd); err != nil || pos != int64(len(want)-100) {
		t.Fatalf("Seek end = %d, %v", pos, err)
	}
	rest, err := io.ReadAll(sk)
	if err != nil || !bytes.Equal(rest, want[len(want)-100:]) {
		t.Fatalf("read after Seek: %d bytes, %v", len(rest), err)
	}
	if _, err := sk.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to -1 succeeded")
	}
}

// TestBadChunk: a source that returns wrong bytes makes reads fail with
// cid.ErrMismatch, never return them.
func TestBadChunk(t *testing.T) {
	store := blockstore.NewMem()
	root := importTree(t, store)
	src := Source{Object: store.Get, Chunk: func(ctx context.Context, c object.Chunk) ([]byte, error) {
		b, err := store.Get(ctx, c.ID)
		if err == nil {
			b[0] ^= 1
		}
		return b, err
	}}
	_, err := fs.ReadFile(New(src, root), "a/multi.bin")
	if !errors.Is(err, cid.ErrMismatch) {
		t.Fatalf("ReadFile with bad chunks: %v, want cid.ErrMismatch", err)
	}
}

// TestDeterministic: the same tree imports to the same root without mtimes,
// and the root changes with one byte of content.
func TestDeterministic(t *testing.T) {
	dir := writeTree(t)
	imp := func() cid.ID {
		id, err := Import(t.Context(), blockstore.NewMem(), os.DirFS(dir), nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := imp()
	if b := imp(); a != b {
		t.Fatalf("two imports: %s != %s", a.Short(), b.Short())
	}
	if err := os.WriteFile(filepath.Join(dir, "one"), []byte("y"), 0o640); err != nil {
		t.Fatal(err)
	}
	if c := imp(); c == a {
		t.Fatal("root unchanged after editing a file")
	}
}

func TestImportRejectsSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("nowhere", filepath.Join(dir, "link")); err != nil {
		t.Skip(err)
	}
	if _, err := Import(t.Context(), blockstore.NewMem(), os.DirFS(dir), nil); err == nil {
		t.Fatal("imported a symlink")
	}
}
