package names

import (
	"encoding/binary"
	"fmt"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// magic starts every encoded version: "pfv" and the format version 1.
var magic = [4]byte{'p', 'f', 'v', 1}

// MaxEncoded is the largest encoding of a valid version.
const MaxEncoded = len(magic) + 1 + MaxNamespace + 2 + MaxName + cid.Size + 8 + 8 + 4 + 1 + MaxNode

// MarshalBinary encodes v canonically (all integers big-endian):
//
//	magic "pfv\x01" | ns len u8 | ns | name len u16 | name | object [32] |
//	size u64 | wall i64 | logical u32 | node len u8 | node
//
// It fails if v is not valid.
func (v Version) MarshalBinary() ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(magic)+1+len(v.Namespace)+2+len(v.Name)+cid.Size+20+1+len(v.Node))
	b = append(b, magic[:]...)
	b = append(b, byte(len(v.Namespace)))
	b = append(b, v.Namespace...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v.Name)))
	b = append(b, v.Name...)
	b = append(b, v.Object[:]...)
	b = binary.BigEndian.AppendUint64(b, v.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Time.Wall))
	b = binary.BigEndian.AppendUint32(b, v.Time.Logical)
	b = append(b, byte(len(v.Node)))
	b = append(b, v.Node...)
	return b, nil
}

// reader takes fields off the front of an encoding.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = invalid("encoding truncated in %s: %d bytes left, need %d", what, len(r.b), n)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) int {
	if b := r.take(1, what); b != nil {
		return int(b[0])
	}
	return 0
}

func (r *reader) u16(what string) int {
	if b := r.take(2, what); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Unmarshal decodes what MarshalBinary produced. It rejects anything else:
// a wrong magic or format version, a length past the limits, trailing
// bytes, or fields that do not validate.
func Unmarshal(b []byte) (Version, error) {
	if len(b) > MaxEncoded {
		return Version{}, invalid("encoding is %d bytes, more than %d", len(b), MaxEncoded)
	}
	r := &reader{b: b}
	if m := r.take(len(magic), "magic"); r.err == nil && [4]byte(m) != magic {
		return Version{}, invalid("bad magic %q (want %q)", m, magic[:])
	}
	var v Version
	v.Namespace = string(r.take(r.u8("namespace length"), "namespace"))
	v.Name = string(r.take(r.u16("name length"), "name"))
	copy(v.Object[:], r.take(cid.Size, "object"))
	v.Size = r.u64("size")
	v.Time.Wall = int64(r.u64("wall time"))
	if l := r.take(4, "logical time"); l != nil {
		v.Time.Logical = binary.BigEndian.Uint32(l)
	}
	v.Node = string(r.take(r.u8("node length"), "node"))
	if r.err != nil {
		return Version{}, r.err
	}
	if len(r.b) != 0 {
		return Version{}, invalid("%d trailing bytes", len(r.b))
	}
	if err := v.Validate(); err != nil {
		return Version{}, fmt.Errorf("decoded version: %w", err)
	}
	return v, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler with Unmarshal.
func (v *Version) UnmarshalBinary(b []byte) error {
	d, err := Unmarshal(b)
	if err != nil {
		return err
	}
	*v = d
	return nil
}
