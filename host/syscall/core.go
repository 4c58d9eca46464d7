package syscall

import (
	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// resultTake(buf, cap, len_out): see abi/README.md § result_take.
func resultTake(h Host, mem api.Memory, a []uint64) abi.Errno {
	k := h.Kept()
	if !k.ok {
		return abi.ENOENT
	}
	data := k.data
	e := writeResult(mem, k, data, u32(a[0]), u32(a[1]), u32(a[2]))
	if e == abi.OK {
		k.Reset()
	}
	return e
}

// eventBuffer(ptr, cap).
func eventBuffer(h Host, mem api.Memory, a []uint64) abi.Errno {
	if c := u32(a[1]); c != 0 && c < abi.MinEventBuffer {
		return abi.EINVAL
	}
	if _, e := read(mem, u32(a[0]), u32(a[1])); e != abi.OK {
		return e
	}
	return h.SetEventBuffer(u32(a[0]), u32(a[1]))
}

// snapshotWrite(ptr, len).
func snapshotWrite(h Host, mem api.Memory, a []uint64) abi.Errno {
	if u32(a[1]) > abi.MaxSnapshot {
		return abi.EMSGSIZE
	}
	b, e := read(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return e
	}
	return h.SnapshotWrite(b)
}

// selfInfo(buf, cap, len_out).
func selfInfo(h Host, mem api.Memory, a []uint64) abi.Errno {
	return writeResult(mem, h.Kept(), h.SelfInfo(), u32(a[0]), u32(a[1]), u32(a[2]))
}

// nodeStatus(buf, cap, len_out).
func nodeStatus(h Host, mem api.Memory, a []uint64) abi.Errno {
	return writeResult(mem, h.Kept(), h.NodeStatus(), u32(a[0]), u32(a[1]), u32(a[2]))
}
