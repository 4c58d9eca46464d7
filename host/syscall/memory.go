package syscall

import (
	"unicode/utf8"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// read returns the guest bytes [ptr, ptr+n) aliasing guest memory, or EFAULT.
func read(mem api.Memory, ptr, n uint32) ([]byte, abi.Errno) {
	if n == 0 {
		return nil, abi.OK
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, abi.EFAULT
	}
	return b, abi.OK
}

// readCopy is read into a fresh slice the host may keep.
func readCopy(mem api.Memory, ptr, n uint32) ([]byte, abi.Errno) {
	b, e := read(mem, ptr, n)
	if e != abi.OK || b == nil {
		return nil, e
	}
	return append([]byte(nil), b...), abi.OK
}

// readPayload reads a payload of at most max bytes (EMSGSIZE beyond),
// aliasing guest memory; empty data is an empty slice, never nil.
func readPayload(mem api.Memory, ptr, n, max uint32) ([]byte, abi.Errno) {
	if n > max {
		return nil, abi.EMSGSIZE
	}
	b, e := read(mem, ptr, n)
	if e == abi.OK && b == nil {
		b = []byte{}
	}
	return b, e
}

// readName reads a topic or module name: 1..max bytes of UTF-8 without NUL.
func readName(mem api.Memory, ptr, n uint32, max int) (string, abi.Errno) {
	if n == 0 {
		return "", abi.EINVAL
	}
	if n > uint32(max) {
		return "", abi.ENAMETOOLONG
	}
	b, e := read(mem, ptr, n)
	if e != abi.OK {
		return "", e
	}
	s := string(b)
	if !utf8.ValidString(s) {
		return "", abi.EINVAL
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return "", abi.EINVAL
		}
	}
	return s, abi.OK
}

// readKey reads a kv key: 1..MaxKeyLen arbitrary bytes.
func readKey(mem api.Memory, ptr, n uint32) ([]byte, abi.Errno) {
	if n == 0 {
		return nil, abi.EINVAL
	}
	if n > abi.MaxKeyLen {
		return nil, abi.ENAMETOOLONG
	}
	return read(mem, ptr, n)
}

// checkResult checks the output ranges of a variable-length result: len_out
// and the whole of buf[0:cap] must be inside guest memory (abi/README.md: a
// pointer/length pair not wholly inside guest memory gives EFAULT). Syscalls
// call it before asking the Host, so a bad buffer does not cost the operation.
func checkResult(mem api.Memory, buf, cap, lenOut uint32) abi.Errno {
	if _, ok := mem.Read(lenOut, 4); !ok {
		return abi.EFAULT
	}
	_, e := read(mem, buf, cap)
	return e
}

// writeResult implements the variable-length result convention of
// abi/README.md: fit → write and OK; too big → keep it, write the needed
// length and E2BIG. Nothing is written when any range is bad.
func writeResult(mem api.Memory, k *Kept, data []byte, buf, cap, lenOut uint32) abi.Errno {
	if e := checkResult(mem, buf, cap, lenOut); e != abi.OK {
		return e
	}
	if uint64(len(data)) > uint64(cap) {
		k.data, k.ok = data, true
		mem.WriteUint32Le(lenOut, uint32(len(data)))
		return abi.E2BIG
	}
	if len(data) > 0 && !mem.Write(buf, data) {
		return abi.EFAULT
	}
	mem.WriteUint32Le(lenOut, uint32(len(data)))
	return abi.OK
}
