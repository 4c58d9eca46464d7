package syscall

import (
	"crypto/rand"
	"log/slog"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero/api"
)

// logRecord(level, msg, msg_len, attrs, attrs_len).
func logRecord(h Host, mem api.Memory, a []uint64) abi.Errno {
	msg, e := read(mem, u32(a[1]), u32(a[2]))
	if e != abi.OK {
		return e
	}
	trunc := len(msg) > abi.MaxLogLen
	if trunc {
		msg = msg[:abi.MaxLogLen]
	}
	raw, e := read(mem, u32(a[3]), u32(a[4]))
	if e != abi.OK {
		return e
	}
	items, err := abi.DecodeList(raw)
	if err != nil || len(items)%2 != 0 {
		return abi.EINVAL
	}
	attrs := make([]slog.Attr, 0, len(items)/2+1)
	for i := 0; i < len(items); i += 2 {
		attrs = append(attrs, slog.String(string(items[i]), string(items[i+1])))
	}
	if trunc {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	h.Log(slog.Level(int32(u32(a[0]))), string(msg), attrs)
	return abi.OK
}

// clockNow(clock, out).
func clockNow(h Host, mem api.Memory, a []uint64) abi.Errno {
	var v uint64
	switch u32(a[0]) {
	case abi.ClockRealtime:
		v = uint64(nowUnixNano())
	case abi.ClockMonotonic:
		v = uint64(h.Monotonic())
	default:
		return abi.EINVAL
	}
	if !mem.WriteUint64Le(u32(a[1]), v) {
		return abi.EFAULT
	}
	return abi.OK
}

// randomFill(buf, len).
func randomFill(_ Host, mem api.Memory, a []uint64) abi.Errno {
	if u32(a[1]) > abi.MaxPayload {
		return abi.EMSGSIZE
	}
	b, e := read(mem, u32(a[0]), u32(a[1]))
	if e != abi.OK {
		return e
	}
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return abi.OK
}
