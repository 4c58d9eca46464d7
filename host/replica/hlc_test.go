package replica

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"testing/quick"
)

func TestClockNow(t *testing.T) {
	// Kulkarni et al. §3 (algorithm 2, send/local event): l = max(l, pt),
	// c = c+1 if l did not move, else 0.
	c := NewClock("a")
	steps := []struct {
		wall int64
		want HLC
	}{
		{10, HLC{Wall: t0.UnixMilli() + 10, Node: "a"}},
		{10, HLC{Wall: t0.UnixMilli() + 10, Logical: 1, Node: "a"}},
		{5, HLC{Wall: t0.UnixMilli() + 10, Logical: 2, Node: "a"}}, // wall went back
		{11, HLC{Wall: t0.UnixMilli() + 11, Node: "a"}},
	}
	for i, st := range steps {
		if got := c.Now(at(st.wall)); got != st.want {
			t.Fatalf("step %d: Now(%d) = %v, want %v", i, st.wall, got, st.want)
		}
	}
}

func TestClockUpdate(t *testing.T) {
	// Receive rule: after observing m, every later Now is greater than m.
	tests := []struct {
		name   string
		remote HLC
		wall   int64
	}{
		{"remote ahead", HLC{Wall: t0.UnixMilli() + 1000, Logical: 7, Node: "z"}, 0},
		{"remote same ms", HLC{Wall: t0.UnixMilli(), Logical: 9, Node: "z"}, 0},
		{"remote behind", HLC{Wall: t0.UnixMilli() - 1000, Logical: 9, Node: "z"}, 0},
		{"remote max logical", HLC{Wall: t0.UnixMilli(), Logical: math.MaxUint32, Node: "z"}, 0},
		{"remote smaller node", HLC{Wall: t0.UnixMilli(), Logical: 0, Node: "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock("a")
			c.Now(at(0))
			c.Update(tt.remote)
			if got := c.Now(at(tt.wall)); got.Compare(tt.remote) <= 0 {
				t.Fatalf("Now after Update(%v) = %v, want greater", tt.remote, got)
			}
		})
	}
}

func TestClockNegativeWall(t *testing.T) {
	c := NewClock("a")
	if got := c.Now(at(0).AddDate(-100, 0, 0)); got.Wall != 0 {
		t.Fatalf("Now(1923) = %v, want wall clamped to 0", got)
	}
	if _, err := c.Last().MarshalBinary(); err != nil {
		t.Fatalf("clamped timestamp does not encode: %v", err)
	}
}

func TestHLCCompare(t *testing.T) {
	tests := []struct {
		a, b HLC
		want int
	}{
		{HLC{1, 0, "a"}, HLC{2, 0, "a"}, -1},
		{HLC{2, 0, "a"}, HLC{1, 9, "z"}, 1},
		{HLC{1, 1, "a"}, HLC{1, 2, "a"}, -1},
		{HLC{1, 1, "b"}, HLC{1, 1, "a"}, 1},
		{HLC{1, 1, "a"}, HLC{1, 1, "a"}, 0},
		{HLC{}, HLC{0, 0, "a"}, -1},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestHLCBinaryOrder checks that encodings sort like Compare and round-trip.
func TestHLCBinaryOrder(t *testing.T) {
	f := func(w1, w2 int64, l1, l2 uint32, n1, n2 string) bool {
		fix := func(w int64, n string) (int64, string) {
			if w < 0 {
				w = -(w + 1)
			}
			if n == "" || len(n) > MaxNodeLen {
				n = "n"
			}
			return w, n
		}
		var a, b HLC
		a.Wall, a.Node = fix(w1, n1)
		b.Wall, b.Node = fix(w2, n2)
		a.Logical, b.Logical = l1, l2%4 // small range so that ties happen
		if l1%3 == 0 {
			b.Wall = a.Wall
		}
		ea, err1 := a.MarshalBinary()
		eb, err2 := b.MarshalBinary()
		if err1 != nil || err2 != nil {
			return false
		}
		var da HLC
		if err := da.UnmarshalBinary(ea); err != nil || da != a {
			return false
		}
		return bytes.Compare(ea, eb) == a.Compare(b)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Fatal(err)
	}
}

func TestHLCUnmarshalRejects(t *testing.T) {
	tests := map[string][]byte{
		"empty":         nil,
		"no node":       make([]byte, 12),
		"negative wall": append([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 'a'),
		"long node":     append(make([]byte, 12), bytes.Repeat([]byte{'a'}, MaxNodeLen+1)...),
	}
	for name, b := range tests {
		var h HLC
		if err := h.UnmarshalBinary(b); !errors.Is(err, ErrInvalidHLC) {
			t.Errorf("%s: err = %v, want ErrInvalidHLC", name, err)
		}
	}
}
