package object

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

func id(s string) cid.ID { return cid.Sum([]byte(s)) }

func sampleFile() *File {
	return &File{Size: 300, Chunks: []Chunk{
		{ID: id("a"), Size: 100, K: 1, M: 2},
		{ID: id("b"), Size: 200, K: 2, M: 1, Shards: []cid.ID{id("s0"), id("s1"), id("s2")}},
	}}
}

func sampleDir() *Dir {
	return &Dir{Entries: []Entry{
		{Name: "a.txt", Kind: KindFile, ID: id("f"), Size: 300, Mode: 0o644, MTime: 1700000000123456789},
		{Name: "sub", Kind: KindDir, ID: id("d"), Size: 7, Mode: 0o755, MTime: -5},
		{Name: "é", Kind: KindFile, ID: id("g")},
	}}
}

func samples() []Object {
	return []Object{
		&File{}, sampleFile(),
		&File{Size: 30, Parts: []Part{{ID: id("p1"), Size: 10}, {ID: id("p2"), Size: 20}}},
		&Dir{}, sampleDir(),
	}
}

func TestRoundTrip(t *testing.T) {
	for i, o := range samples() {
		b, err := o.Encode()
		if err != nil {
			t.Fatalf("%d: Encode: %v", i, err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%d: Decode: %v", i, err)
		}
		b2, err := d.Encode()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%d: re-encode differs (%v)", i, err)
		}
		if k, _ := KindOf(b); k != o.Kind() {
			t.Fatalf("%d: KindOf = %v, want %v", i, k, o.Kind())
		}
	}
	d, _ := DecodeDir(mustEncode(t, sampleDir()))
	if e, ok := d.Lookup("sub"); !ok || e.MTime != -5 || e.Mode != 0o755 {
		t.Fatalf("Lookup(sub) = %+v, %v", e, ok)
	}
	if _, ok := d.Lookup("nope"); ok {
		t.Fatal("Lookup(nope) found something")
	}
}

func mustEncode(t testing.TB, o Object) []byte {
	t.Helper()
	b, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeRejects: invalid objects never get an encoding, hence never an id.
func TestEncodeRejects(t *testing.T) {
	ch := func(mod func(*Chunk)) *File {
		c := Chunk{ID: id("x"), Size: 10, K: 1}
		mod(&c)
		return &File{Size: uint64(c.Size), Chunks: []Chunk{c}}
	}
	dir := func(names ...string) *Dir {
		d := &Dir{}
		for _, n := range names {
			d.Entries = append(d.Entries, Entry{Name: n, Kind: KindFile})
		}
		return d
	}
	cases := map[string]Object{
		"size mismatch":      &File{Size: 1},
		"chunks and parts":   &File{Size: 20, Chunks: []Chunk{{ID: id("x"), Size: 10, K: 1}}, Parts: []Part{{Size: 5}, {Size: 5}}},
		"single part":        &File{Size: 5, Parts: []Part{{Size: 5}}},
		"empty part":         &File{Size: 5, Parts: []Part{{Size: 5}, {Size: 0}}},
		"empty chunk":        ch(func(c *Chunk) { c.Size = 0 }),
		"huge chunk":         ch(func(c *Chunk) { c.Size = MaxChunkSize + 1 }),
		"k=0":                ch(func(c *Chunk) { c.K = 0 }),
		"k=1 with shards":    ch(func(c *Chunk) { c.Shards = []cid.ID{id("s")} }),
		"k=2 missing shards": ch(func(c *Chunk) { c.K, c.M, c.Shards = 2, 1, []cid.ID{id("s")} }),
		"k+m > 256":          ch(func(c *Chunk) { c.K, c.M, c.Shards = 200, 100, make([]cid.ID, 300) }),
		"too many chunks":    &File{Chunks: make([]Chunk, MaxEntries+1)},
		"size overflow":      &File{Size: 0, Parts: []Part{{Size: 1 << 63}, {Size: 1 << 63}}},
		"unsorted":           dir("b", "a"),
		"duplicate":          dir("a", "a"),
		"empty name":         dir(""),
		"dot":                dir("."),
		"dotdot":             dir(".."),
		"slash":              dir("a/b"),
		"nul":                dir("a\x00"),
		"bad utf-8":          dir("\xff"),
		"long name":          dir(string(bytes.Repeat([]byte("x"), MaxNameLen+1))),
		"bad kind":           &Dir{Entries: []Entry{{Name: "a", Kind: 3}}},
		"mode beyond perm":   &Dir{Entries: []Entry{{Name: "a", Kind: KindFile, Mode: 0o1777}}},
		"too many entries":   &Dir{Entries: make([]Entry, MaxDirEntries+1)},
	}
	for name, o := range cases {
		if _, err := o.Encode(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Encode err = %v, want ErrInvalid", name, err)
		}
	}
}

// TestDecodeRejects: hand-made bytes around a valid encoding.
func TestDecodeRejects(t *testing.T) {
	file := mustEncode(t, sampleFile())
	dir := mustEncode(t, sampleDir())
	hdr := func(k byte, body ...byte) []byte { return append([]byte("pfso\x01"), append([]byte{k}, body...)...) }
	cases := map[string][]byte{
		"empty":              nil,
		"bad magic":          append([]byte("PFSO"), file[4:]...),
		"bad version":        append([]byte("pfso\x02"), file[5:]...),
		"bad kind":           hdr(9, 0, 0, 0),
		"trailing byte":      append(bytes.Clone(file), 0),
		"truncated file":     file[:len(file)-1],
		"truncated dir":      dir[:len(dir)-1],
		"padded varint":      hdr(1, 0x80, 0x00, 0, 0), // size 0 written in two bytes
		"huge count":         hdr(1, 0, 0xff, 0xff, 0x03),
		"count beyond input": hdr(1, 0, 100),
		"dir huge count":     hdr(2, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"oversize":           append(hdr(2, 0), make([]byte, MaxObjectSize)...),
	}
	// A dir entry claiming a name longer than the limit.
	cases["long name"] = hdr(2, append([]byte{1}, binary.AppendUvarint(nil, MaxNameLen+1)...)...)
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := DecodeDir(file); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeDir(file) = %v, want ErrInvalid", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, o := range samples() {
		f.Add(mustEncode(f, o))
	}
	f.Add([]byte("pfso\x01\x01"))
	f.Add([]byte("pfso\x01\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		b2, err := o.Encode()
		if err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("non-canonical input accepted:\n in %x\nout %x", b, b2)
		}
	})
}

// memStore is a map of objects for tree tests.
type memStore map[cid.ID][]byte

func (m memStore) put(id cid.ID, b []byte) error {
	if err := cid.Verify(id, b); err != nil {
		return err
	}
	m[id] = bytes.Clone(b)
	return nil
}

func (m memStore) get(_ context.Context, id cid.ID) ([]byte, error) {
	b, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("no object %s", id.Short())
	}
	return b, nil
}

func chunks(n int) []Chunk {
	cs := make([]Chunk, n)
	for i := range cs {
		cs[i] = Chunk{ID: id(fmt.Sprint(i)), Size: uint32(1 + i%7), K: 1}
	}
	return cs
}

func build(t *testing.T, m memStore, cs []Chunk, fanout int) (cid.ID, uint64) {
	t.Helper()
	b := NewFileBuilder(m.put, fanout)
	for _, c := range cs {
		if err := b.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	root, size, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return root, size
}

// TestTree: for sizes around each level boundary, the tree walks back to
// the same chunks and FindChunk agrees with a linear scan at every offset.
func TestTree(t *testing.T) {
	const fanout = 3
	for _, n := range []int{0, 1, 2, 3, 4, 8, 9, 10, 26, 27, 28, 40, 82} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := memStore{}
			cs := chunks(n)
			root, size := build(t, m, cs, fanout)
			var want uint64
			for _, c := range cs {
				want += uint64(c.Size)
			}
			if size != want {
				t.Fatalf("size %d, want %d", size, want)
			}
			i := 0
			var next uint64
			err := WalkChunks(t.Context(), m.get, root, func(off uint64, c Chunk) error {
				if c.ID != cs[i].ID || off != next {
					t.Fatalf("chunk %d: got %s at %d, want %s at %d", i, c.ID.Short(), off, cs[i].ID.Short(), next)
				}
				i++
				next += uint64(c.Size)
				return nil
			})
			if err != nil || i != n {
				t.Fatalf("walked %d chunks, want %d (%v)", i, n, err)
			}
			var base uint64
			for _, c := range cs {
				for off := base; off < base+uint64(c.Size); off++ {
					got, start, err := FindChunk(t.Context(), m.get, root, off)
					if err != nil || got.ID != c.ID || start != base {
						t.Fatalf("FindChunk(%d) = %s@%d, %v; want %s@%d", off, got.ID.Short(), start, err, c.ID.Short(), base)
					}
				}
				base += uint64(c.Size)
			}
			if _, _, err := FindChunk(t.Context(), m.get, root, size); err != io.EOF {
				t.Fatalf("FindChunk(size) err = %v, want io.EOF", err)
			}
			for bid, b := range m {
				f, err := DecodeFile(b)
				if err != nil {
					t.Fatalf("stored object %s: %v", bid.Short(), err)
				}
				if len(f.Chunks) > fanout || len(f.Parts) > fanout {
					t.Fatalf("object with %d chunks, %d parts > fanout %d", len(f.Chunks), len(f.Parts), fanout)
				}
			}
		})
	}
}

// TestTreeLyingParent: a node whose part size disagrees with the child is
// rejected rather than read at wrong offsets.
func TestTreeLyingParent(t *testing.T) {
	m := memStore{}
	root, _ := build(t, m, chunks(4), 2)
	f, _ := DecodeFile(m[root])
	f.Parts[0].Size++
	f.Size++
	bad, enc, err := Sum(f)
	if err != nil {
		t.Fatal(err)
	}
	m[bad] = enc
	if err := WalkChunks(t.Context(), m.get, bad, func(uint64, Chunk) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("walk over lying parent: %v, want ErrInvalid", err)
	}
	// A swapped object is caught by the id check.
	m[root] = m[f.Parts[1].ID]
	if _, err := LoadFile(t.Context(), m.get, root); !errors.Is(err, cid.ErrMismatch) {
		t.Fatalf("swapped object: %v, want cid.ErrMismatch", err)
	}
}

// TestBuilderSplitsBySize: wide erasure-coded chunks fill an object by
// bytes before they fill it by count.
func TestBuilderSplitsBySize(t *testing.T) {
	m := memStore{}
	b := NewFileBuilder(m.put, 0)
	shards := make([]cid.ID, 256)
	for i := 0; i < 1000; i++ {
		if err := b.Add(Chunk{ID: id(fmt.Sprint(i)), Size: 1, K: 128, M: 128, Shards: shards}); err != nil {
			t.Fatal(err)
		}
	}
	if _, size, err := b.Finish(); err != nil || size != 1000 {
		t.Fatalf("Finish: %d, %v", size, err)
	}
	for _, enc := range m {
		if len(enc) > MaxObjectSize {
			t.Fatalf("object of %d bytes > %d", len(enc), MaxObjectSize)
		}
	}
	if len(m) < 3 {
		t.Fatalf("%d objects, want a split tree", len(m))
	}
}
