package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// spinFn never returns: loop br 0 end.
var spinFn = fn{name: "spin", body: cat(b(opLoop, blockEmpty), br(0), b(opEnd, opEnd))}

// recurseFn computes f(n) = n == 0 ? 1 : f(n-1) + f(n-1): 2^n calls and no
// loop, so only the function-entry check can stop it. idx is its own index.
func recurseFn(idx uint32) fn {
	return fn{name: "recurse", params: b(tI32), results: b(tI32), body: cat(
		lget(0), b(opI32Eqz), b(opIf, tI32),
		i32c(1),
		b(opElse),
		lget(0), i32c(1), b(opI32Sub), call(idx),
		lget(0), i32c(1), b(opI32Sub), call(idx),
		b(opI32Add),
		b(opEnd), b(opEnd))}
}

// sumFn returns 1+2+...+n (mod 2^32) with a block/loop/br_if loop.
var sumFn = fn{name: "sum", params: b(tI32), results: b(tI32), locals: locals([2]byte{2, tI32}), body: cat(
	b(opBlock, blockEmpty), b(opLoop, blockEmpty),
	lget(1), lget(0), b(opI32GeU), b(opBrIf, 1),
	lget(1), i32c(1), b(opI32Add), lset(1),
	lget(2), lget(1), b(opI32Add), lset(2),
	br(0),
	b(opEnd, opEnd),
	lget(2), b(opEnd))}

// classifyFn maps 0 to 10, 1 to 20 and anything else to 30 with br_table
// out of nested blocks.
var classifyFn = fn{name: "classify", params: b(tI32), results: b(tI32), body: cat(
	b(opBlock, blockEmpty), b(opBlock, blockEmpty), b(opBlock, blockEmpty),
	lget(0), b(opBrTable), u32(2), u32(0), u32(1), u32(2),
	b(opEnd), i32c(10), b(opReturn),
	b(opEnd), i32c(20), b(opReturn),
	b(opEnd), i32c(30), b(opEnd))}

// collatzFn counts Collatz steps from n down to 1: if/else inside a loop.
var collatzFn = fn{name: "collatz", params: b(tI32), results: b(tI32), locals: locals([2]byte{1, tI32}), body: cat(
	b(opBlock, blockEmpty), b(opLoop, blockEmpty),
	lget(0), i32c(1), b(0x4d /* i32.le_u */), b(opBrIf, 1),
	lget(0), i32c(1), b(0x71 /* i32.and */),
	b(opIf, blockEmpty),
	lget(0), i32c(3), b(opI32Mul), i32c(1), b(opI32Add), lset(0),
	b(opElse),
	lget(0), i32c(1), b(0x76 /* i32.shr_u */), lset(0),
	b(opEnd),
	lget(1), i32c(1), b(opI32Add), lset(1),
	br(0),
	b(opEnd, opEnd),
	lget(1), b(opEnd))}

// multiValueFn uses type-indexed block types: a block producing two values
// (type pairType) and a loop taking its counter as a parameter (type
// loopType). It returns 12 + 2n for n >= 1.
func multiValueFn(pairType, loopType uint32) fn {
	return fn{name: "multi", params: b(tI32), results: b(tI32), locals: locals([2]byte{2, tI32}), body: cat(
		b(opBlock), s32(int32(pairType)), i32c(3), i32c(4), b(opEnd), b(opI32Mul), lset(1),
		lget(0),
		b(opLoop), s32(int32(loopType)),
		lget(1), i32c(2), b(opI32Add), lset(1),
		i32c(1), b(opI32Sub), b(opLocalTee), u32(2), lget(2), b(opBrIf, 0),
		b(opEnd),
		b(opDrop), lget(1), b(opEnd))}
}

// swapFn returns its two arguments swapped (multi-value results).
var swapFn = fn{name: "swap", params: b(tI32, tI32), results: b(tI32, tI32), body: cat(lget(1), lget(0), b(opEnd))}

// indirectFn calls table[x](10) through call_indirect with sig's type.
func indirectFn(sig uint32) fn {
	return fn{name: "indirect", params: b(tI32), results: b(tI32), body: cat(
		i32c(10), lget(0), b(opCallInd), u32(sig), u32(0), b(opEnd))}
}

func TestInstrumentExactBytes(t *testing.T) {
	in := mod{funcs: []fn{{body: cat(b(opLoop, blockEmpty), br(0), b(opEnd, opEnd))}}}.bytes()
	got := mustInstrument(t, in, Options{})

	// Written out by hand: flag is global 0, ticks global 1, the added
	// local is local 0 and the yield table is table 0.
	flagCheck := b(0x23, 0x00, 0x04, 0x40, 0x00, 0x0b)
	yieldCheck := cat(b(0x41), s32(yieldMask), b(0x71, 0x45, 0x04, 0x40, 0xd0, 0x70, 0x41, 0x00, 0xfc, 0x0f, 0x00, 0x1a, 0x0b))
	entry := cat(flagCheck, b(0x23, 0x01, 0x41, 0x01, 0x6a, 0x22, 0x00, 0x24, 0x01, 0x20, 0x00), yieldCheck)
	loop := cat(flagCheck, b(0x20, 0x00, 0x41, 0x01, 0x6a, 0x22, 0x00), yieldCheck)
	body := cat(b(0x01, 0x01, 0x7f), entry, b(opLoop, blockEmpty), loop, br(0), b(opEnd, opEnd))
	want := module(
		sec(secType, vec(funcType(nil, nil))),
		sec(secFunction, vec(u32(0))),
		sec(secTable, vec(b(0x70, 0x01, 0x00, 0x00))),
		sec(secGlobal, vec(b(0x7f, 0x01, 0x41, 0x00, 0x0b), b(0x7f, 0x01, 0x41, 0x00, 0x0b))),
		sec(secExport, vec(cat(str(InterruptGlobal), b(0x03, 0x00)))),
		sec(secCode, vec(cat(u32(uint32(len(body))), body))),
	)
	if !bytes.Equal(got, want) {
		t.Fatalf("instrumented module:\n got % x\nwant % x", got, want)
	}
}

// indicesModule has imports of every kind but memory, existing tables and
// globals, and a function with parameters and locals: what Instrument adds
// gets non-zero indices.
func indicesModule() []byte {
	imports := vec(
		cat(str("env"), str("f"), b(0x00), u32(0)),         // function 0: shifts function indices only
		cat(str("env"), str("g0"), b(0x03, tI32, 0x00)),    // global 0
		cat(str("env"), str("t0"), b(0x01, 0x70, 0x00, 0)), // table 0
		cat(str("env"), str("g1"), b(0x03, tI64, 0x01)),    // global 1
	)
	globals := vec(
		cat(b(tI32, 0x00), i32c(7), b(opEnd)),    // global 2
		cat(b(tI32, 0x01), b(0x23, 0x00, opEnd)), // global 3, from imported global 0
	)
	// Two parameters and three declared locals: the added local is 5.
	body := cat(vec(b(0x02, tI32), b(0x80, 0x00, tI64), b(0x01, tI32)), b(opEnd)) // one count not minimal
	return module(
		sec(secType, vec(funcType(nil, nil), funcType(b(tI32, tI64), nil))),
		sec(secImport, imports),
		sec(secFunction, vec(u32(1))),
		sec(secTable, vec(b(0x70, 0x00, 0x01))), // table 1
		sec(secGlobal, globals),
		sec(secExport, vec(cat(str("run"), b(0x00), u32(1)))),
		sec(secCode, vec(cat(u32(uint32(len(body))), body))),
	)
}

func TestInstrumentIndices(t *testing.T) {
	got := mustInstrument(t, indicesModule(), Options{})

	const flag, ticks, local, table = 4, 5, 5, 2
	for _, want := range [][]byte{
		cat(str(InterruptGlobal), b(0x03, flag)),                      // the export
		b(0x23, flag, opIf, blockEmpty, opUnreachable, opEnd),         // the flag check
		b(0x23, ticks, 0x41, 0x01, 0x6a, 0x22, local, 0x24, ticks),    // the tick
		b(0xfc, 0x0f, table),                                          // the yield
		b(0x04, 0x02, tI32, 0x80, 0x00, tI64, 0x01, tI32, 0x01, tI32), // the declarations
	} {
		if !bytes.Contains(got, want) {
			t.Errorf("% x not found in % x", want, got)
		}
	}
}

func TestInstrumentRefusesExistingExport(t *testing.T) {
	in := mod{funcs: []fn{{name: InterruptGlobal, body: b(opEnd)}}}.bytes()
	_, err := Instrument(in, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), InterruptGlobal) {
		t.Fatalf("got %v, want ErrUnsupported naming %s", err, InterruptGlobal)
	}

	// Instrumenting twice is the usual way to get there.
	once := mustInstrument(t, mod{funcs: []fn{spinFn}}.bytes(), Options{})
	if _, err := Instrument(once, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("second Instrument: got %v, want ErrUnsupported", err)
	}
}

// layout lists the section names of bin, custom sections by their name.
func layout(t *testing.T, bin []byte) []string {
	t.Helper()
	sections, err := splitSections(bin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sections {
		name := sectionNames[s.id]
		if s.id == secCustom {
			n, _ := newReader(s.content, 0, "custom").name("name")
			name = "custom:" + string(n)
		}
		names = append(names, name)
	}
	return names
}

func TestInstrumentCreatesSectionsInOrderAndKeepsCustomSections(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{{
		name: "empty module",
		in:   module(),
		want: "table global export",
	}, {
		name: "only custom",
		in:   module(sec(secCustom, str("c"))),
		want: "custom:c table global export",
	}, {
		name: "no global, no export",
		in:   mod{funcs: []fn{{body: b(opEnd)}}, customs: true}.bytes(),
		want: "custom:first type function custom:middle table global export code custom:last",
	}, {
		name: "export, table, element and memory",
		in:   mod{funcs: []fn{sumFn}, table: true, memory: b(0x00, 0x01), customs: true}.bytes(),
		want: "custom:first type function table memory custom:middle global export element code custom:last",
	}, {
		name: "data after code",
		in: module(
			sec(secMemory, vec(b(0x00, 0x01))),
			sec(secDataCount, u32(1)),
			sec(secData, vec(cat(b(0x01), str("passive")))),
			sec(secCustom, str("name")),
		),
		want: "table memory global export datacount data custom:name",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustInstrument(t, tc.in, Options{})
			if got := strings.Join(layout(t, out), " "); got != tc.want {
				t.Errorf("layout = %q, want %q", got, tc.want)
			}
			m := instantiate(t, out)
			if _, ok := m.ExportedGlobal(InterruptGlobal).(api.MutableGlobal); !ok {
				t.Errorf("%s is not exported as a mutable global", InterruptGlobal)
			}
		})
	}
}

// simdFn returns lane 3 of splat(x) + [1 2 3 4], that is x+4.
var simdFn = fn{name: "simd", params: b(tI32), results: b(tI32), body: cat(
	lget(0), b(0xfd, 17), // i32x4.splat
	b(0xfd, 12), s32x4(1, 2, 3, 4), // v128.const
	b(0xfd, 0xae, 0x01), // i32x4.add (174)
	b(0xfd, 27, 3),      // i32x4.extract_lane 3
	b(opEnd))}

func s32x4(lanes ...uint32) []byte {
	var out []byte
	for _, l := range lanes {
		out = append(out, byte(l), byte(l>>8), byte(l>>16), byte(l>>24))
	}
	return out
}

// bulkFn fills memory[0:16] with x, copies 4 bytes to 8 and returns the
// byte at 8 sign-extended: bulk memory and sign-extension ops.
var bulkFn = fn{name: "bulk", params: b(tI32), results: b(tI32), body: cat(
	i32c(0), lget(0), i32c(16), b(0xfc, 11, 0x00), // memory.fill
	i32c(8), i32c(0), i32c(4), b(0xfc, 10, 0x00, 0x00), // memory.copy
	i32c(8), b(0x2d, 0x00, 0x00), // i32.load8_u
	b(0xc0), // i32.extend8_s
	b(opEnd))}

// behaviourModule holds every computing fixture, a table for call_indirect
// and a memory.
func behaviourModule() []byte {
	const nFuncs = 9
	return mod{
		funcs: []fn{
			sumFn,                          // 0
			classifyFn,                     // 1
			collatzFn,                      // 2
			multiValueFn(nFuncs, nFuncs+1), // 3
			swapFn,                         // 4
			indirectFn(0),                  // 5: sum's type
			recurseFn(6),                   // 6
			simdFn,                         // 7
			bulkFn,                         // 8
		},
		extraTypes: [][]byte{
			funcType(nil, b(tI32, tI32)), // nFuncs: the pair block
			funcType(b(tI32), b(tI32)),   // nFuncs+1: the loop with a parameter
		},
		table:   true,
		memory:  b(0x00, 0x01),
		customs: true,
	}.bytes()
}

func TestInstrumentPreservesBehaviour(t *testing.T) {
	calls := []struct {
		fn   string
		args []uint64
		want []uint64
	}{
		{"sum", []uint64{0}, []uint64{0}},
		{"sum", []uint64{10}, []uint64{55}},
		{"sum", []uint64{100000}, []uint64{uint64(uint32(100000 * 100001 / 2 % (1 << 32)))}},
		{"classify", []uint64{0}, []uint64{10}},
		{"classify", []uint64{1}, []uint64{20}},
		{"classify", []uint64{2}, []uint64{30}},
		{"classify", []uint64{99}, []uint64{30}},
		{"collatz", []uint64{1}, []uint64{0}},
		{"collatz", []uint64{27}, []uint64{111}},
		{"multi", []uint64{1}, []uint64{14}},
		{"multi", []uint64{50}, []uint64{112}},
		{"swap", []uint64{1, 2}, []uint64{2, 1}},
		{"indirect", []uint64{0}, []uint64{55}},
		{"recurse", []uint64{10}, []uint64{1024}},
		{"simd", []uint64{38}, []uint64{42}},
		{"bulk", []uint64{200}, []uint64{uint64(uint32(0xffffffc8))}},
		{"bulk", []uint64{100}, []uint64{100}},
	}
	in := behaviourModule()
	before := instantiate(t, in)
	after := instantiate(t, mustInstrument(t, in, Options{}))
	ctx := context.Background()
	for _, c := range calls {
		name := fmt.Sprintf("%s%v", c.fn, c.args)
		want, err := before.ExportedFunction(c.fn).Call(ctx, c.args...)
		if err != nil {
			t.Fatalf("%s before: %v", name, err)
		}
		if fmt.Sprint(want) != fmt.Sprint(c.want) {
			t.Fatalf("%s before = %v, fixture expects %v", name, want, c.want)
		}
		got, err := after.ExportedFunction(c.fn).Call(ctx, c.args...)
		if err != nil {
			t.Fatalf("%s after: %v", name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v after instrumentation, %v before", name, got, want)
		}
	}
}

// interruptAfter calls fn in a goroutine, raises the interrupt flag after
// delay and checks the call traps promptly.
//
// Meanwhile it runs the garbage collector, whose stop-the-world needs the
// spinning goroutine to reach Go code: without the periodic yield this
// deadlocks the whole test binary (the goroutine that would raise the flag
// is stopped too) until the test timeout.
func interruptAfter(t *testing.T, m api.Module, fn string, delay time.Duration, args ...uint64) {
	t.Helper()
	flag, ok := m.ExportedGlobal(InterruptGlobal).(api.MutableGlobal)
	if !ok {
		t.Fatalf("%s is not an exported mutable global", InterruptGlobal)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction(fn).Call(context.Background(), args...)
		done <- err
	}()
	time.Sleep(delay / 2)
	for range 3 {
		runtime.GC()
	}
	time.Sleep(delay / 2)
	select {
	case err := <-done:
		t.Fatalf("%s returned before the interrupt: %v", fn, err)
	default:
	}
	raised := time.Now()
	flag.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: got %v, want an unreachable trap", fn, err)
		}
		if d := time.Since(raised); d > time.Second {
			t.Errorf("%s took %v to stop", fn, d)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after the interrupt", fn)
	}
}

func TestInterruptStopsInfiniteLoop(t *testing.T) {
	bin := mustInstrument(t, mod{funcs: []fn{spinFn, sumFn}}.bytes(), Options{})
	for _, engine := range []struct {
		name   string
		config wazero.RuntimeConfig
	}{
		{"default", wazero.NewRuntimeConfig()},
		{"interpreter", wazero.NewRuntimeConfigInterpreter()},
	} {
		t.Run(engine.name, func(t *testing.T) {
			if engine.name == "interpreter" && raceEnabled {
				// The interpreter reads the flag in Go code, so raising it from
				// another goroutine is a data race by the letter of the memory
				// model (RATIONALE.md § Runaway guests); it runs without -race.
				t.Skip("the interpreter's flag read races by design; run without -race")
			}
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, engine.config)
			defer r.Close(ctx)
			m, err := r.Instantiate(ctx, bin)
			if err != nil {
				t.Fatal(err)
			}
			interruptAfter(t, m, "spin", 50*time.Millisecond)

			// The flag is a latch: calls keep trapping until the host clears it.
			if _, err := m.ExportedFunction("sum").Call(ctx, 3); err == nil {
				t.Fatal("sum ran with the interrupt flag raised")
			}
			m.ExportedGlobal(InterruptGlobal).(api.MutableGlobal).Set(0)
			if got, err := m.ExportedFunction("sum").Call(ctx, 3); err != nil || got[0] != 6 {
				t.Fatalf("sum(3) after clearing the flag = %v, %v; want 6", got, err)
			}
		})
	}
}

func TestInterruptStopsRecursionWithoutLoops(t *testing.T) {
	m := instantiate(t, mustInstrument(t, mod{funcs: []fn{recurseFn(0)}}.bytes(), Options{}))
	interruptAfter(t, m, "recurse", 50*time.Millisecond, 62) // 2^62 calls: runs for ever
}

// memoryModule exports grow(n) = memory.grow(n) and size() = memory.size
// over a memory of the given type.
func memoryModule(limits []byte) []byte {
	return mod{
		funcs: []fn{
			{name: "grow", params: b(tI32), results: b(tI32), body: cat(lget(0), b(opMemoryGrow, 0x00, opEnd))},
			{name: "size", results: b(tI32), body: b(opMemorySize, 0x00, opEnd)},
		},
		memory: limits,
	}.bytes()
}

func TestMemoryCap(t *testing.T) {
	tests := []struct {
		name    string
		limits  []byte
		cap     uint32
		wantMax uint32
		grows   []int32 // memory.grow arguments, applied in order
		want    []int32 // memory.grow results
	}{
		{"no max gets the cap", b(0x00, 0x01), 2, 2, []int32{1, 5, 1}, []int32{1, -1, -1}},
		{"larger max is lowered", b(0x01, 0x01, 0x0a), 2, 2, []int32{5, 1}, []int32{-1, 1}},
		{"smaller max is kept", b(0x01, 0x01, 0x01), 2, 1, []int32{1}, []int32{-1}},
		{"initial equal to cap", b(0x00, 0x02), 2, 2, []int32{0, 1}, []int32{2, -1}},
		{"cap above 4 GiB is clamped", b(0x00, 0x01), 1 << 20, 65536, []int32{1}, []int32{1}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := instantiate(t, mustInstrument(t, memoryModule(tc.limits), Options{MaxMemoryPages: tc.cap}))
			if max, ok := m.ExportedMemory("memory").Definition().Max(); !ok || max != tc.wantMax {
				t.Errorf("memory max = %d (declared %v), want %d", max, ok, tc.wantMax)
			}
			for i, n := range tc.grows {
				got, err := m.ExportedFunction("grow").Call(ctx, api.EncodeI32(n))
				if err != nil {
					t.Fatal(err)
				}
				if int32(got[0]) != tc.want[i] {
					t.Errorf("memory.grow(%d) = %d, want %d", n, int32(got[0]), tc.want[i])
				}
			}
		})
	}
}

func TestMemoryCapZeroLeavesMemoryAlone(t *testing.T) {
	in := memoryModule(b(0x00, 0x0a))
	out := mustInstrument(t, in, Options{})
	if !bytes.Contains(out, sec(secMemory, vec(b(0x00, 0x0a)))) {
		t.Errorf("memory section changed without a cap: % x", out)
	}
}

func TestMemoryLimitError(t *testing.T) {
	_, err := Instrument(memoryModule(b(0x00, 0x0a)), Options{MaxMemoryPages: 2})
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("got %v, want ErrMemoryLimit", err)
	}
	var mle *MemoryLimitError
	if !errors.As(err, &mle) || mle.Initial != 10 || mle.Limit != 2 || mle.Imported {
		t.Fatalf("got %#v, want a MemoryLimitError for 10 > 2 pages", mle)
	}
	if msg := err.Error(); !strings.Contains(msg, "10") || !strings.Contains(msg, "2 pages") {
		t.Errorf("message %q does not give both numbers", msg)
	}
}

func TestImportedMemoryIsCapped(t *testing.T) {
	importer := func(limits []byte) []byte {
		body := cat(vec(), lget(0), b(opMemoryGrow, 0x00, opEnd))
		return module(
			sec(secType, vec(funcType(b(tI32), b(tI32)))),
			sec(secImport, vec(cat(str("env"), str("memory"), b(0x02), limits))),
			sec(secFunction, vec(u32(0))),
			sec(secExport, vec(cat(str("grow"), b(0x00), u32(0)))),
			sec(secCode, vec(cat(u32(uint32(len(body))), body))),
		)
	}
	out := mustInstrument(t, importer(b(0x00, 0x01)), Options{MaxMemoryPages: 3})
	capped := sec(secImport, vec(cat(str("env"), str("memory"), b(0x02, 0x01, 0x01, 0x03))))
	if !bytes.Contains(out, capped) {
		t.Fatalf("import not capped to 3 pages: % x", out)
	}

	// The capped import links against a provider whose max is within the cap.
	ctx := context.Background()
	r := newRuntime(t)
	provider := module(
		sec(secMemory, vec(b(0x01, 0x01, 0x02))),
		sec(secExport, vec(cat(str("memory"), b(0x02, 0x00)))),
	)
	if _, err := r.InstantiateWithConfig(ctx, provider, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	m, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatalf("instantiate capped importer: %v", err)
	}
	if got, _ := m.ExportedFunction("grow").Call(ctx, 5); int32(got[0]) != -1 {
		t.Errorf("memory.grow(5) = %d, want -1", int32(got[0]))
	}

	_, err = Instrument(importer(b(0x00, 0x04)), Options{MaxMemoryPages: 3})
	var mle *MemoryLimitError
	if !errors.As(err, &mle) || !mle.Imported || mle.Initial != 4 {
		t.Fatalf("got %v, want a MemoryLimitError for the imported memory", err)
	}
}

func TestMemory64IsUnsupported(t *testing.T) {
	_, err := Instrument(memoryModule(b(0x04, 0x01)), Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "memory64") {
		t.Fatalf("got %v, want ErrUnsupported for memory64", err)
	}
}

// loopProbe is `loop (empty) end` appended after the instruction under
// test: if the walker mis-skips an immediate it either errors or reports
// the loop somewhere else.
var loopProbe = b(opLoop, blockEmpty, opEnd)

func TestWalkerSkipsImmediates(t *testing.T) {
	f32Bytes := b(0x03, 0x03, 0x03, 0x03) // bytes that look like loops
	memarg := b(0x02, 0x83, 0x03)         // align 2, offset 387
	v128 := bytes.Repeat(b(0x03), 16)
	tests := []struct {
		name string
		ins  []byte
	}{
		{"unreachable nop", b(0x00, 0x01)},
		{"block with value type", b(opBlock, tI32, 0x41, 0x03, opEnd, opDrop)},
		{"block with type index 3", b(opBlock, 0x03, opEnd)},
		{"block with type index 300", cat(b(opBlock), s32(300), b(opEnd))},
		{"if else", b(0x41, 0x01, opIf, blockEmpty, opElse, opEnd)},
		{"br br_if", b(opBlock, blockEmpty, opBr, 0x00, opBrIf, 0x83, 0x00, opEnd)},
		{"br_table", cat(b(opBrTable), u32(3), u32(3), u32(0x83), u32(1), u32(3))},
		{"return call", b(opReturn, opCall, 0x83, 0x03)},
		{"call_indirect", b(opCallInd, 0x83, 0x03, 0x03)},
		{"return_call", b(0x12, 0x83, 0x03)},
		{"return_call_indirect", b(0x13, 0x03, 0x03)},
		{"drop select", b(opDrop, 0x1b)},
		{"typed select", b(0x1c, 0x02, tI32, 0x7b)},
		{"locals and globals", b(0x20, 0x03, 0x21, 0x03, 0x22, 0x03, 0x23, 0x03, 0x24, 0x03)},
		{"table.get table.set", b(0x25, 0x03, 0x26, 0x03)},
		{"loads and stores", cat(b(0x28), memarg, b(0x36), memarg, b(0x3e), memarg)},
		{"multi-memory memarg", b(0x28, 0x42, 0x03, 0x03)},
		{"memory.size memory.grow", b(opMemorySize, 0x00, opMemoryGrow, 0x03)},
		{"i32.const", cat(i32c(-1), i32c(3), i32c(-2147483648))},
		{"i64.const", b(0x42, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x7f)},
		{"f32.const", cat(b(0x43), f32Bytes)},
		{"f64.const", cat(b(0x44), f32Bytes, f32Bytes)},
		{"numeric", b(0x45, 0x6a, 0xa7, 0xbf)},
		{"sign extension", b(0xc0, 0xc1, 0xc2, 0xc3, 0xc4)},
		{"reference types", b(0xd0, 0x70, 0xd0, 0x6f, 0xd1, 0xd2, 0x03)},
		{"saturating truncation", b(0xfc, 0x00, 0xfc, 0x03, 0xfc, 0x07)},
		{"bulk memory", b(0xfc, 0x08, 0x03, 0x00, 0xfc, 0x09, 0x03, 0xfc, 0x0a, 0x00, 0x00, 0xfc, 0x0b, 0x00)},
		{"bulk table", b(0xfc, 0x0c, 0x03, 0x03, 0xfc, 0x0d, 0x03, 0xfc, 0x0e, 0x03, 0x03,
			0xfc, 0x0f, 0x03, 0xfc, 0x10, 0x03, 0xfc, 0x11, 0x03)},
		{"simd loads and stores", cat(b(0xfd, 0x00), memarg, b(0xfd, 0x0b), memarg, b(0xfd, 0x5c), memarg, b(0xfd, 0x5d), memarg)},
		{"v128.const", cat(b(0xfd, 0x0c), v128)},
		{"i8x16.shuffle", cat(b(0xfd, 0x0d), v128)},
		{"lane ops", b(0xfd, 0x15, 0x03, 0xfd, 0x22, 0x03)},
		{"load and store lane", cat(b(0xfd, 0x54), memarg, b(0x03), b(0xfd, 0x5b), memarg, b(0x03))},
		{"simd two-byte sub-opcodes", b(0xfd, 0x80, 0x01, 0xfd, 0xff, 0x01, 0xfd, 0x0e)},
		{"atomics", cat(b(0xfe, 0x00), memarg, b(0xfe, 0x03, 0x00), b(0xfe, 0x10), memarg, b(0xfe, 0x4e), memarg)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expr := cat(tc.ins, loopProbe, b(opEnd))
			loops, err := walkExpr(newReader(expr, 0, "code"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(tc.ins) + 2; len(loops) != 1 || loops[0] != want {
				t.Fatalf("loops at %v, want [%d]", loops, want)
			}
		})
	}
}

func TestWalkerFindsEveryLoop(t *testing.T) {
	expr := b(
		opLoop, blockEmpty, // check at 2
		opBlock, blockEmpty,
		opLoop, tI32, // check at 6
		0x41, 0x03,
		opEnd,
		opEnd,
		opLoop, 0x05, // type index 5; check at 12
		opEnd,
		opEnd,
		opEnd,
	)
	loops, err := walkExpr(newReader(expr, 0, "code"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(loops) != "[2 6 12]" {
		t.Fatalf("loops at %v, want [2 6 12]", loops)
	}
}

func TestUnsupportedOpcodes(t *testing.T) {
	tests := []struct {
		name string
		ins  []byte
		want string
	}{
		{"legacy try", b(0x06, blockEmpty), "0x06"},
		{"call_ref", b(0x14, 0x00), "call_ref"},
		{"gc prefix", b(0xfb, 0x00), "0xfb"},
		{"unassigned", b(0x27), "0x27"},
		{"misc 18", b(0xfc, 0x12), "0xfc 18"},
		{"simd hole", b(0xfd, 0x9a, 0x01), "0xfd 154"},
		{"relaxed simd", b(0xfd, 0x80, 0x02), "0xfd 256"},
		{"atomic 0x04", b(0xfe, 0x04), "0xfe 4"},
		{"typed reference block", b(opBlock, 0x63, 0x70), "block type 0x63"},
		{"ref.null of a heap type", b(0xd0, 0x6e), "reference type 0x6e"},
		{"select of v128 ref", b(0x1c, 0x01, 0x64), "value type 0x64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imports := vec(cat(str("env"), str("f"), b(0x00), u32(0)))
			body := cat(vec(), tc.ins, b(opEnd))
			in := module(
				sec(secType, vec(funcType(nil, nil))),
				sec(secImport, imports),
				sec(secFunction, vec(u32(0))),
				sec(secCode, vec(cat(u32(uint32(len(body))), body))),
			)
			_, err := Instrument(in, Options{})
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
			// The body is function 1: the import is function 0.
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "function 1") {
				t.Errorf("message %q should name %q and function 1", msg, tc.want)
			}
		})
	}
}

func TestYieldMaskEncoding(t *testing.T) {
	if !bytes.Equal(yieldMaskLEB, s32(yieldMask)) || yieldEvery&yieldMask != 0 {
		t.Fatalf("yieldEvery %d: mask encoded as % x, want % x (and a power of two)", yieldEvery, yieldMaskLEB, s32(yieldMask))
	}
}

func TestComponentIsUnsupported(t *testing.T) {
	component := cat(header[:4], componentVersion)
	if _, err := Instrument(component, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v, want ErrUnsupported", err)
	}
}

func TestMalformedBodies(t *testing.T) {
	tests := []struct {
		name string
		body []byte // including locals
	}{
		{"empty", b()},
		{"no end", cat(vec(), b(0x01))},
		{"unclosed block", cat(vec(), b(opBlock, blockEmpty, opEnd))},
		{"bytes after end", cat(vec(), b(opEnd, 0x01))},
		{"truncated i32.const", cat(vec(), b(0x41, 0x80))},
		{"overlong u32", cat(vec(), b(0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, opEnd))},
		{"u32 overflow", cat(vec(), b(0x20, 0xff, 0xff, 0xff, 0xff, 0x1f, opEnd))},
		{"overlong i64", cat(vec(), b(0x42), bytes.Repeat(b(0x80), 10), b(0x00, opEnd))},
		{"truncated f64", cat(vec(), b(0x44, 0x00, 0x00))},
		{"truncated v128", cat(vec(), b(0xfd, 0x0c, 0x00))},
		{"huge br_table", cat(vec(), b(opBrTable, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, opEnd))},
		{"negative type index", cat(vec(), b(opBlock, 0xff, 0x7f, opEnd, opEnd))},
		{"fence flags", cat(vec(), b(0xfe, 0x03, 0x01, opEnd))},
		{"huge local declarations", cat(b(0xff, 0xff, 0xff, 0xff, 0x0f), b(opEnd))},
		{"too many locals", cat(u32(2), u32(0xffffffff), b(tI32), u32(0xffffffff), b(tI32), b(opEnd))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := module(
				sec(secType, vec(funcType(nil, nil))),
				sec(secFunction, vec(u32(0))),
				sec(secCode, vec(cat(u32(uint32(len(tc.body))), tc.body))),
			)
			if _, err := Instrument(in, Options{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestMalformedModules(t *testing.T) {
	huge := b(0xff, 0xff, 0xff, 0xff, 0x0f)
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"garbage", []byte("this is not wasm at all")},
		{"bad magic", b(0x00, 'a', 's', 'n', 1, 0, 0, 0)},
		{"bad version", b(0x00, 'a', 's', 'm', 2, 0, 0, 0)},
		{"truncated version", b(0x00, 'a', 's', 'm', 1, 0)},
		{"unknown section", module(sec(14, nil))},
		{"section past the end", cat(header, b(secType, 0x05, 0x00))},
		{"huge section size", cat(header, b(secType), huge)},
		{"out of order", module(sec(secFunction, vec()), sec(secType, vec()))},
		{"repeated", module(sec(secType, vec()), sec(secType, vec()))},
		{"datacount after code", module(sec(secCode, vec()), sec(secDataCount, u32(0)))},
		{"custom name too long", module(sec(secCustom, b(0x05, 'a')))},
		{"huge import count", module(sec(secImport, huge))},
		{"huge function count", module(sec(secFunction, huge))},
		{"huge export count", module(sec(secExport, huge))},
		{"huge global count", module(sec(secGlobal, huge))},
		{"huge memory count", module(sec(secMemory, huge))},
		{"huge code count", module(sec(secCode, huge))},
		{"huge name length", module(sec(secImport, cat(u32(1), huge)))},
		{"huge body size", module(sec(secFunction, vec(u32(0))), sec(secCode, cat(u32(1), huge)))},
		{"function without body", module(sec(secType, vec(funcType(nil, nil))), sec(secFunction, vec(u32(0))))},
		{"body without function", module(sec(secCode, vec(cat(u32(2), vec(), b(opEnd)))))},
		{"trailing bytes in export", module(sec(secExport, cat(vec(), b(0x00))))},
		{"bad import kind", module(sec(secImport, vec(cat(str("a"), str("b"), b(0x07)))))},
		{"bad memory flags", module(sec(secMemory, vec(b(0x08, 0x01))))},
		{"bad global mutability", module(sec(secGlobal, vec(cat(b(tI32, 0x02), i32c(0), b(opEnd)))))},
		{"unterminated global init", module(sec(secGlobal, vec(cat(b(tI32, 0x00), i32c(0)))))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Instrument(tc.in, Options{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// validModules are the hand-assembled fixtures: the fuzz seeds and the
// inputs of the truncation test.
func validModules() [][]byte {
	return [][]byte{
		behaviourModule(),
		mod{funcs: []fn{spinFn, sumFn}}.bytes(),
		memoryModule(b(0x01, 0x01, 0x04)),
		indicesModule(),
		module(),
		module(
			sec(secMemory, vec(b(0x00, 0x01))),
			sec(secDataCount, u32(1)),
			sec(secData, vec(cat(b(0x01), str("passive")))),
		),
	}
}

func TestTruncatedModules(t *testing.T) {
	for i, full := range validModules() {
		boundaries := map[int]bool{len(header): true}
		sections, err := splitSections(full)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sections {
			boundaries[s.offset+len(s.content)] = true
		}
		for n := 0; n < len(full); n++ {
			out, err := Instrument(full[:n], Options{})
			switch {
			case err == nil && !boundaries[n]:
				t.Errorf("module %d cut at %d/%d: no error", i, n, len(full))
			case err == nil:
				// A shorter module, which wazero may or may not accept
				// (a datacount without data): it must judge the output
				// the same.
				inErr, outErr := compile(t, full[:n]), compile(t, out)
				if (inErr == nil) != (outErr == nil) {
					t.Errorf("module %d cut at %d: wazero says %v for the input, %v for the output", i, n, inErr, outErr)
				}
			case !errors.Is(err, ErrMalformed):
				t.Errorf("module %d cut at %d/%d: got %v, want ErrMalformed", i, n, len(full), err)
			}
		}
	}
}

func TestInstrumentDoesNotModifyInput(t *testing.T) {
	in := behaviourModule()
	orig := bytes.Clone(in)
	mustInstrument(t, in, Options{MaxMemoryPages: 1})
	if !bytes.Equal(in, orig) {
		t.Fatal("Instrument modified its input")
	}
}
