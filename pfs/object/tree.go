package object

import (
	"context"
	"fmt"
	"io"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// PutFunc stores one encoded object under its id.
type PutFunc func(id cid.ID, encoded []byte) error

// GetFunc returns the bytes stored under id. Readers here verify what it
// returns against id, so it may be a plain, unverified fetch.
type GetFunc func(ctx context.Context, id cid.ID) ([]byte, error)

// MaxDepth bounds how deep a file tree may be. With MaxEntries-wide nodes
// 4 levels already address 2^48 chunks; the bound stops crafted trees from
// making readers recurse without end.
const MaxDepth = 8

// FileBuilder turns a stream of chunk entries into a File tree of objects
// with at most fanout entries each, storing every object through put as
// soon as it is complete. Memory is O(fanout × depth).
//
// A FileBuilder is not safe for concurrent use.
type FileBuilder struct {
	put    PutFunc
	fanout int
	leaf   leafLevel
	nodes  []nodeLevel // nodes[0] holds the parts made from leaves, and so on
	err    error
}

type leafLevel struct {
	chunks []Chunk
	size   uint64
	bytes  int // encoded size so far
}

type nodeLevel struct {
	parts []Part
	size  uint64
}

// NewFileBuilder returns a builder storing objects through put. fanout is
// the most chunks or parts per object; <= 0 or > MaxEntries means
// MaxEntries, and it is at least 2.
func NewFileBuilder(put PutFunc, fanout int) *FileBuilder {
	if fanout <= 0 || fanout > MaxEntries {
		fanout = MaxEntries
	}
	return &FileBuilder{put: put, fanout: max(fanout, 2)}
}

// chunkBytes is an upper bound of c's encoded size.
func chunkBytes(c *Chunk) int { return cid.Size + 5 + 2 + len(c.Shards)*cid.Size }

// Add appends the next chunk of the file.
func (b *FileBuilder) Add(c Chunk) error {
	if b.err != nil {
		return b.err
	}
	if err := c.Validate(); err != nil {
		b.err = err
		return err
	}
	l := &b.leaf
	// Headroom of 64 bytes for the header and counts.
	if len(l.chunks) == b.fanout || l.bytes+chunkBytes(&c)+64 > MaxObjectSize {
		if err := b.flushLeaf(); err != nil {
			b.err = err
			return err
		}
	}
	c.Shards = append([]cid.ID(nil), c.Shards...)
	l.chunks = append(l.chunks, c)
	l.size += uint64(c.Size)
	l.bytes += chunkBytes(&c)
	return nil
}

func (b *FileBuilder) store(f *File) (Part, error) {
	id, enc, err := Sum(f)
	if err != nil {
		return Part{}, err
	}
	if err := b.put(id, enc); err != nil {
		return Part{}, fmt.Errorf("object: storing file object %s: %w", id.Short(), err)
	}
	return Part{ID: id, Size: f.Size}, nil
}

func (b *FileBuilder) flushLeaf() error {
	p, err := b.store(&File{Size: b.leaf.size, Chunks: b.leaf.chunks})
	if err != nil {
		return err
	}
	b.leaf = leafLevel{}
	return b.addPart(0, p)
}

// addPart appends p to node level i, flushing the level up first if full.
func (b *FileBuilder) addPart(i int, p Part) error {
	if i == len(b.nodes) {
		if i+1 >= MaxDepth {
			return fmt.Errorf("%w: file tree deeper than %d", ErrInvalid, MaxDepth)
		}
		b.nodes = append(b.nodes, nodeLevel{})
	}
	n := &b.nodes[i]
	if len(n.parts) == b.fanout {
		q, err := b.store(&File{Size: n.size, Parts: n.parts})
		if err != nil {
			return err
		}
		b.nodes[i] = nodeLevel{}
		if err := b.addPart(i+1, q); err != nil {
			return err
		}
		n = &b.nodes[i]
	}
	n.parts = append(n.parts, p)
	n.size += p.Size
	return nil
}

// Finish stores the remaining objects and returns the root's id and the
// file size. An empty stream gives the empty File. The builder cannot be
// used afterwards.
func (b *FileBuilder) Finish() (cid.ID, uint64, error) {
	if b.err != nil {
		return cid.Undef, 0, b.err
	}
	b.err = fmt.Errorf("object: FileBuilder used after Finish")
	if len(b.nodes) == 0 {
		p, err := b.store(&File{Size: b.leaf.size, Chunks: b.leaf.chunks})
		return p.ID, p.Size, err
	}
	// Every level below the top holds something (the entry that overflowed
	// it), so each flush adds a part above and the top ends with >= 2 parts.
	// Levels may end up uneven; readers follow parts whatever their depth.
	if err := b.flushLeaf(); err != nil {
		return cid.Undef, 0, err
	}
	for i := 0; i < len(b.nodes)-1; i++ {
		n := b.nodes[i]
		q := n.parts[0]
		// A lone part (its level was flushed up by the last entry) moves
		// up as it is: a one-part File is not canonical.
		if len(n.parts) > 1 {
			var err error
			if q, err = b.store(&File{Size: n.size, Parts: n.parts}); err != nil {
				return cid.Undef, 0, err
			}
		}
		if err := b.addPart(i+1, q); err != nil {
			return cid.Undef, 0, err
		}
	}
	top := b.nodes[len(b.nodes)-1]
	p, err := b.store(&File{Size: top.size, Parts: top.parts})
	return p.ID, p.Size, err
}

// Load fetches id through get, verifies it and decodes it.
func Load(ctx context.Context, get GetFunc, id cid.ID) (Object, error) {
	b, err := get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := cid.Verify(id, b); err != nil {
		return nil, err
	}
	o, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", id.Short(), err)
	}
	return o, nil
}

// LoadFile is Load for an object that must be a File.
func LoadFile(ctx context.Context, get GetFunc, id cid.ID) (*File, error) {
	o, err := Load(ctx, get, id)
	if err != nil {
		return nil, err
	}
	f, ok := o.(*File)
	if !ok {
		return nil, fmt.Errorf("%w: object %s is a %v, want a file", ErrInvalid, id.Short(), o.Kind())
	}
	return f, nil
}

// LoadDir is Load for an object that must be a Dir.
func LoadDir(ctx context.Context, get GetFunc, id cid.ID) (*Dir, error) {
	o, err := Load(ctx, get, id)
	if err != nil {
		return nil, err
	}
	d, ok := o.(*Dir)
	if !ok {
		return nil, fmt.Errorf("%w: object %s is a %v, want a dir", ErrInvalid, id.Short(), o.Kind())
	}
	return d, nil
}

// child loads part p of a tree at depth and checks it is as big as its
// parent says: a lying parent would make offsets wrong.
func child(ctx context.Context, get GetFunc, p Part, depth int) (*File, error) {
	if depth >= MaxDepth {
		return nil, fmt.Errorf("%w: file tree deeper than %d", ErrInvalid, MaxDepth)
	}
	f, err := LoadFile(ctx, get, p.ID)
	if err != nil {
		return nil, err
	}
	if f.Size != p.Size {
		return nil, fmt.Errorf("%w: part %s is %d bytes, its parent says %d", ErrInvalid, p.ID.Short(), f.Size, p.Size)
	}
	return f, nil
}

// WalkChunks calls fn with every chunk of the file root in order, with the
// offset of its first byte, loading one object per tree level at a time.
func WalkChunks(ctx context.Context, get GetFunc, root cid.ID, fn func(off uint64, c Chunk) error) error {
	f, err := LoadFile(ctx, get, root)
	if err != nil {
		return err
	}
	var off uint64
	return walk(ctx, get, f, 0, &off, fn)
}

func walk(ctx context.Context, get GetFunc, f *File, depth int, off *uint64, fn func(uint64, Chunk) error) error {
	for _, c := range f.Chunks {
		if err := fn(*off, c); err != nil {
			return err
		}
		*off += uint64(c.Size)
	}
	for _, p := range f.Parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub, err := child(ctx, get, p, depth+1)
		if err != nil {
			return err
		}
		if err := walk(ctx, get, sub, depth+1, off, fn); err != nil {
			return err
		}
	}
	return nil
}

// FindChunk returns the chunk of the file root that holds byte off, and
// the offset where that chunk starts, reading one object per tree level.
// It returns io.EOF when off is at or past the end.
func FindChunk(ctx context.Context, get GetFunc, root cid.ID, off uint64) (Chunk, uint64, error) {
	f, err := LoadFile(ctx, get, root)
	if err != nil {
		return Chunk{}, 0, err
	}
	return f.find(ctx, get, off, 0)
}

// Find is FindChunk starting from an already loaded File, for readers that
// keep the root.
func (f *File) Find(ctx context.Context, get GetFunc, off uint64) (Chunk, uint64, error) {
	return f.find(ctx, get, off, 0)
}

func (f *File) find(ctx context.Context, get GetFunc, off uint64, depth int) (Chunk, uint64, error) {
	if off >= f.Size {
		return Chunk{}, 0, io.EOF
	}
	var base uint64
	for {
		next := f
		for _, c := range f.Chunks {
			if off < base+uint64(c.Size) {
				return c, base, nil
			}
			base += uint64(c.Size)
		}
		for _, p := range f.Parts {
			if off < base+p.Size {
				sub, err := child(ctx, get, p, depth+1)
				if err != nil {
					return Chunk{}, 0, err
				}
				next = sub
				break
			}
			base += p.Size
		}
		if next == f {
			// Validate makes sizes add up, so this is unreachable.
			return Chunk{}, 0, fmt.Errorf("%w: offset %d not covered", ErrInvalid, off)
		}
		f, depth = next, depth+1
	}
}
