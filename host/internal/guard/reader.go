package guard

import "fmt"

// reader is a bounds-checked cursor over one region of the module (a
// section's content or a function body). Every read checks the remaining
// length first, so malformed input yields ErrMalformed, never a panic.
type reader struct {
	buf     []byte
	pos     int
	base    int    // absolute offset of buf[0] in the module, for errors
	section string // section name, for errors
	fn      int64  // function index being decoded, or -1
}

func newReader(buf []byte, base int, section string) *reader {
	return &reader{buf: buf, base: base, section: section, fn: -1}
}

func (r *reader) remaining() int { return len(r.buf) - r.pos }

// where describes the current position for error messages.
func (r *reader) where(pos int) string {
	if r.fn >= 0 {
		return fmt.Sprintf("%s section, function %d, offset %#x", r.section, r.fn, r.base+pos)
	}
	return fmt.Sprintf("%s section, offset %#x", r.section, r.base+pos)
}

// malformedAt reports malformed input at pos (relative to r.buf).
func (r *reader) malformedAt(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, r.where(pos), fmt.Sprintf(format, args...))
}

// unsupportedAt reports an unsupported construct at pos (relative to r.buf).
func (r *reader) unsupportedAt(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, r.where(pos), fmt.Sprintf(format, args...))
}

func (r *reader) byte(what string) (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, r.malformedAt(r.pos, "unexpected end reading %s", what)
	}
	b := r.buf[r.pos]
	r.pos++
	return b, nil
}

func (r *reader) peek(what string) (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, r.malformedAt(r.pos, "unexpected end reading %s", what)
	}
	return r.buf[r.pos], nil
}

// u32 decodes an unsigned LEB128 value that must fit in 32 bits.
func (r *reader) u32(what string) (uint32, error) {
	start := r.pos
	var v uint32
	for i := 0; i < 5; i++ {
		if r.pos >= len(r.buf) {
			return 0, r.malformedAt(start, "truncated LEB128 %s", what)
		}
		b := r.buf[r.pos]
		r.pos++
		if i == 4 && b&0xf0 != 0 {
			// The fifth byte carries bits 28-31 only; anything else
			// overflows 32 bits (or continues past the maximum length).
			return 0, r.malformedAt(start, "LEB128 %s overflows 32 bits", what)
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, r.malformedAt(start, "LEB128 %s overflows 32 bits", what) // unreachable
}

// skipSigned skips a signed LEB128 value of at most maxLen bytes. The value
// itself is never needed: the bytes are copied through unchanged.
func (r *reader) skipSigned(maxLen int, what string) error {
	start := r.pos
	for i := 0; i < maxLen; i++ {
		if r.pos >= len(r.buf) {
			return r.malformedAt(start, "truncated LEB128 %s", what)
		}
		b := r.buf[r.pos]
		r.pos++
		if b&0x80 == 0 {
			return nil
		}
	}
	return r.malformedAt(start, "LEB128 %s longer than %d bytes", what, maxLen)
}

// skip advances over n raw bytes.
func (r *reader) skip(n int, what string) error {
	if n < 0 || n > r.remaining() {
		return r.malformedAt(r.pos, "%s needs %d bytes, %d left", what, n, r.remaining())
	}
	r.pos += n
	return nil
}

// bytes returns the next n bytes, aliasing the input.
func (r *reader) bytes(n uint32, what string) ([]byte, error) {
	if uint64(n) > uint64(r.remaining()) {
		return nil, r.malformedAt(r.pos, "%s needs %d bytes, %d left", what, n, r.remaining())
	}
	start := r.pos
	r.pos += int(n)
	return r.buf[start:r.pos], nil
}

// count decodes a vector length. Every element takes at least minSize
// bytes, so a count larger than the remaining bytes allow is rejected before
// anything is sized from it.
func (r *reader) count(what string, minSize int) (uint32, error) {
	start := r.pos
	n, err := r.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		return 0, r.malformedAt(start, "%s %d does not fit in the %d bytes left", what, n, r.remaining())
	}
	return n, nil
}

// name decodes a length-prefixed byte string (names are not checked for
// UTF-8: they are copied through unchanged).
func (r *reader) name(what string) ([]byte, error) {
	n, err := r.u32(what + " length")
	if err != nil {
		return nil, err
	}
	return r.bytes(n, what)
}

// appendU32 appends v as minimal unsigned LEB128.
func appendU32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
