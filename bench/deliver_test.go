package bench

// 1. Event delivery host→guest: Instance.DeliverMessage of a small message
// into the event buffer, against a raw wazero CallWithStack of the same
// pk_event (3 i32 params, returns 0) on an uninstrumented module.

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/tetratelabs/wazero/api"
)

const (
	delTopic = "bench/t"
)

var delPayload = []byte("hello")

type deliverEnv struct {
	in     *runtime.Instance
	raw    api.Function
	rawMem api.Memory
}

func newDeliverEnv(tb testing.TB) *deliverEnv {
	in, _ := startGuest(tb, newRuntime(tb, ""), nopGuest())
	mod := rawModule(tb, newRaw(tb, false, false), nopGuest())
	return &deliverEnv{in: in, raw: mod.ExportedFunction("pk_event"), rawMem: mod.Memory()}
}

func TestDeliver(t *testing.T) {
	e := newDeliverEnv(t)
	errno, err := e.in.DeliverMessage(7, 0, delTopic, delPayload)
	if err != nil || errno != abi.OK {
		t.Fatalf("DeliverMessage = %v, %v", errno, err)
	}
	want := abi.AppendMessage(nil, 7, 0, delTopic, delPayload)
	if got, _ := e.in.Memory().Read(evBuf, uint32(len(want))); !bytes.Equal(got, want) {
		t.Fatalf("event buffer holds % x, want % x (the event went through pk_alloc?)", got, want)
	}
	stack := []uint64{uint64(abi.EventMessage), evBuf, uint64(len(want))}
	if err := e.raw.CallWithStack(context.Background(), stack); err != nil || stack[0] != 0 {
		t.Fatalf("raw pk_event = %d, %v", stack[0], err)
	}
}

func BenchmarkDeliver(b *testing.B) {
	e := newDeliverEnv(b)
	n := abi.MessageSize(delTopic, delPayload)
	b.Run("impl=pk", func(b *testing.B) {
		b.ReportAllocs()
		seq := uint64(0)
		for b.Loop() {
			seq++
			if errno, err := e.in.DeliverMessage(seq, 0, delTopic, delPayload); err != nil || errno != 0 {
				b.Fatal(errno, err)
			}
		}
	})
	// raw: the bare call, nothing written into the guest.
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		stack := make([]uint64, 3)
		for b.Loop() {
			stack[0], stack[1], stack[2] = uint64(abi.EventMessage), evBuf, uint64(n)
			if err := e.raw.CallWithStack(ctx, stack); err != nil {
				b.Fatal(err)
			}
		}
	})
	// raw-write: the bare call plus encoding the same message into guest
	// memory, i.e. DeliverMessage without the budget/watchdog bookkeeping.
	b.Run("impl=raw-write", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		stack := make([]uint64, 3)
		seq := uint64(0)
		for b.Loop() {
			seq++
			buf, _ := e.rawMem.Read(evBuf, uint32(n))
			abi.PutMessage(buf, seq, 0, delTopic, delPayload)
			stack[0], stack[1], stack[2] = uint64(abi.EventMessage), evBuf, uint64(n)
			if err := e.raw.CallWithStack(ctx, stack); err != nil {
				b.Fatal(err)
			}
		}
	})
	// raw-write-deadline: raw-write plus what runtime.Instance does around
	// each call for the watchdog (a deadline from time.Now stored before,
	// swapped out after), to show where the rest of the time goes.
	b.Run("impl=raw-write-deadline", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		stack := make([]uint64, 3)
		seq := uint64(0)
		var dl atomic.Int64
		for b.Loop() {
			seq++
			buf, _ := e.rawMem.Read(evBuf, uint32(n))
			abi.PutMessage(buf, seq, 0, delTopic, delPayload)
			stack[0], stack[1], stack[2] = uint64(abi.EventMessage), evBuf, uint64(n)
			dl.Store(time.Now().Add(time.Second).UnixNano())
			err := e.raw.CallWithStack(ctx, stack)
			if dl.Swap(0) == -1 || err != nil {
				b.Fatal(err)
			}
		}
	})
}
