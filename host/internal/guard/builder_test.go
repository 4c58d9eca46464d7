package guard

// A tiny wasm assembler for tests: fixtures are written as readable Go
// instead of opaque .wasm files (no wat2wasm on the build machines).

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Value types.
const (
	tI32 = 0x7f
	tI64 = 0x7e
)

// Opcodes used by the fixtures, besides those in opcodes.go.
const (
	opElse       = 0x05
	opBr         = 0x0c
	opBrIf       = 0x0d
	opBrTable    = 0x0e
	opReturn     = 0x0f
	opCall       = 0x10
	opCallInd    = 0x11
	opLocalSet   = 0x21
	opMemorySize = 0x3f
	opMemoryGrow = 0x40
	opI32GeU     = 0x4f
	opI32Sub     = 0x6b
	opI32Mul     = 0x6c
	opI32Xor     = 0x73
	opI32Rotl    = 0x77
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func b(bs ...byte) []byte { return bs }

func u32(v uint32) []byte { return appendU32(nil, v) }

// s32 encodes v as signed LEB128.
func s32(v int32) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func str(s string) []byte { return append(u32(uint32(len(s))), s...) }

// vec prefixes the concatenated items with their count.
func vec(items ...[]byte) []byte { return append(u32(uint32(len(items))), cat(items...)...) }

func sec(id byte, content []byte) []byte {
	return cat(b(id), u32(uint32(len(content))), content)
}

func module(sections ...[]byte) []byte { return cat(header, cat(sections...)) }

func funcType(params, results []byte) []byte {
	return cat(b(0x60), u32(uint32(len(params))), params, u32(uint32(len(results))), results)
}

func i32c(v int32) []byte    { return cat(b(opI32Const), s32(v)) }
func lget(i uint32) []byte   { return cat(b(opLocalGet), u32(i)) }
func lset(i uint32) []byte   { return cat(b(opLocalSet), u32(i)) }
func call(f uint32) []byte   { return cat(b(opCall), u32(f)) }
func br(depth uint32) []byte { return cat(b(opBr), u32(depth)) }

// locals encodes local declarations: pairs of (count, type).
func locals(decls ...[2]byte) []byte {
	items := make([][]byte, len(decls))
	for i, d := range decls {
		items[i] = b(d[0], d[1])
	}
	return vec(items...)
}

// fn is one function of a test module; each gets its own type.
type fn struct {
	name            string // export name, empty for none
	params, results []byte
	locals          []byte // from locals(); nil means none
	body            []byte // instructions including the final end
}

// mod describes a test module. Extra types (for multi-value block types)
// come after the function types, so their index is len(funcs)+i.
type mod struct {
	funcs      []fn
	extraTypes [][]byte
	memory     []byte // memory type (limits), nil for none
	table      bool   // a funcref table holding every function, in order
	customs    bool   // sprinkle custom sections between the others
}

func (m mod) bytes() []byte {
	var types, decls, bodies, exports [][]byte
	var elems [][]byte
	for i, f := range m.funcs {
		types = append(types, funcType(f.params, f.results))
		decls = append(decls, u32(uint32(i)))
		l := f.locals
		if l == nil {
			l = vec()
		}
		body := cat(l, f.body)
		bodies = append(bodies, cat(u32(uint32(len(body))), body))
		if f.name != "" {
			exports = append(exports, cat(str(f.name), b(0x00), u32(uint32(i))))
		}
		elems = append(elems, u32(uint32(i)))
	}
	types = append(types, m.extraTypes...)
	custom := func(name string) []byte {
		if !m.customs {
			return nil
		}
		return sec(secCustom, cat(str(name), []byte("payload")))
	}
	var out [][]byte
	out = append(out, custom("first"), sec(secType, vec(types...)), sec(secFunction, vec(decls...)))
	if m.table {
		n := u32(uint32(len(m.funcs)))
		out = append(out, sec(secTable, vec(cat(b(0x70, 0x00), n))))
	}
	if m.memory != nil {
		out = append(out, sec(secMemory, vec(m.memory)))
		exports = append(exports, cat(str("memory"), b(0x02, 0x00)))
	}
	out = append(out, custom("middle"))
	if len(exports) > 0 {
		out = append(out, sec(secExport, vec(exports...)))
	}
	if m.table {
		// Active segment for table 0 at offset 0: flags 0, expr, vec(funcidx).
		out = append(out, sec(secElement, vec(cat(b(0x00), i32c(0), b(opEnd), vec(elems...)))))
	}
	out = append(out, sec(secCode, vec(bodies...)), custom("last"))
	return module(out...)
}

// newRuntime returns a runtime with wazero's default configuration
// (compiler where supported, CoreFeaturesV2), closed with the test.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	t.Cleanup(func() { r.Close(ctx) })
	return r
}

// instantiate compiles and instantiates bin in a fresh runtime.
func instantiate(t testing.TB, bin []byte) api.Module {
	t.Helper()
	m, err := newRuntime(t).Instantiate(context.Background(), bin)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return m
}

// compile reports whether wazero (default configuration) compiles bin.
func compile(t testing.TB, bin []byte) error {
	t.Helper()
	ctx := context.Background()
	compiled, err := newRuntime(t).CompileModule(ctx, bin)
	if err == nil {
		compiled.Close(ctx)
	}
	return err
}

// mustInstrument instruments bin and checks that wazero compiles the result.
func mustInstrument(t testing.TB, bin []byte, opts Options) []byte {
	t.Helper()
	out, err := Instrument(bin, opts)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	if err := compile(t, out); err != nil {
		t.Fatalf("wazero rejects the instrumented module: %v", err)
	}
	return out
}
