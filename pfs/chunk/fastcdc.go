package chunk

import (
	"fmt"
	"io"
	"math/bits"
)

// CDC returns a FastCDC splitter (Xia et al., "FastCDC", USENIX ATC 2016)
// with chunks of min to max bytes, normalized around avg.
//
// Normalized chunking uses a harder mask (two more bits) before avg and an
// easier one (two fewer bits) after it, which squeezes the size
// distribution towards avg: fewer tiny and fewer max-size (forced) cuts,
// and so better resynchronisation after an edit. avg must be a power of
// two, and min < avg < max.
func CDC(min, avg, max int) (Splitter, error) {
	if min < 64 || avg <= min || max <= avg || avg&(avg-1) != 0 || max > 1<<30 {
		return nil, fmt.Errorf("%w: cdc min=%d avg=%d max=%d (want 64 <= min < avg < max <= 1GiB, avg a power of two)", ErrParams, min, avg, max)
	}
	b := bits.TrailingZeros(uint(avg))
	return cdc{min: min, avg: avg, max: max, maskS: topBits(b + 2), maskL: topBits(b - 2)}, nil
}

func mustCDC(min, avg, max int) Splitter {
	s, err := CDC(min, avg, max)
	if err != nil {
		panic(err)
	}
	return s
}

// topBits is a mask of the n highest bits. The gear hash shifts left once a
// byte, so its high bits depend on the last 64 bytes and its low bits only
// on the last few: cut decisions must look at the high ones.
func topBits(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return ^uint64(0) << (64 - n)
}

type cdc struct {
	min, avg, max int
	maskS, maskL  uint64
}

func (s cdc) MaxSize() int { return s.max }
func (s cdc) String() string {
	return fmt.Sprintf("fastcdc-%d-%d-%d", s.min, s.avg, s.max)
}

// bufFactor sets the buffer to a few max chunks, so refills (which move at
// most one max chunk of leftover to the front) are rare.
const bufFactor = 4

func (s cdc) New(r io.Reader) Chunker {
	return &cdcChunker{s: s, r: r, buf: make([]byte, 0, bufFactor*s.max)}
}

type cdcChunker struct {
	s     cdc
	r     io.Reader
	buf   []byte // buf[pos:] is data not yet returned
	pos   int
	eof   bool
	err   error // sticky read error, returned once the buffer is drained
	final error
}

func (c *cdcChunker) Next() ([]byte, error) {
	if c.final != nil {
		return nil, c.final
	}
	if len(c.buf)-c.pos < c.s.max && !c.eof && c.err == nil {
		c.fill()
	}
	rest := c.buf[c.pos:]
	if len(rest) == 0 {
		c.final = io.EOF
		if c.err != nil {
			c.final = c.err
		}
		return nil, c.final
	}
	n := c.s.cut(rest)
	if n == len(rest) && c.err != nil {
		// A read failed mid-stream: the tail is not a real chunk end.
		c.final = c.err
		return nil, c.err
	}
	c.pos += n
	return rest[:n:n], nil
}

// fill moves the leftover to the front and reads until the buffer is full
// or the input ends.
func (c *cdcChunker) fill() {
	n := copy(c.buf[:cap(c.buf)], c.buf[c.pos:])
	c.buf, c.pos = c.buf[:n], 0
	for len(c.buf) < cap(c.buf) {
		m, err := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+m]
		if err == io.EOF {
			c.eof = true
			return
		}
		if err != nil {
			c.err = err
			return
		}
	}
}

// cut returns the length of the next chunk at the start of b.
func (s cdc) cut(b []byte) int {
	n := len(b)
	if n <= s.min {
		return n
	}
	if n > s.max {
		n = s.max
	}
	normal := s.avg
	if n < normal {
		normal = n
	}
	var h uint64
	i := s.min
	for ; i < normal; i++ {
		h = h<<1 + gear[b[i]]
		if h&s.maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = h<<1 + gear[b[i]]
		if h&s.maskL == 0 {
			return i + 1
		}
	}
	return n
}

// gear maps each byte to a random 64-bit value. It is generated from a
// fixed seed with splitmix64, so it is the same everywhere; changing the
// seed changes every CDC chunk id, so never change it.
var gear = func() (g [256]uint64) {
	x := uint64(0x7066732d67656172) // "pfs-gear"
	for i := range g {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		g[i] = z ^ z>>31
	}
	return g
}()
