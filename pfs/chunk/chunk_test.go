package chunk

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/zeebo/blake3"
)

// random returns n deterministic pseudo-random bytes.
func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// all chunks r with s, copying each chunk.
func all(t testing.TB, s Splitter, r io.Reader) [][]byte {
	t.Helper()
	c := s.New(r)
	var out [][]byte
	for {
		b, err := c.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%v: Next: %v", s, err)
		}
		if len(b) == 0 {
			t.Fatalf("%v: empty chunk", s)
		}
		out = append(out, bytes.Clone(b))
	}
}

func small(t *testing.T) Splitter {
	s, err := CDC(1<<10, 4<<10, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFixedBoundaries(t *testing.T) {
	data := random(1, 10*1000+7)
	cs := all(t, Fixed(1000), bytes.NewReader(data))
	if len(cs) != 11 {
		t.Fatalf("got %d chunks, want 11", len(cs))
	}
	for i, c := range cs[:10] {
		if len(c) != 1000 {
			t.Fatalf("chunk %d is %d bytes, want 1000", i, len(c))
		}
	}
	if len(cs[10]) != 7 {
		t.Fatalf("last chunk is %d bytes, want 7", len(cs[10]))
	}
	if got := all(t, Fixed(1000), bytes.NewReader(data[:3000])); len(got) != 3 {
		t.Fatalf("exact multiple: got %d chunks, want 3", len(got))
	}
	if Fixed(0).MaxSize() != DefaultSize {
		t.Fatalf("Fixed(0) size %d, want %d", Fixed(0).MaxSize(), DefaultSize)
	}
}

func TestEmptyInput(t *testing.T) {
	for _, s := range []Splitter{Fixed(0), Default(), small(t)} {
		if cs := all(t, s, bytes.NewReader(nil)); len(cs) != 0 {
			t.Errorf("%v: %d chunks from empty input", s, len(cs))
		}
	}
}

// TestConcatAndBounds: chunks put back together are the input, and every
// chunk but the last respects min and max, whatever the read sizes.
func TestConcatAndBounds(t *testing.T) {
	data := random(2, 3<<20+123)
	sp := small(t)
	s := sp.(cdc)
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(data) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
	}
	var ref [][]byte
	for name, mk := range readers {
		cs := all(t, sp, mk())
		if got := bytes.Join(cs, nil); !bytes.Equal(got, data) {
			t.Fatalf("%s: concatenation differs from input", name)
		}
		for i, c := range cs {
			if len(c) > s.max || (i < len(cs)-1 && len(c) < s.min) {
				t.Fatalf("%s: chunk %d is %d bytes, outside [%d, %d]", name, i, len(c), s.min, s.max)
			}
		}
		if ref == nil {
			ref = cs
		} else if len(ref) != len(cs) {
			t.Fatalf("%s: %d chunks, another reader gave %d: cuts depend on read sizes", name, len(cs), len(ref))
		}
	}
	// Normalized chunking keeps the mean near avg.
	mean := len(data) / len(ref)
	if mean < s.avg/2 || mean > s.avg*2 {
		t.Errorf("mean chunk %d bytes, want near %d", mean, s.avg)
	}
}

// TestZerosRespectMax: a constant run drives the gear hash to a constant,
// which either always or never matches the mask; max must still hold.
func TestZerosRespectMax(t *testing.T) {
	data := make([]byte, 1<<20)
	sp := small(t)
	for i, c := range all(t, sp, bytes.NewReader(data)) {
		if len(c) > sp.MaxSize() {
			t.Fatalf("chunk %d is %d bytes > max %d", i, len(c), sp.MaxSize())
		}
	}
}

// TestGolden pins the cut points of the default splitter on fixed
// pseudo-random input: if this changes, every CDC chunk id in every store
// changes with it.
func TestGolden(t *testing.T) {
	want := []int{317173, 317561, 349840, 274930, 266552, 286511, 371528, 375977, 359868, 266644, 408363, 263255, 163987, 172115}
	var got []int
	for _, c := range all(t, Default(), bytes.NewReader(random(42, 4<<20))) {
		got = append(got, len(c))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("chunk sizes %v, want %v", got, want)
	}
}

// TestResync: after an insertion near the start, CDC chunks after the edit
// are the same; fixed chunks are all different.
func TestResync(t *testing.T) {
	data := random(3, 4<<20)
	edited := append(append(bytes.Clone(data[:5000]), []byte("an insertion")...), data[5000:]...)
	shared := func(s Splitter) (int, int) {
		seen := map[[32]byte]bool{}
		for _, c := range all(t, s, bytes.NewReader(data)) {
			seen[blake3.Sum256(c)] = true
		}
		after := all(t, s, bytes.NewReader(edited))
		n := 0
		for _, c := range after {
			if seen[blake3.Sum256(c)] {
				n++
			}
		}
		return n, len(after)
	}
	if n, total := shared(small(t)); n < total-3 {
		t.Errorf("cdc: %d of %d chunks shared after an insertion, want all but <= 3", n, total)
	}
	if n, total := shared(Fixed(4 << 10)); n > 1 {
		t.Errorf("fixed: %d of %d chunks shared after an insertion, want ~0", n, total)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(random(4, 100<<10)), iotest.ErrReader(boom))
	for _, s := range []Splitter{Fixed(4 << 10), small(t)} {
		c := s.New(r)
		var err error
		for err == nil {
			_, err = c.Next()
		}
		if !errors.Is(err, boom) {
			t.Errorf("%v: got %v, want the read error", s, err)
		}
		if _, err2 := c.Next(); !errors.Is(err2, boom) {
			t.Errorf("%v: error not sticky: %v", s, err2)
		}
		r = io.MultiReader(bytes.NewReader(random(4, 100<<10)), iotest.ErrReader(boom))
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range [][3]int{{0, 1024, 4096}, {1024, 1000, 4096}, {1024, 4096, 4096}, {4096, 2048, 8192}} {
		if _, err := CDC(p[0], p[1], p[2]); !errors.Is(err, ErrParams) {
			t.Errorf("CDC%v: got %v, want ErrParams", p, err)
		}
	}
}
