package syscall

import (
	"bytes"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// fsPut(name, name_len, data, data_len, id_out): see abi/README.md § fs_put.
// The data is copied: p-fs may still hold it on other goroutines when a put
// is abandoned. id_out is checked before the (expensive) put.
func fsPut(h Host, mem api.Memory, a []uint64) abi.Errno {
	name, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxFSName)
	if e != abi.OK {
		return e
	}
	data, e := readPayload(mem, u32(a[2]), u32(a[3]), abi.MaxPayload)
	if e != abi.OK {
		return e
	}
	data = bytes.Clone(data)
	if _, ok := mem.Read(u32(a[4]), abi.FSIDSize); !ok {
		return abi.EFAULT
	}
	id, e := h.FSPut(name, data)
	if e != abi.OK {
		return e
	}
	if !mem.Write(u32(a[4]), id[:]) {
		return abi.EFAULT
	}
	return abi.OK
}

// fsRead(ref, ref_len, offset: i64, buf, cap, len_out): a ranged read, not
// the E2BIG convention. The Host returns at most min(cap, MaxFSRead) bytes.
func fsRead(h Host, mem api.Memory, a []uint64) abi.Errno {
	ref, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxFSName)
	if e != abi.OK {
		return e
	}
	off := int64(a[2])
	if off < 0 {
		return abi.EINVAL
	}
	buf, capacity, lenOut := u32(a[3]), u32(a[4]), u32(a[5])
	if e := checkResult(mem, buf, capacity, lenOut); e != abi.OK {
		return e
	}
	n := min(capacity, abi.MaxFSRead)
	data, e := h.FSRead(ref, off, n)
	if e != abi.OK {
		return e
	}
	if uint64(len(data)) > uint64(n) {
		return abi.EIO // a Host bug; the guest's buffer is not overrun
	}
	if len(data) > 0 && !mem.Write(buf, data) {
		return abi.EFAULT
	}
	mem.WriteUint32Le(lenOut, uint32(len(data)))
	return abi.OK
}

// fsStat(ref, ref_len, out): writes abi.FSStatSize bytes at out.
func fsStat(h Host, mem api.Memory, a []uint64) abi.Errno {
	ref, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxFSName)
	if e != abi.OK {
		return e
	}
	if _, ok := mem.Read(u32(a[2]), abi.FSStatSize); !ok {
		return abi.EFAULT
	}
	st, e := h.FSStat(ref)
	if e != abi.OK {
		return e
	}
	if !mem.Write(u32(a[2]), abi.AppendFSStat(nil, st)) {
		return abi.EFAULT
	}
	return abi.OK
}

// fsList(prefix, prefix_len, buf, cap, len_out): the kv_list encoding.
func fsList(h Host, mem api.Memory, a []uint64) abi.Errno {
	p, e := listArgs(mem, a, abi.MaxFSName)
	if e != abi.OK {
		return e
	}
	names, e := h.FSList(string(p))
	if e != abi.OK {
		return e
	}
	var out []byte
	for _, n := range names {
		out = abi.AppendList(out, []byte(n))
	}
	if out == nil {
		out = []byte{}
	}
	return writeResult(mem, h.Kept(), out, u32(a[2]), u32(a[3]), u32(a[4]))
}

// fsRemove(name, name_len).
func fsRemove(h Host, mem api.Memory, a []uint64) abi.Errno {
	name, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxFSName)
	if e != abi.OK {
		return e
	}
	return h.FSRemove(name)
}
