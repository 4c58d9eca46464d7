package guard

import "math"

// Import kinds.
const (
	importFunc   = 0x00
	importTable  = 0x01
	importMemory = 0x02
	importGlobal = 0x03
	importTag    = 0x04
)

// rewriteImports counts imported functions and globals (they shift the
// index of everything defined) and caps imported memories.
func (rw *rewriter) rewriteImports(r *reader) ([]byte, error) {
	n, err := r.count("import count", 4)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(r.buf)+8)
	copied := 0
	for i := uint32(0); i < n; i++ {
		if _, err := r.name("import module name"); err != nil {
			return nil, err
		}
		if _, err := r.name("import field name"); err != nil {
			return nil, err
		}
		kind, err := r.byte("import kind")
		if err != nil {
			return nil, err
		}
		switch kind {
		case importFunc:
			_, err = r.u32("import type index")
			rw.importedFuncs++
		case importTable:
			err = skipTableType(r)
		case importMemory:
			out = append(out, r.buf[copied:r.pos]...)
			out, err = rw.capLimits(r, out, rw.importedMemories, true)
			copied = r.pos
			rw.importedMemories++
		case importGlobal:
			err = skipGlobalType(r)
			rw.importedGlobals++
		case importTag:
			err = skipTagType(r)
		default:
			err = r.malformedAt(r.pos-1, "unknown import kind %#02x", kind)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := expectEnd(r); err != nil {
		return nil, err
	}
	return append(out, r.buf[copied:]...), nil
}

// rewriteMemories caps every defined memory.
func (rw *rewriter) rewriteMemories(r *reader) ([]byte, error) {
	n, err := r.count("memory count", 2)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(r.buf)+8*int(n))
	out = appendU32(out, n)
	for i := uint32(0); i < n; i++ {
		if out, err = rw.capLimits(r, out, rw.importedMemories+i, false); err != nil {
			return nil, err
		}
	}
	return out, expectEnd(r)
}

// capLimits reads a memory type and appends it to out with its maximum
// capped at rw.limit.
func (rw *rewriter) capLimits(r *reader, out []byte, index uint32, imported bool) ([]byte, error) {
	start := r.pos
	flags, err := r.byte("memory limits flags")
	if err != nil {
		return nil, err
	}
	const hasMax, shared, memory64 = 0x01, 0x02, 0x04
	if flags&memory64 != 0 {
		// memory64 would need 64-bit memarg offsets and maxima.
		return nil, r.unsupportedAt(start, "memory64 memory %d", index)
	}
	if flags&^(hasMax|shared) != 0 {
		return nil, r.malformedAt(start, "memory limits flags %#02x", flags)
	}
	initial, err := r.u32("memory minimum")
	if err != nil {
		return nil, err
	}
	var maxPages uint32
	if flags&hasMax != 0 {
		if maxPages, err = r.u32("memory maximum"); err != nil {
			return nil, err
		}
	}
	if rw.limit == 0 {
		return append(out, r.buf[start:r.pos]...), nil
	}
	if initial > rw.limit {
		return nil, &MemoryLimitError{Index: index, Imported: imported, Initial: initial, Limit: rw.limit}
	}
	if flags&hasMax == 0 || maxPages > rw.limit {
		maxPages = rw.limit
	}
	out = append(out, flags|hasMax)
	out = appendU32(out, initial)
	return appendU32(out, maxPages), nil
}

func skipTableType(r *reader) error {
	if err := skipRefType(r); err != nil {
		return err
	}
	flags, err := r.byte("table limits flags")
	if err != nil {
		return err
	}
	switch flags {
	case 0x00:
		_, err = r.u32("table minimum")
	case 0x01:
		if _, err = r.u32("table minimum"); err == nil {
			_, err = r.u32("table maximum")
		}
	case 0x04, 0x05:
		err = r.unsupportedAt(r.pos-1, "table64 limits")
	default:
		err = r.malformedAt(r.pos-1, "table limits flags %#02x", flags)
	}
	return err
}

func skipGlobalType(r *reader) error {
	if err := skipValType(r); err != nil {
		return err
	}
	mut, err := r.byte("global mutability")
	if err == nil && mut > 1 {
		err = r.malformedAt(r.pos-1, "global mutability %#02x", mut)
	}
	return err
}

func skipTagType(r *reader) error {
	attr, err := r.byte("tag attribute")
	if err != nil {
		return err
	}
	if attr != 0 {
		return r.malformedAt(r.pos-1, "tag attribute %#02x", attr)
	}
	_, err = r.u32("tag type index")
	return err
}

// interruptGlobal is the appended global: mutable i32 initialised with
// i32.const 0.
var interruptGlobal = []byte{0x7f, 0x01, 0x41, 0x00, opEnd}

// emitGlobals emits the global section (content is nil when the input has
// none) with the interrupt global appended, and records its index.
func (rw *rewriter) emitGlobals(out []byte, content []byte, offset int) ([]byte, error) {
	r := newReader(content, offset, "global")
	n, elems, err := rw.scanGlobals(r)
	if err != nil {
		return nil, err
	}
	index := uint64(rw.importedGlobals) + uint64(n)
	if index >= math.MaxUint32 {
		return nil, r.unsupportedAt(0, "too many globals to add one")
	}
	rw.globalIndex = uint32(index)
	rw.globalDone = true

	sec := make([]byte, 0, len(elems)+len(interruptGlobal)+5)
	sec = appendU32(sec, n+1)
	sec = append(sec, elems...)
	sec = append(sec, interruptGlobal...)
	return appendSection(out, secGlobal, sec)
}

// scanGlobals checks the global section and returns its count and the
// bytes of its elements.
func (rw *rewriter) scanGlobals(r *reader) (uint32, []byte, error) {
	if r.buf == nil {
		return 0, nil, nil
	}
	n, err := r.count("global count", 3)
	if err != nil {
		return 0, nil, err
	}
	start := r.pos
	for i := uint32(0); i < n; i++ {
		if err := skipGlobalType(r); err != nil {
			return 0, nil, err
		}
		// Initializers are constant expressions: walking them only checks
		// that they are well formed; nothing in them is rewritten.
		if rw.loops, err = walkExpr(r, rw.loops[:0]); err != nil {
			return 0, nil, err
		}
	}
	return n, r.buf[start:], expectEnd(r)
}

// emitExports emits the export section (content is nil when the input has
// none) with the interrupt global's export appended.
func (rw *rewriter) emitExports(out []byte, content []byte, offset int) ([]byte, error) {
	r := newReader(content, offset, "export")
	n, elems, err := scanExports(r)
	if err != nil {
		return nil, err
	}
	rw.exportDone = true

	sec := make([]byte, 0, len(elems)+len(InterruptGlobal)+16)
	sec = appendU32(sec, n+1)
	sec = append(sec, elems...)
	sec = appendU32(sec, uint32(len(InterruptGlobal)))
	sec = append(sec, InterruptGlobal...)
	sec = append(sec, exportGlobal)
	sec = appendU32(sec, rw.globalIndex)
	return appendSection(out, secExport, sec)
}

const exportGlobal = 0x03

// scanExports checks the export section and returns its count and the bytes
// of its elements. A module that already exports InterruptGlobal is
// refused: most likely it was instrumented twice, and the host would get
// the wrong global.
func scanExports(r *reader) (uint32, []byte, error) {
	if r.buf == nil {
		return 0, nil, nil
	}
	n, err := r.count("export count", 3)
	if err != nil {
		return 0, nil, err
	}
	start := r.pos
	for i := uint32(0); i < n; i++ {
		at := r.pos
		name, err := r.name("export name")
		if err != nil {
			return 0, nil, err
		}
		kind, err := r.byte("export kind")
		if err != nil {
			return 0, nil, err
		}
		if kind > importTag {
			return 0, nil, r.malformedAt(r.pos-1, "unknown export kind %#02x", kind)
		}
		if _, err := r.u32("export index"); err != nil {
			return 0, nil, err
		}
		if string(name) == InterruptGlobal {
			return 0, nil, r.unsupportedAt(at, "module already exports %q (instrumented twice?)", InterruptGlobal)
		}
	}
	if uint64(n)+1 > math.MaxUint32 {
		return 0, nil, r.unsupportedAt(0, "too many exports to add one")
	}
	return n, r.buf[start:], expectEnd(r)
}
