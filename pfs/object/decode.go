package object

import (
	"bytes"
	"encoding/binary"
	"io/fs"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// Decode parses one canonical object encoding.
func Decode(b []byte) (Object, error) {
	k, err := KindOf(b)
	if err != nil {
		return nil, err
	}
	if k == KindFile {
		return DecodeFile(b)
	}
	return DecodeDir(b)
}

// KindOf checks the header of an encoding and returns its kind.
func KindOf(b []byte) (Kind, error) {
	if len(b) > MaxObjectSize {
		return 0, invalid("object is %d bytes > %d", len(b), MaxObjectSize)
	}
	if len(b) < len(magic)+2 || !bytes.Equal(b[:len(magic)], magic) {
		return 0, invalid("not a p-fs object (bad magic)")
	}
	if v := b[len(magic)]; v != Version {
		return 0, invalid("format version %d, want %d", v, Version)
	}
	k := Kind(b[len(magic)+1])
	if k != KindFile && k != KindDir {
		return 0, invalid("unknown kind %d", uint8(k))
	}
	return k, nil
}

// DecodeFile parses a File encoding.
func DecodeFile(b []byte) (*File, error) {
	r, err := newReader(b, KindFile)
	if err != nil {
		return nil, err
	}
	f := &File{Size: r.uvarint()}
	// Smallest chunk: id + 1-byte size + k + m.
	if n := r.count(MaxEntries, cid.Size+3); n > 0 {
		f.Chunks = make([]Chunk, n)
		for i := range f.Chunks {
			c := &f.Chunks[i]
			c.ID = r.id()
			c.Size = uint32(r.bounded(MaxChunkSize))
			c.K, c.M = r.byte(), r.byte()
			if c.K >= 2 && r.err == nil {
				ns := int(c.K) + int(c.M)
				if ns > MaxShards || ns*cid.Size > len(r.b) {
					return nil, invalid("chunk %d: %d shards do not fit", i, ns)
				}
				c.Shards = make([]cid.ID, ns)
				for j := range c.Shards {
					c.Shards[j] = r.id()
				}
			}
		}
	}
	if n := r.count(MaxEntries, cid.Size+1); n > 0 {
		f.Parts = make([]Part, n)
		for i := range f.Parts {
			f.Parts[i] = Part{ID: r.id(), Size: r.uvarint()}
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeDir parses a Dir encoding.
func DecodeDir(b []byte) (*Dir, error) {
	r, err := newReader(b, KindDir)
	if err != nil {
		return nil, err
	}
	d := &Dir{}
	// Smallest entry: len + 1-byte name + kind + id + size + mode + mtime.
	if n := r.count(MaxDirEntries, cid.Size+6); n > 0 {
		d.Entries = make([]Entry, n)
		for i := range d.Entries {
			e := &d.Entries[i]
			e.Name = string(r.bytes(r.bounded(MaxNameLen)))
			e.Kind = Kind(r.byte())
			e.ID = r.id()
			e.Size = r.uvarint()
			e.Mode = fs.FileMode(r.bounded(uint64(fs.ModePerm)))
			e.MTime = r.varint()
			if r.err != nil {
				break
			}
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// reader consumes an encoding, remembering the first error so the decoders
// read straight through and check once.
type reader struct {
	b   []byte
	err error
}

func newReader(b []byte, want Kind) (*reader, error) {
	k, err := KindOf(b)
	if err != nil {
		return nil, err
	}
	if k != want {
		return nil, invalid("object is a %v, want a %v", k, want)
	}
	return &reader{b: b[len(magic)+2:]}, nil
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = invalid(format, a...)
	}
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || uint64(len(r.b)) < n {
		r.fail("truncated")
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) id() (id cid.ID) {
	copy(id[:], r.bytes(cid.Size))
	return id
}

// uvarint reads a minimal uvarint: binary.Uvarint also takes padded forms
// (0x80 0x00 for 0), which would give one value two encodings.
func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	if n > 1 && r.b[n-1] == 0 {
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	// Zigzag, as binary.Varint; decoded by hand so minimality is checked once.
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) bounded(max uint64) uint64 {
	v := r.uvarint()
	if v > max {
		r.fail("value %d > %d", v, max)
		return 0
	}
	return v
}

// count reads an element count, bounded by max and by how many elements of
// at least minSize bytes the rest of the input could hold.
func (r *reader) count(max, minSize int) int {
	n := r.bounded(uint64(max))
	if r.err == nil && n*uint64(minSize) > uint64(len(r.b)) {
		r.fail("%d elements cannot fit in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}
