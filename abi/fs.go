package abi

// FSStat is what fs_stat writes at its out pointer, [FSStatSize] bytes:
//
//	u64 size | id [32]byte | i64 time_unix_ns | u32 versions | u32 0
//	0          8              40                48              52
//
// For a name, Time is when the current version was written and Versions
// counts every version of the name, removals included. For a content id,
// Time and Versions are 0.
type FSStat struct {
	Size     uint64
	ID       [FSIDSize]byte
	Time     int64
	Versions uint32
}

// AppendFSStat appends the FSStatSize-byte encoding of s.
func AppendFSStat(b []byte, s FSStat) []byte {
	var o [FSStatSize]byte
	put64(o[0:], s.Size)
	copy(o[8:], s.ID[:])
	put64(o[40:], uint64(s.Time))
	put32(o[48:], s.Versions)
	return append(b, o[:]...)
}

// DecodeFSStat is the inverse of [AppendFSStat] (ErrShort below
// FSStatSize bytes; the reserved word is ignored).
func DecodeFSStat(b []byte) (FSStat, error) {
	if len(b) < FSStatSize {
		return FSStat{}, ErrShort
	}
	var s FSStat
	s.Size = le64(b)
	copy(s.ID[:], b[8:40])
	s.Time = int64(le64(b[40:]))
	s.Versions = le32(b[48:])
	return s, nil
}
