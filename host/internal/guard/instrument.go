package guard

import (
	"bytes"
	"math"
)

// InterruptGlobal is the export name of the injected mutable i32 global.
// While it is 0 the guest runs normally; once the host sets it to any other
// value, the guest traps ("unreachable") at its next function entry or loop
// iteration.
const InterruptGlobal = "__pk_interrupt"

// Options configures Instrument.
type Options struct {
	// MaxMemoryPages caps the guest's defined memory (64 KiB pages). 0 means
	// no cap. Imported memories are capped too. Values above 65536, the
	// most a 32-bit memory can have, are treated as 65536.
	MaxMemoryPages uint32
}

// maxMemoryPages is the largest maximum a 32-bit memory may declare.
const maxMemoryPages = 65536

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "datacount", secTag: "tag",
}

// sectionRank gives the position each non-custom section must have: the
// ids are not in spec order (tag and datacount came late).
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// section is one section of the input, aliasing it.
type section struct {
	id      byte
	raw     []byte // id, size and content, as in the input
	content []byte
	offset  int // absolute offset of content, for errors
}

// Instrument returns a rewritten copy of the wasm binary. It appends a
// mutable i32 global exported as InterruptGlobal, checks it at the entry of
// every function and the head of every loop, and caps memories at
// opts.MaxMemoryPages. The input is not modified.
//
// Errors wrap ErrMalformed, ErrUnsupported or ErrMemoryLimit.
func Instrument(wasm []byte, opts Options) ([]byte, error) {
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	rw := &rewriter{limit: min(opts.MaxMemoryPages, maxMemoryPages)}
	// The checks add a few bytes per function and loop; this is usually
	// enough to avoid regrowing the output.
	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, header...)
	for _, s := range sections {
		if s.id != secCustom {
			if out, err = rw.emitMissing(out, sectionRank[s.id]); err != nil {
				return nil, err
			}
		}
		if out, err = rw.emit(out, s); err != nil {
			return nil, err
		}
	}
	if out, err = rw.emitMissing(out, math.MaxInt); err != nil {
		return nil, err
	}
	if rw.funcCount != rw.codeCount {
		return nil, malformed("code", len(wasm), "%d function declarations but %d bodies", rw.funcCount, rw.codeCount)
	}
	return out, nil
}

// splitSections checks the header and the section framing and order.
func splitSections(wasm []byte) ([]section, error) {
	r := newReader(wasm, 0, "module")
	if len(wasm) < 4 || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, r.malformedAt(0, "missing \\0asm magic")
	}
	if len(wasm) < 8 {
		return nil, r.malformedAt(4, "truncated version")
	}
	if !bytes.Equal(wasm[4:8], header[4:8]) {
		// Most likely a component (version 0x0d): well formed, not a module.
		return nil, r.unsupportedAt(4, "binary version % x, want 01 00 00 00", wasm[4:8])
	}
	r.pos = 8
	var sections []section
	lastRank := 0
	for r.remaining() > 0 {
		start := r.pos
		id, _ := r.byte("section id")
		if int(id) >= len(sectionNames) {
			return nil, r.malformedAt(start, "unknown section id %d", id)
		}
		r.section = sectionNames[id]
		size, err := r.u32("section size")
		if err != nil {
			return nil, err
		}
		content, err := r.bytes(size, "section content")
		if err != nil {
			return nil, err
		}
		s := section{id: id, raw: wasm[start:r.pos], content: content, offset: r.pos - len(content)}
		if id == secCustom {
			if _, err := newReader(content, s.offset, "custom").name("custom section name"); err != nil {
				return nil, err
			}
		} else {
			if sectionRank[id] <= lastRank {
				return nil, r.malformedAt(start, "%s section out of order or repeated", r.section)
			}
			lastRank = sectionRank[id]
		}
		sections = append(sections, s)
		r.section = "module"
	}
	return sections, nil
}

// rewriter carries what earlier sections tell later ones.
type rewriter struct {
	limit uint32 // memory cap in pages, 0 for none

	importedFuncs, importedGlobals, importedMemories uint32

	funcCount, codeCount uint32

	globalIndex            uint32 // index of the interrupt global
	globalDone, exportDone bool   // the global and export sections were emitted

	loops []int // scratch for loop positions, reused across bodies
}

// emitMissing emits the global and export sections if the input has none
// and the next section (of rank next) must come after them.
func (rw *rewriter) emitMissing(out []byte, next int) ([]byte, error) {
	var err error
	if !rw.globalDone && next > sectionRank[secGlobal] {
		out, err = rw.emitGlobals(out, nil, 0)
		if err != nil {
			return nil, err
		}
	}
	if !rw.exportDone && next > sectionRank[secExport] {
		out, err = rw.emitExports(out, nil, 0)
	}
	return out, err
}

// emit copies or rewrites one input section.
func (rw *rewriter) emit(out []byte, s section) ([]byte, error) {
	r := newReader(s.content, s.offset, sectionNames[s.id])
	var content []byte
	var err error
	switch s.id {
	case secImport:
		content, err = rw.rewriteImports(r)
	case secFunction:
		err = rw.countFunctions(r)
	case secMemory:
		content, err = rw.rewriteMemories(r)
	case secGlobal:
		return rw.emitGlobals(out, s.content, s.offset)
	case secExport:
		return rw.emitExports(out, s.content, s.offset)
	case secCode:
		content, err = rw.rewriteCode(r)
	}
	if err != nil {
		return nil, err
	}
	if content == nil {
		return append(out, s.raw...), nil
	}
	return appendSection(out, s.id, content)
}

// appendSection frames content as a section.
func appendSection(out []byte, id byte, content []byte) ([]byte, error) {
	if uint64(len(content)) > math.MaxUint32 {
		return nil, newReader(nil, 0, sectionNames[id]).unsupportedAt(0, "rewritten section is larger than 4 GiB")
	}
	out = append(out, id)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...), nil
}

// expectEnd rejects trailing bytes after a section's last element.
func expectEnd(r *reader) error {
	if r.remaining() != 0 {
		return r.malformedAt(r.pos, "%d trailing bytes", r.remaining())
	}
	return nil
}

func (rw *rewriter) countFunctions(r *reader) error {
	n, err := r.count("function count", 1)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.u32("function type index"); err != nil {
			return err
		}
	}
	rw.funcCount = n
	return expectEnd(r)
}
