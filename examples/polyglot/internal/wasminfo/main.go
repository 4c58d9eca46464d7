// Command wasminfo prints the interface of wasm modules: one sorted line per
// import and export, with function signatures, e.g.
//
//	import func pk.publish (i32,i32,i32,i32,i32)->(i32)
//	export func pk_init ()->(i32)
//	export memory memory
//
// examples/polyglot/check-rebuild.sh diffs its output for a committed fixture
// and for the module rebuilt from source: byte-identical rebuilds across
// toolchain versions are not expected, the same interface is.
//
// Usage: wasminfo FILE.wasm
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wasminfo FILE.wasm")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err == nil {
		var lines []string
		if lines, err = describe(b); err == nil {
			fmt.Println(strings.Join(lines, "\n"))
			return
		}
	}
	fmt.Fprintf(os.Stderr, "wasminfo: %s: %v\n", os.Args[1], err)
	os.Exit(1)
}

var errTruncated = errors.New("truncated module")

// reader decodes the parts of the wasm binary format that describe imports
// and exports.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("bad LEB128")
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.err = errTruncated
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}

var valTypes = map[byte]string{0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref"}

func (r *reader) valTypes() string {
	n := r.u32()
	var s []string
	for i := uint32(0); i < n && r.err == nil; i++ {
		c := r.byte()
		t, ok := valTypes[c]
		if !ok {
			t = fmt.Sprintf("0x%02x", c)
		}
		s = append(s, t)
	}
	return "(" + strings.Join(s, ",") + ")"
}

// describe returns the sorted import and export lines of a module.
func describe(b []byte) ([]string, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || b[4] != 1 || b[5]|b[6]|b[7] != 0 {
		return nil, errors.New("not a wasm 1.0 binary module")
	}
	r := &reader{b: b[8:]}
	var (
		types []string // signature of each type index
		funcs []uint32 // type index of each function index (imports first)
		lines []string
	)
	sig := func(typeIdx uint32) string {
		if int(typeIdx) < len(types) {
			return types[typeIdx]
		}
		return fmt.Sprintf("type[%d]?", typeIdx)
	}
	kinds := [...]string{"func", "table", "memory", "global", "tag"}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		s := &reader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				if f := s.byte(); f != 0x60 {
					return nil, fmt.Errorf("type form 0x%02x not supported", f)
				}
				params := s.valTypes()
				types = append(types, params+"->"+s.valTypes())
			}
		case 2: // import
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				mod, name := s.name(), s.name()
				switch k := s.byte(); k {
				case 0:
					t := s.u32()
					funcs = append(funcs, t)
					lines = append(lines, "import func "+mod+"."+name+" "+sig(t))
				case 1:
					s.byte()
					s.limits()
					lines = append(lines, "import table "+mod+"."+name)
				case 2:
					s.limits()
					lines = append(lines, "import memory "+mod+"."+name)
				case 3:
					s.byte()
					s.byte()
					lines = append(lines, "import global "+mod+"."+name)
				default:
					return nil, fmt.Errorf("import kind %d not supported", k)
				}
			}
		case 3: // function
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				funcs = append(funcs, s.u32())
			}
		case 7: // export
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				name, k, idx := s.name(), s.byte(), s.u32()
				switch {
				case k == 0 && int(idx) < len(funcs):
					lines = append(lines, "export func "+name+" "+sig(funcs[idx]))
				case int(k) < len(kinds):
					lines = append(lines, "export "+kinds[k]+" "+name)
				default:
					return nil, fmt.Errorf("export kind %d not supported", k)
				}
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, s.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	sort.Strings(lines)
	return lines, nil
}
