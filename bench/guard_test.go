package bench

// 6. Runaway-guard overhead on hot loops. The same guest function
// (workGuest: FNV-1a over 64 KiB, one byte per iteration; and a bare
// counter loop) is run
//
//   - impl=guard: through runtime.Load (the real guard.Instrument output)
//     and Instance.Deliver — the production path, budget bookkeeping
//     included (once per call);
//   - impl=plain: on raw wazero, uninstrumented — the baseline;
//   - impl=ctxdone: uninstrumented on a runtime with
//     WithCloseOnContextDone(true), each call under its own
//     context.WithTimeout — wazero's own way to stop a runaway guest;
//   - on raw wazero, copies assembled with parts of the guard's
//     instrumentation (see guardMode), to see what each part costs:
//     impl=mirror (all of it: interrupt flag, tick counting, yield to Go by
//     table.grow every 1024 ticks), impl=mirror-noyield (the same without
//     the exit to Go), impl=flag-only (the interrupt flag check alone);
//   - impl=hoisted: an experiment, not what the guard does: mirror with the
//     yield moved out of the loop body (see guardHoisted).
//
// ns/iter is per loop iteration (per byte for fnv).

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/tetratelabs/wazero/api"
)

const countN = 1 << 20

type loopCase struct {
	name  string
	kind  abi.EventKind
	iters int
}

var loopCases = []loopCase{{"fnv", kindFNV, dataLen}, {"count", kindCount, countN}}

type guardEnv struct {
	in      *runtime.Instance
	raws    map[string]api.Module   // every impl but guard
	funcs   map[string]api.Function // their pk_event (ExportedFunction allocates a call engine: keep it)
	payload []byte                  // countN as u32, at evBuf
	data    []byte                  // what fnv hashes
}

func newGuardEnv(tb testing.TB) *guardEnv {
	e := &guardEnv{raws: map[string]api.Module{}, funcs: map[string]api.Function{}, payload: binary.LittleEndian.AppendUint32(nil, countN)}
	rng := rand.New(rand.NewPCG(1, 2))
	e.data = make([]byte, dataLen)
	for i := range e.data {
		e.data[i] = byte(rng.Uint32())
	}
	e.in, _ = startGuest(tb, newRuntime(tb, ""), workGuest(guardNone))
	e.in.Memory().Write(dataBuf, e.data)
	raw := newRaw(tb, false, false)
	e.raws["plain"] = rawModule(tb, raw, workGuest(guardNone))
	e.raws["mirror"] = rawModule(tb, raw, workGuest(guardMirror))
	e.raws["mirror-noyield"] = rawModule(tb, raw, workGuest(guardNoYield))
	e.raws["flag-only"] = rawModule(tb, raw, workGuest(guardFlag))
	e.raws["hoisted"] = rawModule(tb, raw, workGuest(guardHoisted))
	e.raws["ctxdone"] = rawModule(tb, newRaw(tb, true, false), workGuest(guardNone))
	for impl, m := range e.raws {
		e.funcs[impl] = m.ExportedFunction("pk_event")
		m.Memory().Write(dataBuf, e.data)
		m.Memory().Write(evBuf, e.payload)
	}
	return e
}

// run calls pk_event(kind) once on the named variant and returns the u32
// result the guest stored at 8.
func (e *guardEnv) run(impl string, kind abi.EventKind, stack []uint64) (uint32, error) {
	if impl == "guard" {
		var p []byte
		if kind == kindCount {
			p = e.payload
		}
		errno, err := e.in.Deliver(kind, p)
		if err == nil && errno != abi.OK {
			err = errno
		}
		v, _ := e.in.Memory().ReadUint32Le(8)
		return v, err
	}
	m := e.raws[impl]
	ctx := context.Background()
	if impl == "ctxdone" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Second)
		defer cancel()
	}
	stack[0], stack[1], stack[2] = uint64(kind), evBuf, uint64(len(e.payload))
	if err := e.funcs[impl].CallWithStack(ctx, stack); err != nil {
		return 0, err
	}
	v, _ := m.Memory().ReadUint32Le(8)
	return v, nil
}

var guardImpls = []string{"guard", "plain", "ctxdone", "mirror", "mirror-noyield", "flag-only", "hoisted"}

func TestGuard(t *testing.T) {
	e := newGuardEnv(t)
	want := map[abi.EventKind]uint32{kindFNV: fnvGo(e.data), kindCount: countN}
	stack := make([]uint64, 3)
	for _, impl := range guardImpls {
		for _, c := range loopCases {
			if v, err := e.run(impl, c.kind, stack); err != nil || v != want[c.kind] {
				t.Errorf("%s/%s = %#x, %v; want %#x", impl, c.name, v, err, want[c.kind])
			}
		}
	}
	// The loop check works: a count to 2^31 (about a second) stops soon
	// after an Interrupt from another goroutine.
	long := binary.LittleEndian.AppendUint32(nil, 1<<31)
	time.AfterFunc(5*time.Millisecond, e.in.Interrupt)
	start := time.Now()
	if _, err := e.in.Deliver(kindCount, long); !runtime.Crashed(err) {
		t.Fatalf("interrupted guest returned %v", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("the interrupted loop ran for %v", d)
	}
}

func BenchmarkGuard(b *testing.B) {
	e := newGuardEnv(b)
	for _, c := range loopCases {
		for _, impl := range guardImpls {
			b.Run("loop="+c.name+"/impl="+impl, func(b *testing.B) {
				b.ReportAllocs()
				stack := make([]uint64, 3)
				for b.Loop() {
					if _, err := e.run(impl, c.kind, stack); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.iters), "ns/iter")
			})
		}
	}
}
