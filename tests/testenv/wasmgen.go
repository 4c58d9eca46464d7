package testenv

// A tiny wasm writer for hand-shaped guests in fault tests (unknown ABI
// version, ungranted imports, traps in init, oversized memory) that no
// compiler would produce on purpose.

// Wasm value types and opcodes used by the generated guests.
const (
	I32         = 0x7f
	I64         = 0x7e
	OpUnreach   = 0x00
	OpI32Const  = 0x41
	OpEnd       = 0x0b
	OpLoop      = 0x03
	OpBr        = 0x0c
	OpDrop      = 0x1a
	OpCall      = 0x10
	blockTypeNo = 0x40
)

// Import is a function import.
type Import struct {
	Module, Name    string
	Params, Results []byte
}

// Guest describes a generated pk guest.
type Guest struct {
	ABIVersion  uint32   // what pk_abi_version returns (default 1.0)
	Imports     []Import // imported functions (indices 0..len-1)
	InitBody    []byte   // pk_init body without the final end (default: i32.const 0)
	MemoryPages uint32   // initial memory (default 1)
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func functype(params, results []byte) []byte {
	return append(append([]byte{0x60}, vec(bytesOf(params)...)...), vec(bytesOf(results)...)...)
}

func bytesOf(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i, x := range b {
		out[i] = []byte{x}
	}
	return out
}

// I32Const encodes i32.const v.
func I32Const(v int32) []byte { return append([]byte{OpI32Const}, sleb(int64(v))...) }

// Bytes encodes the guest.
func (g Guest) Bytes() []byte {
	if g.ABIVersion == 0 {
		g.ABIVersion = 1 << 16
	}
	if g.MemoryPages == 0 {
		g.MemoryPages = 1
	}
	if g.InitBody == nil {
		g.InitBody = I32Const(0)
	}
	type fn struct {
		export          string
		params, results []byte
		body            []byte
	}
	funcs := []fn{
		{"pk_abi_version", nil, []byte{I32}, I32Const(int32(g.ABIVersion))},
		{"pk_alloc", []byte{I32}, []byte{I32}, I32Const(1024)},
		{"pk_init", nil, []byte{I32}, g.InitBody},
		{"pk_event", []byte{I32, I32, I32}, []byte{I32}, I32Const(0)},
	}
	var types, imports, funcIdx, exports, codes [][]byte
	for i, im := range g.Imports {
		types = append(types, functype(im.Params, im.Results))
		imports = append(imports, append(append(name(im.Module), name(im.Name)...), append([]byte{0x00}, uleb(uint64(i))...)...))
	}
	for i, f := range funcs {
		ti := len(g.Imports) + i
		types = append(types, functype(f.params, f.results))
		funcIdx = append(funcIdx, uleb(uint64(ti)))
		exports = append(exports, append(name(f.export), append([]byte{0x00}, uleb(uint64(len(g.Imports)+i))...)...))
		body := append(append([]byte{0x00}, f.body...), OpEnd) // no locals
		codes = append(codes, append(uleb(uint64(len(body))), body...))
	}
	exports = append(exports, append(name("memory"), 0x02, 0x00))
	mod := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	mod = append(mod, section(1, vec(types...))...)
	if len(imports) > 0 {
		mod = append(mod, section(2, vec(imports...))...)
	}
	mod = append(mod, section(3, vec(funcIdx...))...)
	mod = append(mod, section(5, vec(append([]byte{0x00}, uleb(uint64(g.MemoryPages))...)))...)
	mod = append(mod, section(7, vec(exports...))...)
	mod = append(mod, section(10, vec(codes...))...)
	return mod
}
