package object

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
)

// TestReader: reads at every offset and length across chunk and tree
// boundaries give the file's bytes; sequential small reads fetch each chunk
// once; a chunk error is returned with the bytes read before it.
func TestReader(t *testing.T) {
	m := memStore{}
	cs := chunks(20)
	var file []byte
	content := map[string][]byte{}
	for i, c := range cs {
		b := bytes.Repeat([]byte{byte('a' + i)}, int(c.Size))
		content[c.ID.String()] = b
		file = append(file, b...)
	}
	rootID, _ := build(t, m, cs, 3)
	root, err := LoadFile(context.Background(), m.get, rootID)
	if err != nil {
		t.Fatal(err)
	}
	fetches := 0
	var failAt uint64 = 1 << 62
	r := NewReader(root, m.get, func(_ context.Context, c Chunk, start uint64) ([]byte, error) {
		fetches++
		if start == failAt {
			return nil, errors.New("chunk lost")
		}
		return content[c.ID.String()], nil
	})
	if r.Size() != int64(len(file)) {
		t.Fatalf("size %d, want %d", r.Size(), len(file))
	}
	ctx := context.Background()
	for off := 0; off <= len(file); off++ {
		for n := 0; n <= 9; n++ {
			p := make([]byte, n)
			got, err := r.ReadAt(ctx, p, int64(off))
			want := min(n, len(file)-off)
			if got != want || !bytes.Equal(p[:got], file[off:off+want]) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d %q, want %q", n, off, got, p[:got], file[off:off+want])
			}
			if (want < n) != (err == io.EOF) || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt(%d bytes, %d): err %v", n, off, err)
			}
		}
	}
	r.Release()
	fetches = 0
	for off := 0; off < len(file); off++ {
		r.ReadAt(ctx, make([]byte, 1), int64(off))
	}
	if fetches != len(cs) {
		t.Fatalf("byte-by-byte read fetched %d chunks, want %d", fetches, len(cs))
	}
	if _, err := r.ReadAt(ctx, make([]byte, 1), -1); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("negative offset: %v", err)
	}
	r.Release()
	failAt = uint64(cs[0].Size)
	p := make([]byte, len(file))
	if n, err := r.ReadAt(ctx, p, 0); n != int(cs[0].Size) || err == nil || err.Error() != "chunk lost" {
		t.Fatalf("read over a lost chunk: %d %v", n, err)
	}
}

func TestSeek(t *testing.T) {
	for _, c := range []struct {
		pos, off int64
		whence   int
		want     int64
		bad      bool
	}{
		{5, 3, io.SeekStart, 3, false},
		{5, 3, io.SeekCurrent, 8, false},
		{5, -3, io.SeekEnd, 7, false},
		{5, 20, io.SeekEnd, 30, false}, // past the end is allowed, as for os.File
		{5, -6, io.SeekCurrent, 5, true},
		{5, 0, 7, 5, true},
	} {
		got, err := Seek(c.pos, 10, c.off, c.whence)
		if got != c.want || (err != nil) != c.bad || (c.bad && !errors.Is(err, fs.ErrInvalid)) {
			t.Errorf("Seek(pos %d, %d, %d) = %d, %v; want %d", c.pos, c.off, c.whence, got, err, c.want)
		}
	}
}
