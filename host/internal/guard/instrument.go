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

// componentVersion is the version and layer of a component binary, which
// shares the \0asm magic.
var componentVersion = []byte{0x0d, 0x00, 0x01, 0x00}

// section is one section of the input, aliasing it.
type section struct {
	id      byte
	raw     []byte // id, size and content, as in the input
	content []byte
	offset  int // absolute offset of content, for errors
}

// Instrument returns a rewritten copy of the wasm binary. It appends a
// mutable i32 global exported as InterruptGlobal and checks it at the entry
// of every function and the head of every loop; it makes the guest return
// to the host runtime periodically (see the package documentation); and it
// caps memories at opts.MaxMemoryPages. The input is not modified.
//
// Errors wrap ErrMalformed, ErrUnsupported or ErrMemoryLimit.
func Instrument(wasm []byte, opts Options) ([]byte, error) {
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	rw := &rewriter{limit: min(opts.MaxMemoryPages, maxMemoryPages)}
	// The checks add a few dozen bytes per function and loop; this is
	// usually enough to avoid regrowing the output.
	out := make([]byte, 0, len(wasm)+len(wasm)/4+128)
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
	if len(rw.funcTypes) != int(rw.codeCount) {
		return nil, newReader(wasm, 0, "code").malformedAt(len(wasm),
			"%d function declarations but %d bodies", len(rw.funcTypes), rw.codeCount)
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
	if bytes.Equal(wasm[4:8], componentVersion) {
		return nil, r.unsupportedAt(4, "a component, not a core module")
	}
	if !bytes.Equal(wasm[4:8], header[4:8]) {
		return nil, r.malformedAt(4, "binary version % x, want 01 00 00 00", wasm[4:8])
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

// rewriter carries what earlier sections tell later ones, in one pass.
type rewriter struct {
	limit uint32 // memory cap in pages, 0 for none

	typeParams []uint32 // parameter count of each type
	funcTypes  []uint32 // type index of each defined function

	importedFuncs, importedTables, importedGlobals, importedMemories uint32

	// Indices of what Instrument adds, valid once their section is emitted.
	flagGlobal, ticksGlobal, yieldTable uint32

	tablesDone, globalsDone, exportsDone bool // the sections were emitted

	codeCount   uint32
	loops       []int  // scratch: loop positions in the current body
	entry, loop []byte // scratch: the current body's check sequences
}

// emitMissing emits the table, global and export sections if the input
// has none and the next section (of rank next) must come after them.
func (rw *rewriter) emitMissing(out []byte, next int) ([]byte, error) {
	var err error
	if !rw.tablesDone && next > sectionRank[secTable] {
		if out, err = rw.emitTables(out, nil, 0); err != nil {
			return nil, err
		}
	}
	if !rw.globalsDone && next > sectionRank[secGlobal] {
		if out, err = rw.emitGlobals(out, nil, 0); err != nil {
			return nil, err
		}
	}
	if !rw.exportsDone && next > sectionRank[secExport] {
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
	case secType:
		err = rw.scanTypes(r)
	case secImport:
		content, err = rw.rewriteImports(r)
	case secFunction:
		err = rw.scanFunctions(r)
	case secTable:
		return rw.emitTables(out, s.content, s.offset)
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

// appendVec appends a vector of n existing elements (elems, copied from the
// input) followed by new ones. Callers check that the count fits.
func appendVec(out []byte, n uint32, elems []byte, added ...[]byte) []byte {
	out = appendU32(out, n+uint32(len(added)))
	out = append(out, elems...)
	for _, a := range added {
		out = append(out, a...)
	}
	return out
}

// expectEnd rejects trailing bytes after a section's last element.
func expectEnd(r *reader) error {
	if r.remaining() != 0 {
		return r.malformedAt(r.pos, "%d trailing bytes", r.remaining())
	}
	return nil
}
