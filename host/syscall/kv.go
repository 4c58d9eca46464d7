package syscall

import (
	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// kvGet(key, key_len, buf, cap, len_out).
func kvGet(h Host, mem api.Memory, a []uint64) abi.Errno {
	k, e := readKey(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return e
	}
	if e := checkResult(mem, u32(a[2]), u32(a[3]), u32(a[4])); e != abi.OK {
		return e
	}
	v, e := h.KVGet(k)
	if e != abi.OK {
		return e
	}
	return writeResult(mem, h.Kept(), v, u32(a[2]), u32(a[3]), u32(a[4]))
}

// kvPut(key, key_len, val, val_len).
func kvPut(h Host, mem api.Memory, a []uint64) abi.Errno {
	k, e := readKey(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return e
	}
	v, e := readPayload(mem, u32(a[2]), u32(a[3]), abi.MaxValueLen)
	if e != abi.OK {
		return e
	}
	return h.KVPut(k, v)
}

// kvDelete(key, key_len).
func kvDelete(h Host, mem api.Memory, a []uint64) abi.Errno {
	k, e := readKey(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return e
	}
	return h.KVDelete(k)
}

// kvList(prefix, prefix_len, buf, cap, len_out).
func kvList(h Host, mem api.Memory, a []uint64) abi.Errno {
	p, e := listArgs(mem, a, abi.MaxKeyLen)
	if e != abi.OK {
		return e
	}
	keys, e := h.KVList(p)
	if e != abi.OK {
		return e
	}
	return writeResult(mem, h.Kept(), abi.AppendList(nil, keys...), u32(a[2]), u32(a[3]), u32(a[4]))
}

// listArgs reads the (prefix, prefix_len, buf, cap, len_out) of kv_list and
// fs_list: the prefix, at most max bytes (ENAMETOOLONG), and checks the
// output ranges.
func listArgs(mem api.Memory, a []uint64, max uint32) ([]byte, abi.Errno) {
	if u32(a[1]) > max {
		return nil, abi.ENAMETOOLONG
	}
	p, e := read(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return nil, e
	}
	return p, checkResult(mem, u32(a[2]), u32(a[3]), u32(a[4]))
}
