package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrFrameTooLarge is returned by [ReadFrame] for a frame longer than its
// limit, and by [WriteFrame] for a message that does not fit a frame.
var ErrFrameTooLarge = errors.New("frame too large")

// frameChunk is how much ReadFrame reads (and allocates) at a time.
const frameChunk = 1 << 20

// WriteFrame writes m to a stream as one frame: the encoded length as 4
// bytes big-endian, then the encoded message.
func WriteFrame(w io.Writer, m Message) error {
	b, err := m.AppendBinary(make([]byte, 4, 64))
	if err != nil {
		return err
	}
	if uint64(len(b)-4) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b)-4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err = w.Write(b)
	return err
}

// ReadFrame reads one frame written by [WriteFrame] and decodes it. A frame
// longer than max is refused before its body is read. The buffer grows as
// bytes arrive, one MiB at a time, so a peer that announces a large frame
// and sends little makes the reader allocate little. A stream that ends
// between frames returns io.EOF; one that ends inside a frame returns
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) (Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Message{}, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if n > int64(max) {
		return Message{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	buf := make([]byte, 0, min(n, frameChunk))
	for int64(len(buf)) < n {
		k := min(n-int64(len(buf)), frameChunk)
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(r, buf[int64(len(buf))-k:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
	}
	return Decode(buf)
}
