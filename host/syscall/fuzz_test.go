package syscall

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

// The fuzz input:
//
//	[0]    syscall index (mod len(abi.Syscalls()))
//	[1]    host mode: 1 the Host fails (errno [2]), 2 a result is kept,
//	       4 every Host method panics, 8 results are larger than memory
//	[2]    the errno a failing Host returns (mod len(abi.Errnos()))
//	[3:5]  u16 length of the Host's results
//	[5:]   one u64 per parameter, passed raw to the wasm proxy (garbage in
//	       the upper half of an i32 included)
//	rest   guest memory content from offset 0
const (
	fzFail  = 1
	fzKept  = 2
	fzPanic = 4
	fzBig   = 8
	fzHdr   = 5
)

type fuzzCase struct {
	sys    abi.Syscall
	mode   byte
	errno  abi.Errno
	rlen   int
	args   []uint64
	memory []byte
}

func decodeFuzz(in []byte) fuzzCase {
	sys := abi.Syscalls()
	pad := func(n int) []byte {
		if len(in) < n {
			in = append(in, make([]byte, n-len(in))...)
		}
		b := in[:n]
		in = in[n:]
		return b
	}
	h := pad(fzHdr)
	c := fuzzCase{sys: sys[int(h[0])%len(sys)], mode: h[1], rlen: int(binary.LittleEndian.Uint16(h[3:]))}
	errs := abi.Errnos()
	c.errno = errs[int(h[2])%len(errs)]
	if c.errno == abi.E2BIG {
		// A Host never returns E2BIG itself (the syscall makes it from a
		// result); TestHostErrnoPassthrough covers it. Keeping it out lets
		// the oracle below tell the two apart.
		c.errno = abi.EIO
	}
	if c.mode&fzBig != 0 {
		c.rlen += memSize
	}
	for range c.sys.Params {
		c.args = append(c.args, binary.LittleEndian.Uint64(pad(8)))
	}
	c.memory = in
	return c
}

func encodeFuzz(idx int, mode, errSel byte, rlen uint16, args []uint64, memory []byte) []byte {
	b := []byte{byte(idx), mode, errSel, byte(rlen), byte(rlen >> 8)}
	for _, v := range args {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return append(b, memory...)
}

// fuzzPatterns are the bytes Host results are cut from (made once: byte
// loops are slow under the fuzzer's coverage instrumentation).
var fuzzPatterns = func() (p [2][]byte) {
	for j, salt := range []byte{7, 99} {
		p[j] = make([]byte, 2*memSize)
		for i := range p[j] {
			p[j][i] = byte(i*31) + salt
		}
	}
	return p
}()

// fuzzResult is n deterministic result bytes (n < 2*memSize).
func fuzzResult(n int, salt int) []byte { return fuzzPatterns[salt][:n:n] }

// fuzzKeys splits r into keys of lengths 0, 1, ..., 63, 0, 1, ...
func fuzzKeys(r []byte) [][]byte {
	var keys [][]byte
	for i := 0; len(r) > 0; i++ {
		n := min(i%64, len(r))
		keys = append(keys, r[:n])
		r = r[n:]
	}
	return keys
}

// resultParams locates (buf, cap, len_out) of the syscalls that follow the
// variable-length result convention.
var resultParams = map[string][3]int{
	abi.SysResultTake: {0, 1, 2}, abi.SysSelfInfo: {0, 1, 2}, abi.SysNodeStatus: {0, 1, 2},
	abi.SysTopicGet: {2, 3, 4}, abi.SysKVGet: {2, 3, 4}, abi.SysKVList: {2, 3, 4}, abi.SysCall: {4, 5, 6},
	abi.SysFSList: {2, 3, 4},
}

func FuzzSyscalls(f *testing.F) {
	sys := abi.Syscalls()
	for i, s := range sys {
		// The base call with its inputs packed from offset 16 (small seeds
		// minimize fast), its pointer arguments moved with them.
		b := base(s.Name)
		memory := make([]byte, 16)
		for _, w := range b.mem {
			for j, v := range b.args {
				if s.Params[j] == abi.I32 && v == uint64(w.off) {
					b.args[j] = uint64(len(memory))
				}
			}
			memory = append(memory, w.b...)
			memory = append(memory, make([]byte, 8-len(memory)%8)...)
		}
		f.Add(encodeFuzz(i, 0, 0, 5, b.args, memory))                  // valid call, small results
		f.Add(encodeFuzz(i, fzKept, 0, 100, b.args, memory))           // E2BIG for cap 64
		f.Add(encodeFuzz(i, fzFail, byte(abi.EIO), 5, b.args, memory)) // Host failure
		f.Add(encodeFuzz(i, fzPanic, 0, 5, b.args, memory))            // Host panic
		f.Add(encodeFuzz(i, fzBig|fzKept, 0, 0, b.args, memory))       // result larger than memory
	}
	g := newGuest(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFuzzCase(t, g, decodeFuzz(in))
	})
}

func checkFuzzCase(t *testing.T, g *guest, c fuzzCase) {
	name := c.sys.Name
	res := fuzzResult(c.rlen, 0)
	h := newFake()
	h.selfInfo, h.nodeStatus, h.topicVal, h.kvVal, h.reply, h.fsData = res, res, res, res, res, res
	if name == abi.SysKVList {
		h.kvKeys = fuzzKeys(res)
	}
	if name == abi.SysFSList {
		h.fsNames = nil
		for _, k := range fuzzKeys(res) {
			h.fsNames = append(h.fsNames, string(k))
		}
	}
	h.topicSeq, h.timerID, h.mono = 0x0102030405060708^uint64(c.rlen), 0xA0B0C0D0E0F00010+uint64(c.rlen), time.Duration(c.rlen)*time.Millisecond
	if c.mode&fzFail != 0 {
		h.errno = c.errno
	}
	var keptData []byte
	if c.mode&fzKept != 0 {
		keptData = fuzzResult(c.rlen/2+1, 1)
		h.kept = Kept{data: keptData, ok: true}
	}
	if c.mode&fzPanic != 0 {
		h.panicOn = "*"
	}

	g.reset()
	g.mem.Write(0, c.memory[:min(len(c.memory), memSize)])
	before := g.snapshot()

	fn := g.fns[name]
	out, err := fn.Call(withHost(h), c.args...)
	if err != nil {
		t.Fatalf("%s%#x: the call trapped: %v", name, c.args, err)
	}
	e := abi.Errno(uint32(out[0]))
	if !slices.Contains(abi.Errnos(), e) {
		t.Fatalf("%s%#x = %d, not an abi.Errno", name, c.args, e)
	}
	arg := func(i int) uint32 { return uint32(c.args[i]) }

	// abi/README.md § Conventions: a pointer/length pair not wholly inside
	// guest memory gives EFAULT, so a call that succeeded had every one of
	// them inside (an empty range is inside anywhere).
	if e == abi.OK || e == abi.E2BIG {
		for _, pn := range pointerParams(c.sys) {
			i := slices.Index(c.sys.ParamNames, pn)
			n := outSize(name, pn)
			if n == 0 {
				n = uint64(arg(i + 1))
			}
			if n > 0 && uint64(arg(i))+n > memSize {
				t.Fatalf("%s%#x = %s with %s [%#x, +%d) outside memory", name, c.args, e.Name(), pn, arg(i), n)
			}
		}
	}

	// The oracle: the memory the ABI allows, built the way the host writes.
	want := bytes.Clone(before)
	put := func(what string, off uint32, b []byte) {
		if uint64(off)+uint64(len(b)) > memSize {
			t.Fatalf("%s%#x = %s, but %s [%#x, +%d) is outside memory", name, c.args, e.Name(), what, off, len(b))
		}
		copy(want[off:], b)
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

	if p, ok := resultParams[name]; ok && (e == abi.OK || e == abi.E2BIG) {
		result := res
		switch name {
		case abi.SysResultTake:
			result = keptData
		case abi.SysKVList:
			result = abi.AppendList(nil, h.kvKeys...)
		case abi.SysFSList:
			result = []byte{}
			for _, n := range h.fsNames {
				result = abi.AppendList(result, []byte(n))
			}
		}
		buf, capacity, lenOut := arg(p[0]), arg(p[1]), arg(p[2])
		if e == abi.OK {
			if len(result) > int(capacity) {
				t.Fatalf("%s: OK with a %d-byte result for cap %d", name, len(result), capacity)
			}
			if len(result) > 0 {
				put("buf", buf, result)
			}
			if uint64(buf)+uint64(capacity) > memSize && capacity > 0 {
				t.Fatalf("%s = OK with buf [%#x, +%d) outside memory", name, buf, capacity)
			}
		} else {
			if len(result) <= int(capacity) {
				t.Fatalf("%s: E2BIG with a %d-byte result for cap %d", name, len(result), capacity)
			}
			if !h.kept.ok || !bytes.Equal(h.kept.data, result) {
				t.Fatalf("%s: E2BIG but the kept result is %d bytes (ok=%v), want %d", name, len(h.kept.data), h.kept.ok, len(result))
			}
		}
		put("len_out", lenOut, le32(uint32(len(result))))
		if name == abi.SysTopicGet {
			put("seq_out", arg(5), le64(h.topicSeq))
		}
		if name == abi.SysResultTake && e == abi.OK && h.kept.ok {
			t.Fatal("result_take = OK but the result is still kept")
		}
	} else if e == abi.OK {
		switch name {
		case abi.SysClockNow:
			v := uint64(realtime)
			if arg(0) == abi.ClockMonotonic {
				v = uint64(h.mono)
			}
			put("out", arg(1), le64(v))
		case abi.SysTimerSet:
			put("id_out", arg(2), le64(h.timerID))
		case abi.SysFSPut:
			put("id_out", arg(4), h.fsID[:])
		case abi.SysFSStat:
			put("out", arg(2), abi.AppendFSStat(nil, h.fsStat))
		case abi.SysFSRead:
			// fs_read: at most min(cap, MaxFSRead) bytes from the offset.
			off, n := c.args[2], uint64(min(arg(4), abi.MaxFSRead))
			var got []byte
			if off < uint64(len(res)) {
				got = res[off:min(uint64(len(res)), off+n)]
			}
			if len(got) > 0 {
				put("buf", arg(3), got)
			}
			put("len_out", arg(5), le32(uint32(len(got))))
		case abi.SysRandomFill:
			b, n := arg(0), arg(1)
			if n > 0 {
				if uint64(b)+uint64(n) > memSize {
					t.Fatalf("random_fill = OK for [%#x, +%d) outside memory", b, n)
				}
				copy(want[b:b+n], g.bytes()[b:b+n])
			}
		}
	}
	if e != abi.E2BIG && !(name == abi.SysResultTake && e == abi.OK) &&
		(h.kept.ok != (keptData != nil) || !bytes.Equal(h.kept.data, keptData)) {
		t.Fatalf("%s = %s changed the kept result", name, e.Name())
	}
	if got := g.bytes(); !bytes.Equal(want, got) {
		t.Fatalf("%s%#x = %s (Host calls %q): memory outside the documented outputs changed:%s",
			name, c.args, e.Name(), h.trace, diffRanges(want, got))
	}
}
