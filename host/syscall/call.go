package syscall

import (
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// call(module, module_len, req, req_len, buf, cap, len_out, timeout_ms).
func call(h Host, mem api.Memory, a []uint64) abi.Errno {
	name, e := readName(mem, u32(a[0]), u32(a[1]), abi.MaxModuleName+1+abi.MaxModuleName) // "name@node" reserved
	if e != abi.OK {
		return e
	}
	if u32(a[3]) > abi.MaxPayload {
		return abi.EMSGSIZE
	}
	req, e := readCopy(mem, u32(a[2]), u32(a[3]))
	if e != abi.OK {
		return e
	}
	if e := checkResult(mem, u32(a[4]), u32(a[5]), u32(a[6])); e != abi.OK {
		return e
	}
	timeout := time.Duration(int32(u32(a[7]))) * time.Millisecond
	reply, e := h.Call(name, req, timeout)
	if e != abi.OK {
		return e
	}
	return writeResult(mem, h.Kept(), reply, u32(a[4]), u32(a[5]), u32(a[6]))
}

// callReply(call_id: i64, data, data_len).
func callReply(h Host, mem api.Memory, a []uint64) abi.Errno {
	if u32(a[2]) > abi.MaxPayload {
		return abi.EMSGSIZE
	}
	data, e := readCopy(mem, u32(a[1]), u32(a[2]))
	if e != abi.OK {
		return e
	}
	return h.CallReply(a[0], data)
}
