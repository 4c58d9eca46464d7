package syscall

import (
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// timerSet(delay_ns: i64, period_ns: i64, id_out).
func timerSet(h Host, mem api.Memory, a []uint64) abi.Errno {
	delay, period := int64(a[0]), int64(a[1])
	if delay < 0 || period < 0 {
		return abi.EINVAL
	}
	if _, ok := mem.Read(u32(a[2]), 8); !ok {
		return abi.EFAULT
	}
	delay = max(delay, abi.MinTimer)
	if period > 0 {
		period = max(period, abi.MinTimer)
	}
	id, e := h.TimerSet(time.Duration(delay), time.Duration(period))
	if e != abi.OK {
		return e
	}
	mem.WriteUint64Le(u32(a[2]), id)
	return abi.OK
}

// timerCancel(id: i64).
func timerCancel(h Host, _ api.Memory, a []uint64) abi.Errno {
	return h.TimerCancel(a[0])
}
