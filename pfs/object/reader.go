package object

import (
	"context"
	"io"
	"io/fs"
)

// ChunkFunc returns the bytes of chunk c, which starts at byte start of
// its file. Whoever supplies it verifies them.
type ChunkFunc func(ctx context.Context, c Chunk, start uint64) ([]byte, error)

// Reader reads a file tree by offset: the chunk that covers an offset is
// found through get and fetched through chunk, and the last one is kept,
// so small sequential reads fetch each chunk once. It is the shared core
// of the io.ReaderAt and io.Seeker of p-fs's file handles. A Reader is not
// safe for concurrent use.
type Reader struct {
	root  *File
	get   GetFunc
	chunk ChunkFunc

	cur      []byte // the last chunk read
	curStart int64
}

// NewReader returns a Reader of the file root.
func NewReader(root *File, get GetFunc, chunk ChunkFunc) *Reader {
	return &Reader{root: root, get: get, chunk: chunk}
}

// Size is the file's size in bytes.
func (r *Reader) Size() int64 { return int64(r.root.Size) }

// ReadAt reads len(p) bytes from off, as io.ReaderAt: fewer only at the
// end of the file (with io.EOF) or on an error. A negative off is
// fs.ErrInvalid.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fs.ErrInvalid
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.Size() {
			return n, io.EOF
		}
		if r.cur == nil || pos < r.curStart || pos >= r.curStart+int64(len(r.cur)) {
			c, start, err := r.root.Find(ctx, r.get, uint64(pos))
			if err != nil {
				return n, err
			}
			b, err := r.chunk(ctx, c, start)
			if err != nil {
				return n, err
			}
			r.cur, r.curStart = b, int64(start)
		}
		n += copy(p[n:], r.cur[pos-r.curStart:])
	}
	return n, nil
}

// Release drops the kept chunk.
func (r *Reader) Release() { r.cur = nil }

// Seek returns the offset io.Seeker's Seek(offset, whence) moves to from
// pos in a file of size bytes, or fs.ErrInvalid for a bad whence or a
// negative result.
func Seek(pos, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return pos, fs.ErrInvalid
	}
	if offset < 0 {
		return pos, fs.ErrInvalid
	}
	return offset, nil
}
