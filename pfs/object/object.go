// Package object owns p-fs manifests: the content-addressed File and Dir
// objects that tie chunks into files and files into trees, and their one
// canonical binary encoding.
//
// An object's id is cid.Sum of its encoding, so the encoding must be
// canonical: Decode accepts exactly the bytes Encode produces (minimal
// varints, sorted names, no trailing bytes) and Encode(Decode(b)) == b for
// every accepted b. Every count is bounded and checked against the bytes
// left before anything is allocated, so garbage cannot make Decode allocate
// more than a small multiple of its input.
//
// Large files are Merkle trees of bounded objects: a File lists either
// chunks (a leaf) or Parts (sub-files, in order). [FileBuilder] builds the
// tree from a stream of chunks, [WalkChunks] reads it back in order and
// [FindChunk] descends to the chunk covering an offset, and [Reader] reads
// a file by offset over it (the core of every p-fs file handle).
//
// # Encoding
//
//	object  = magic "pfso" | version 0x01 | kind (1 file, 2 dir) | body
//	file    = uvarint size | uvarint n | n × chunk | uvarint p | p × part
//	chunk   = id[32] | uvarint size | k u8 | m u8 | (k>=2 ? (k+m) × id[32] : nothing)
//	part    = id[32] | uvarint size
//	dir     = uvarint n | n × entry
//	entry   = uvarint len | name | kind u8 | id[32] | uvarint size | uvarint mode | varint mtime
//
// Objects are immutable values once encoded; nothing here is shared
// between goroutines, and the functions are safe for concurrent use.
//
// Imports: pfs/cid and the standard library.
package object

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// Format limits. They bound what Decode will allocate and keep every object
// a small block.
const (
	Version       = 1
	MaxObjectSize = 4 << 20  // encoded bytes of one object
	MaxEntries    = 4096     // chunks or parts in one File object
	MaxDirEntries = 1 << 16  // entries in one Dir object
	MaxChunkSize  = 16 << 20 // bytes of one chunk (a block-store block)
	MaxShards     = 256      // k+m, the Reed-Solomon limit
	MaxNameLen    = 255
)

var magic = []byte("pfso")

// ErrInvalid wraps every reason an encoding or an object is rejected.
var ErrInvalid = errors.New("object: invalid")

// Kind says what an object or a directory entry is.
type Kind uint8

// Kinds. The numbers are part of the encoding.
const (
	KindFile Kind = 1
	KindDir  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Object is a *File or a *Dir.
type Object interface {
	Kind() Kind
	// Encode validates the object and returns its canonical encoding.
	Encode() ([]byte, error)
}

// Chunk is one chunk of a file and how it is stored.
//
// K == 1: the chunk is replicated whole, as one block whose id is ID, on
// M+1 nodes; Shards is empty. K >= 2: the chunk is Reed-Solomon coded into
// K data and M parity shards, Shards[i] being the id of shard i's bytes.
type Chunk struct {
	ID     cid.ID // BLAKE3 of the plain chunk bytes
	Size   uint32
	K, M   uint8
	Shards []cid.ID
}

// Part is a sub-file of a tree File: its object id and its size. Offsets
// are implicit: a part starts where the previous one ends.
type Part struct {
	ID   cid.ID
	Size uint64
}

// File is a file manifest: either a leaf listing Chunks, or a node listing
// Parts; an empty file has neither.
type File struct {
	Size   uint64
	Chunks []Chunk
	Parts  []Part
}

// Entry is one name in a directory.
type Entry struct {
	Name  string
	Kind  Kind
	ID    cid.ID      // the child File or Dir object
	Size  uint64      // file size, or the total of a directory's files
	Mode  fs.FileMode // permission bits only; 0 means unrecorded
	MTime int64       // unix nanoseconds; 0 means unrecorded
}

// Dir is a directory manifest, entries sorted by Name (bytewise).
type Dir struct {
	Entries []Entry
}

// Kind returns KindFile.
func (*File) Kind() Kind { return KindFile }

// Kind returns KindDir.
func (*Dir) Kind() Kind { return KindDir }

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Validate checks the chunk's coding invariants.
func (c *Chunk) Validate() error {
	switch {
	case c.Size == 0:
		return invalid("chunk %s is empty", c.ID.Short())
	case c.Size > MaxChunkSize:
		return invalid("chunk %s is %d bytes > %d", c.ID.Short(), c.Size, MaxChunkSize)
	case c.K == 0:
		return invalid("chunk %s has k=0", c.ID.Short())
	case c.K == 1 && len(c.Shards) != 0:
		return invalid("chunk %s is replicated (k=1) but lists %d shards", c.ID.Short(), len(c.Shards))
	case c.K >= 2 && int(c.K)+int(c.M) > MaxShards:
		return invalid("chunk %s has k+m=%d > %d", c.ID.Short(), int(c.K)+int(c.M), MaxShards)
	case c.K >= 2 && len(c.Shards) != int(c.K)+int(c.M):
		return invalid("chunk %s has %d shards, want k+m=%d", c.ID.Short(), len(c.Shards), int(c.K)+int(c.M))
	}
	return nil
}

// Validate checks the file's invariants: chunks or parts, not both; sizes
// add up; bounded counts.
func (f *File) Validate() error {
	if len(f.Chunks) > 0 && len(f.Parts) > 0 {
		return invalid("file lists both chunks and parts")
	}
	if len(f.Chunks) > MaxEntries || len(f.Parts) > MaxEntries {
		return invalid("file lists %d chunks and %d parts, max %d", len(f.Chunks), len(f.Parts), MaxEntries)
	}
	if len(f.Parts) == 1 {
		// One part is the same file one level down: not canonical.
		return invalid("file has a single part")
	}
	var sum uint64
	add := func(n uint64) error {
		if sum+n < sum {
			return invalid("file sizes overflow")
		}
		sum += n
		return nil
	}
	for i := range f.Chunks {
		if err := f.Chunks[i].Validate(); err != nil {
			return err
		}
		if err := add(uint64(f.Chunks[i].Size)); err != nil {
			return err
		}
	}
	for _, p := range f.Parts {
		if p.Size == 0 {
			return invalid("part %s is empty", p.ID.Short())
		}
		if err := add(p.Size); err != nil {
			return err
		}
	}
	if sum != f.Size {
		return invalid("file size %d, but its pieces add up to %d", f.Size, sum)
	}
	return nil
}

// ValidName reports whether name may appear in a directory: non-empty, at
// most MaxNameLen bytes of valid UTF-8, not "." or "..", no '/' or NUL.
func ValidName(name string) bool {
	return name != "" && len(name) <= MaxNameLen && name != "." && name != ".." &&
		utf8.ValidString(name) && !strings.ContainsAny(name, "/\x00")
}

// Validate checks names, order and fields of every entry.
func (d *Dir) Validate() error {
	if len(d.Entries) > MaxDirEntries {
		return invalid("dir has %d entries > %d", len(d.Entries), MaxDirEntries)
	}
	for i, e := range d.Entries {
		if !ValidName(e.Name) {
			return invalid("bad name %q", e.Name)
		}
		if i > 0 && d.Entries[i-1].Name >= e.Name {
			return invalid("names not sorted or duplicated: %q before %q", d.Entries[i-1].Name, e.Name)
		}
		if e.Kind != KindFile && e.Kind != KindDir {
			return invalid("%q has %v", e.Name, e.Kind)
		}
		if e.Mode&^fs.ModePerm != 0 {
			return invalid("%q has mode %v beyond permission bits", e.Name, e.Mode)
		}
	}
	return nil
}

// Lookup returns the entry called name, by binary search.
func (d *Dir) Lookup(name string) (Entry, bool) {
	lo, hi := 0, len(d.Entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.Entries[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(d.Entries) && d.Entries[lo].Name == name {
		return d.Entries[lo], true
	}
	return Entry{}, false
}

func header(k Kind, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, magic...)
	return append(b, Version, byte(k))
}

// Encode validates f and returns its canonical encoding.
func (f *File) Encode() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	b := header(KindFile, 16+len(f.Chunks)*40+len(f.Parts)*42)
	b = binary.AppendUvarint(b, f.Size)
	b = binary.AppendUvarint(b, uint64(len(f.Chunks)))
	for _, c := range f.Chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
		b = append(b, c.K, c.M)
		for _, s := range c.Shards {
			b = append(b, s[:]...)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(f.Parts)))
	for _, p := range f.Parts {
		b = append(b, p.ID[:]...)
		b = binary.AppendUvarint(b, p.Size)
	}
	if len(b) > MaxObjectSize {
		return nil, invalid("file object is %d bytes > %d", len(b), MaxObjectSize)
	}
	return b, nil
}

// Encode validates d and returns its canonical encoding.
func (d *Dir) Encode() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b := header(KindDir, 8+len(d.Entries)*64)
	b = binary.AppendUvarint(b, uint64(len(d.Entries)))
	for _, e := range d.Entries {
		b = binary.AppendUvarint(b, uint64(len(e.Name)))
		b = append(b, e.Name...)
		b = append(b, byte(e.Kind))
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, e.Size)
		b = binary.AppendUvarint(b, uint64(e.Mode))
		b = binary.AppendVarint(b, e.MTime)
	}
	if len(b) > MaxObjectSize {
		return nil, invalid("dir object is %d bytes > %d", len(b), MaxObjectSize)
	}
	return b, nil
}

// Sum encodes o and returns its id with the encoding.
func Sum(o Object) (cid.ID, []byte, error) {
	b, err := o.Encode()
	if err != nil {
		return cid.Undef, nil, err
	}
	return cid.Sum(b), b, nil
}
