// Package cid owns p-fs content ids: the BLAKE3-256 of a block's bytes and
// its printable form.
//
// The printable form is 64 lowercase hex digits, the same text `b3sum`
// prints, so a single-chunk file's id can be checked with ordinary tools.
// Parse also accepts upper case, and nothing else: no prefixes, no
// truncation (short forms are a CLI concern resolved against a store).
package cid

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// Size is the length of an ID in bytes.
const Size = 32

// ID identifies a block by the BLAKE3-256 of its bytes. The zero ID means
// "no id" and is never the sum of any bytes one can find.
type ID [Size]byte

// Undef is the zero ID.
var Undef ID

// ErrMismatch is returned by Verify when bytes do not hash to the expected
// ID.
var ErrMismatch = errors.New("cid: content does not match its id")

// Sum returns the ID of b.
func Sum(b []byte) ID { return ID(blake3.Sum256(b)) }

// SumReader returns the ID of everything r yields and how many bytes it read.
func SumReader(r io.Reader) (ID, int64, error) {
	h := blake3.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Undef, n, err
	}
	var id ID
	h.Sum(id[:0])
	return id, n, nil
}

// Verify reports whether b hashes to id, as an error wrapping ErrMismatch
// that names both ids when it does not.
func Verify(id ID, b []byte) error {
	if got := Sum(b); got != id {
		return fmt.Errorf("%w: want %s, got %s (%d bytes)", ErrMismatch, id.Short(), got.Short(), len(b))
	}
	return nil
}

// String returns the 64-digit lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs and messages.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsUndef reports whether id is the zero ID.
func (id ID) IsUndef() bool { return id == Undef }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Parse reads the printable form.
func Parse(s string) (ID, error) {
	if len(s) != 2*Size {
		return Undef, fmt.Errorf("cid: %q is %d characters, want %d hex digits", clip(s), len(s), 2*Size)
	}
	var id ID
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return Undef, fmt.Errorf("cid: %q is not hex: %v", clip(s), err)
	}
	return id, nil
}

// MustParse is Parse for constants in tests; it panics on a bad id.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

// clip keeps error messages short when handed garbage.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
