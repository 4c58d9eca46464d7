package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := sampleMessages(t)
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	// One byte at a time, as a slow stream delivers it.
	r := iotest.OneByteReader(&buf)
	for i, want := range msgs {
		got, err := ReadFrame(r, 1<<20)
		if err != nil || !equalMessages(got, want) {
			t.Fatalf("frame %d: %+v, %v", i, got, err)
		}
	}
	if _, err := ReadFrame(r, 1<<20); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	var ok bytes.Buffer
	WriteFrame(&ok, Message{Wants: []string{"topic"}})
	frame := ok.Bytes()
	hdr := func(n uint32, body ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), body...) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"too large", frame, ErrFrameTooLarge},
		{"cut in header", frame[:2], io.ErrUnexpectedEOF},
		{"cut in body", frame[:len(frame)-1], io.ErrUnexpectedEOF},
		{"garbage body", hdr(2, 9, 9), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := 1 << 20
			if tt.want == ErrFrameTooLarge {
				max = len(frame) - 5
			}
			if _, err := ReadFrame(bytes.NewReader(tt.in), max); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReadFrameLyingLength announces a 4 GiB frame and sends 10 bytes: the
// reader fails without allocating anywhere near the announced size.
func TestReadFrameLyingLength(t *testing.T) {
	in := append(binary.BigEndian.AppendUint32(nil, 1<<32-1), make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bytes.NewReader(in), 1<<33)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("allocated %d bytes for a 10-byte frame", got)
	}
}
