// Package chunk owns how p-fs cuts a byte stream into chunks: fixed-size
// chunks and content-defined chunks (FastCDC with a gear table and
// normalized chunking).
//
// A [Chunker] streams: it holds one buffer of a few times the maximum chunk
// size and hands out slices of it, so memory stays bounded whatever the
// input size. Cut points depend only on the bytes and the parameters, never
// on the platform, the read sizes or the run, so the same file always yields
// the same chunks (and so the same ids).
//
// A Chunker is not safe for concurrent use; a [Splitter] is.
//
// Imports: the standard library only.
package chunk

import (
	"errors"
	"fmt"
	"io"
)

// Chunker yields the chunks of one stream in order.
type Chunker interface {
	// Next returns the next chunk, or io.EOF after the last one. An empty
	// input yields no chunks. The slice is owned by the Chunker and is valid
	// only until the next call; copy it to keep it. Chunks are never empty.
	Next() ([]byte, error)
}

// Splitter is a chunking method with its parameters. It makes a fresh
// [Chunker] per stream and can be shared.
type Splitter interface {
	// New returns a Chunker reading r.
	New(r io.Reader) Chunker
	// MaxSize is the largest chunk New's Chunkers return.
	MaxSize() int
	// String names the method and its parameters, e.g. "fixed-262144".
	String() string
}

// DefaultSize is the fixed chunk size and the CDC average: 256 KiB, the
// IPFS default, big enough that per-chunk costs (an id, a manifest entry,
// k+m shard placements) stay small next to the data.
const DefaultSize = 256 << 10

// Default is the splitter p-fs uses when nothing else is asked for:
// content-defined chunks of 64 KiB to 1 MiB averaging 256 KiB. CDC keeps
// unchanged regions of an edited file as the same chunks, which fixed
// chunking loses at the first insertion, and runs at ~1 GB/s
// (see README.md for the measurement behind the choice).
func Default() Splitter { return defaultCDC }

var defaultCDC = mustCDC(DefaultSize/4, DefaultSize, DefaultSize*4)

// ErrParams is returned for chunking parameters that cannot work.
var ErrParams = errors.New("chunk: bad parameters")

// Fixed returns a splitter that cuts every size bytes (the last chunk may
// be shorter). size <= 0 means DefaultSize.
func Fixed(size int) Splitter {
	if size <= 0 {
		size = DefaultSize
	}
	return fixed(size)
}

type fixed int

func (s fixed) MaxSize() int   { return int(s) }
func (s fixed) String() string { return fmt.Sprintf("fixed-%d", int(s)) }
func (s fixed) New(r io.Reader) Chunker {
	return &fixedChunker{r: r, buf: make([]byte, int(s))}
}

type fixedChunker struct {
	r   io.Reader
	buf []byte
	err error
}

func (c *fixedChunker) Next() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	n, err := io.ReadFull(c.r, c.buf)
	switch err {
	case nil:
		return c.buf[:n], nil
	case io.ErrUnexpectedEOF:
		c.err = io.EOF
		return c.buf[:n], nil
	default:
		c.err = err
		return nil, err
	}
}
