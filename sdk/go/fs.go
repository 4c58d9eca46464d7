//go:build wasip1

package pk

import (
	"encoding/hex"
	"unsafe"

	"github.com/p-kernel/p-kernel/abi"
)

// The cluster file system (abi/README.md § fs, § p-fs): names in the one
// namespace modules share, "shared". Every function needs the "fs" grant,
// which no module gets by default; a module that calls none of them does not
// import them and needs no grant.

// FSID is a file's content id.
type FSID [abi.FSIDSize]byte

// String is the id as 64 hex digits: the form FSRead and FSStat take as a
// ref, and `pkhost fs` prints.
func (id FSID) String() string { return hex.EncodeToString(id[:]) }

// FSInfo describes a file (FSStat).
type FSInfo = abi.FSStat

// FSPut stores data (at most 4 MiB) as the new version of name and returns
// its content id. On an error no version was published.
func FSPut(name string, data []byte) (FSID, error) {
	var id FSID
	err := errOf(sysFSPut(sptr(name), uint32(len(name)), bptr(data), uint32(len(data)), unsafe.Pointer(&id)))
	return id, err
}

// FSRead reads into buf from byte off of the file ref (a name, or an
// FSID's String) and returns how many bytes it read: fewer than len(buf)
// only at the end of the file (0 at or past it), and at most 4 MiB a call.
func FSRead(ref string, off int64, buf []byte) (int, error) {
	var n uint32
	err := errOf(sysFSRead(sptr(ref), uint32(len(ref)), off, bptr(buf), uint32(len(buf)), unsafe.Pointer(&n)))
	return int(n), err
}

// FSReadAll reads the whole current version of ref (it must fit in
// memory), in steps of at most 4 MiB. It reads by id once it knows it, so a concurrent write of the name
// cannot mix two versions.
func FSReadAll(ref string) ([]byte, error) {
	st, err := FSStat(ref)
	if err != nil {
		return nil, err
	}
	id := FSID(st.ID).String()
	out := make([]byte, st.Size)
	for off := 0; off < len(out); {
		n, err := FSRead(id, int64(off), out[off:min(len(out), off+abi.MaxFSRead)])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, abi.EIO // the file is shorter than its stat said
		}
		off += n
	}
	return out, nil
}

// FSStat describes the file ref.
func FSStat(ref string) (FSInfo, error) {
	var b [abi.FSStatSize]byte
	if err := errOf(sysFSStat(sptr(ref), uint32(len(ref)), unsafe.Pointer(&b))); err != nil {
		return FSInfo{}, err
	}
	return abi.DecodeFSStat(b[:])
}

// FSList returns the live names starting with prefix, sorted.
func FSList(prefix string) ([]string, error) {
	return stringList(func(buf unsafe.Pointer, c uint32, lenOut unsafe.Pointer) uint32 {
		return sysFSList(sptr(prefix), uint32(len(prefix)), buf, c, lenOut)
	})
}

// FSRemove removes name (its history stays).
func FSRemove(name string) error { return errOf(sysFSRemove(sptr(name), uint32(len(name)))) }
