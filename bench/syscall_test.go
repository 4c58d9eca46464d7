package bench

// 2. Guest→host syscall: a guest loop calling clock_now(0, out) N times,
// through the real pk host module (syscall.Instantiate, a trivial Host in
// the context) against a raw wazero host function with the same signature
// doing the same work (time.Now into guest memory). The pk module is timed
// both on a bare wazero runtime (same uninstrumented guest as the raw
// baseline: only the host side differs) and end to end through
// runtime.Instance (the guest as runtime.Load instruments it, budget
// bookkeeping once per event).

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/syscall"
	"github.com/tetratelabs/wazero/api"
)

// clockCalls is how many clock_now calls one pk_event makes.
const clockCalls = 1000

type syscallEnv struct {
	in            *runtime.Instance // through the runtime
	pk, raw       api.Function      // pk_event on bare wazero: real pk module, raw host function
	pkMem, rawMem api.Memory
	pkCtx         context.Context // carries the Host for the real pk module
	payload       []byte          // clockCalls as u32
}

func newSyscallEnv(tb testing.TB) *syscallEnv {
	e := &syscallEnv{payload: binary.LittleEndian.AppendUint32(nil, clockCalls)}
	e.in, _ = startGuest(tb, newRuntime(tb, ""), workGuest(guardNone))
	pkMod := rawModule(tb, newRaw(tb, false, true), workGuest(guardNone))
	rawMod := rawModule(tb, newRaw(tb, false, false), workGuest(guardNone))
	e.pk, e.pkMem = pkMod.ExportedFunction("pk_event"), pkMod.Memory()
	e.raw, e.rawMem = rawMod.ExportedFunction("pk_event"), rawMod.Memory()
	e.pkCtx = syscall.WithHost(context.Background(), &testHost{start: time.Now()})
	e.pkMem.Write(evBuf, e.payload)
	e.rawMem.Write(evBuf, e.payload)
	return e
}

func callClock(ctx context.Context, f api.Function, stack []uint64) error {
	stack[0], stack[1], stack[2] = kindClock, evBuf, 4
	return f.CallWithStack(ctx, stack)
}

func TestSyscall(t *testing.T) {
	e := newSyscallEnv(t)
	before := uint64(time.Now().UnixNano())
	if errno, err := e.in.Deliver(kindClock, e.payload); err != nil || errno != abi.OK {
		t.Fatalf("runtime: clock loop = %v, %v", errno, err)
	}
	if v, _ := e.in.Memory().ReadUint64Le(scratch); v < before {
		t.Fatalf("runtime: clock_now wrote %d, before the test started (%d)", v, before)
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		f    api.Function
		mem  api.Memory
	}{{"pk", e.pkCtx, e.pk, e.pkMem}, {"raw", context.Background(), e.raw, e.rawMem}} {
		stack := make([]uint64, 3)
		if err := callClock(c.ctx, c.f, stack); err != nil || stack[0] != 0 {
			t.Fatalf("%s: clock loop = %d, %v", c.name, stack[0], err)
		}
		if v, _ := c.mem.ReadUint64Le(scratch); v < before {
			t.Fatalf("%s: clock_now wrote %d, before the test started (%d)", c.name, v, before)
		}
	}
}

func BenchmarkSyscall(b *testing.B) {
	e := newSyscallEnv(b)
	perCall := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/clockCalls, "ns/call")
	}
	b.Run("impl=pk", func(b *testing.B) {
		b.ReportAllocs()
		stack := make([]uint64, 3)
		for b.Loop() {
			if err := callClock(e.pkCtx, e.pk, stack); err != nil || stack[0] != 0 {
				b.Fatal(stack[0], err)
			}
		}
		perCall(b)
	})
	b.Run("impl=pk-runtime", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if errno, err := e.in.Deliver(kindClock, e.payload); err != nil || errno != 0 {
				b.Fatal(errno, err)
			}
		}
		perCall(b)
	})
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		stack := make([]uint64, 3)
		for b.Loop() {
			if err := callClock(ctx, e.raw, stack); err != nil || stack[0] != 0 {
				b.Fatal(stack[0], err)
			}
		}
		perCall(b)
	})
}
