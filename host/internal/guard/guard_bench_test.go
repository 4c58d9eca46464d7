package guard

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// hotLoopIterations is how many iterations one call of the hot loop runs.
const hotLoopIterations = 1_000_000

// hotLoopFn runs acc = rotl(acc ^ i, 5) + i for i in [0, n): a realistic
// few-instruction loop body.
var hotLoopFn = fn{name: "hot", params: b(tI32), results: b(tI32), locals: locals([2]byte{2, tI32}), body: cat(
	b(opBlock, blockEmpty), b(opLoop, blockEmpty),
	lget(1), lget(0), b(opI32GeU), b(opBrIf, 1),
	lget(2), lget(1), b(opI32Xor), i32c(5), b(opI32Rotl), lget(1), b(opI32Add), lset(2),
	lget(1), i32c(1), b(opI32Add), lset(1),
	br(0),
	b(opEnd, opEnd),
	lget(2), b(opEnd))}

// benchVariants are the three ways to make a guest stoppable that the
// benchmarks compare: nothing, guard, and wazero's own context check.
var benchVariants = []struct {
	name       string
	instrument bool
	config     func() wazero.RuntimeConfig
}{
	{"unguarded", false, wazero.NewRuntimeConfig},
	{"guarded", true, wazero.NewRuntimeConfig},
	{"closeOnContextDone", false, func() wazero.RuntimeConfig {
		return wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	}},
}

// benchFunction instantiates bin (instrumented if asked) in a runtime of
// the given configuration and returns its export fn, with a cancellable
// context as WithCloseOnContextDone needs.
func benchFunction(b *testing.B, bin []byte, instrument bool, config wazero.RuntimeConfig, fn string) (context.Context, api.Function) {
	b.Helper()
	if instrument {
		bin = mustInstrument(b, bin, Options{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := wazero.NewRuntimeWithConfig(ctx, config)
	b.Cleanup(func() {
		cancel()
		r.Close(context.Background())
	})
	m, err := r.Instantiate(ctx, bin)
	if err != nil {
		b.Fatal(err)
	}
	return ctx, m.ExportedFunction(fn)
}

func BenchmarkHotLoop(b *testing.B) {
	bin := mod{funcs: []fn{hotLoopFn}}.bytes()
	var want uint64
	for i, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			ctx, hot := benchFunction(b, bin, v.instrument, v.config(), "hot")
			got, err := hot.Call(ctx, hotLoopIterations)
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				want = got[0]
			} else if got[0] != want {
				b.Fatalf("result %d, unguarded gives %d", got[0], want)
			}
			for b.Loop() {
				if _, err := hot.Call(ctx, hotLoopIterations); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/hotLoopIterations, "ns/iter")
		})
	}
}

// BenchmarkRecursion measures the function-entry check: f(n) = f(n-1) +
// f(n-1) makes 2^(n+1)-1 calls and no loop.
func BenchmarkRecursion(b *testing.B) {
	const depth = 16
	bin := mod{funcs: []fn{recurseFn(0)}}.bytes()
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			ctx, f := benchFunction(b, bin, v.instrument, v.config(), "recurse")
			for b.Loop() {
				if _, err := f.Call(ctx, depth); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(1<<(depth+1)-1), "ns/call")
		})
	}
}

// BenchmarkInstrument measures the rewriter itself on the Go guest.
func BenchmarkInstrument(b *testing.B) {
	bin := buildGoGuest(b)
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := Instrument(bin, Options{MaxMemoryPages: 4096}); err != nil {
			b.Fatal(err)
		}
	}
}
