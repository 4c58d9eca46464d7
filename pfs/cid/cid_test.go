package cid

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSumKnownVector(t *testing.T) {
	// BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	if got := Sum(nil).String(); got != empty {
		t.Fatalf("Sum(nil) = %s, want %s", got, empty)
	}
	id, n, err := SumReader(bytes.NewReader(nil))
	if err != nil || n != 0 || id.String() != empty {
		t.Fatalf("SumReader(empty) = %s, %d, %v", id, n, err)
	}
}

func TestRoundTrip(t *testing.T) {
	id := Sum([]byte("p-kernel"))
	p, err := Parse(id.String())
	if err != nil || p != id {
		t.Fatalf("Parse(String()) = %v, %v", p, err)
	}
	up, err := Parse(strings.ToUpper(id.String()))
	if err != nil || up != id {
		t.Fatalf("upper case: %v, %v", up, err)
	}
	b, _ := id.MarshalText()
	var q ID
	if err := q.UnmarshalText(b); err != nil || q != id {
		t.Fatalf("text round trip: %v, %v", q, err)
	}
	if id.Short() != id.String()[:12] {
		t.Fatalf("Short = %s", id.Short())
	}
}

func TestParseRejects(t *testing.T) {
	good := Sum([]byte("x")).String()
	for _, s := range []string{"", "abc", good[:63], good + "0", "zz" + good[2:], " " + good[1:], strings.Repeat("a", 1000)} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestVerify(t *testing.T) {
	b := []byte("block")
	id := Sum(b)
	if err := Verify(id, b); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	err := Verify(id, b)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), id.Short()) {
		t.Fatalf("Verify(corrupt) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("")
	f.Add(strings.Repeat("G", 64))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("Parse(%q) = %s", s, id)
		}
	})
}
