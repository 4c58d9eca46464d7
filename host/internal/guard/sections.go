package guard

import "math"

// Import and export kinds.
const (
	kindFunc   = 0x00
	kindTable  = 0x01
	kindMemory = 0x02
	kindGlobal = 0x03
	kindTag    = 0x04
)

// scanTypes records the parameter count of every type: the local that
// Instrument adds to each function is numbered after its parameters.
func (rw *rewriter) scanTypes(r *reader) error {
	n, err := r.count("type count", 3)
	if err != nil {
		return err
	}
	rw.typeParams = make([]uint32, 0, n)
	for i := uint32(0); i < n; i++ {
		form, err := r.byte("type form")
		if err != nil {
			return err
		}
		if form != 0x60 {
			return unknownType(r, r.pos-1, form, "type form (only function types are supported)")
		}
		params, err := skipValTypes(r, "parameter count")
		if err != nil {
			return err
		}
		if _, err := skipValTypes(r, "result count"); err != nil {
			return err
		}
		rw.typeParams = append(rw.typeParams, params)
	}
	return expectEnd(r)
}

// skipValTypes steps over a vector of value types and returns its length.
func skipValTypes(r *reader, what string) (uint32, error) {
	n, err := r.count(what, 1)
	if err != nil {
		return 0, err
	}
	for i := uint32(0); i < n; i++ {
		if err := skipValType(r); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// rewriteImports counts imports of each kind (they come first in their
// index spaces) and caps imported memories.
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
		case kindFunc:
			_, err = r.u32("import type index")
			rw.importedFuncs++
		case kindTable:
			err = skipTableType(r)
			rw.importedTables++
		case kindMemory:
			out = append(out, r.buf[copied:r.pos]...)
			out, err = rw.capLimits(r, out, rw.importedMemories, true)
			copied = r.pos
			rw.importedMemories++
		case kindGlobal:
			err = skipGlobalType(r)
			rw.importedGlobals++
		case kindTag:
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

// scanFunctions records the type of every defined function.
func (rw *rewriter) scanFunctions(r *reader) error {
	n, err := r.count("function count", 1)
	if err != nil {
		return err
	}
	rw.funcTypes = make([]uint32, 0, n)
	for i := uint32(0); i < n; i++ {
		at := r.pos
		t, err := r.u32("function type index")
		if err != nil {
			return err
		}
		if t >= uint32(len(rw.typeParams)) {
			return r.malformedAt(at, "function %d has type %d, but there are %d types",
				uint64(rw.importedFuncs)+uint64(i), t, len(rw.typeParams))
		}
		rw.funcTypes = append(rw.funcTypes, t)
	}
	return expectEnd(r)
}

// yieldTableType is the table the yield path grows by zero: funcref, at
// least and at most 0 elements.
var yieldTableType = []byte{0x70, 0x01, 0x00, 0x00}

// emitTables emits the table section (content is nil when the input has
// none) with the yield table appended, and records its index.
func (rw *rewriter) emitTables(out []byte, content []byte, offset int) ([]byte, error) {
	r := newReader(content, offset, "table")
	var n uint32
	elems := content
	if content != nil {
		var err error
		if n, err = r.count("table count", 3); err != nil {
			return nil, err
		}
		elems = content[r.pos:]
		for i := uint32(0); i < n; i++ {
			if err := skipTableType(r); err != nil {
				return nil, err
			}
		}
		if err := expectEnd(r); err != nil {
			return nil, err
		}
	}
	index := uint64(rw.importedTables) + uint64(n)
	if index >= math.MaxUint32 {
		return nil, r.unsupportedAt(0, "too many tables to add one")
	}
	rw.yieldTable = uint32(index)
	rw.tablesDone = true
	return appendSection(out, secTable, appendVec(nil, n, elems, yieldTableType))
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

// mutableI32Zero is a global of type `mut i32` initialised with i32.const 0.
var mutableI32Zero = []byte{0x7f, 0x01, 0x41, 0x00, opEnd}

// emitGlobals emits the global section (content is nil when the input has
// none) with the interrupt flag and the tick counter appended, and records
// their indices.
func (rw *rewriter) emitGlobals(out []byte, content []byte, offset int) ([]byte, error) {
	r := newReader(content, offset, "global")
	var n uint32
	elems := content
	if content != nil {
		var err error
		if n, err = r.count("global count", 3); err != nil {
			return nil, err
		}
		elems = content[r.pos:]
		for i := uint32(0); i < n; i++ {
			if err := skipGlobalType(r); err != nil {
				return nil, err
			}
			// Initializers are constant expressions: walking them only
			// checks that they are well formed; nothing in them changes.
			if rw.loops, err = walkExpr(r, rw.loops[:0]); err != nil {
				return nil, err
			}
		}
		if err := expectEnd(r); err != nil {
			return nil, err
		}
	}
	index := uint64(rw.importedGlobals) + uint64(n)
	if index+1 >= math.MaxUint32 {
		return nil, r.unsupportedAt(0, "too many globals to add two")
	}
	rw.flagGlobal, rw.ticksGlobal = uint32(index), uint32(index+1)
	rw.globalsDone = true
	return appendSection(out, secGlobal, appendVec(nil, n, elems, mutableI32Zero, mutableI32Zero))
}

// emitExports emits the export section (content is nil when the input has
// none) with the export of the interrupt flag appended.
func (rw *rewriter) emitExports(out []byte, content []byte, offset int) ([]byte, error) {
	r := newReader(content, offset, "export")
	var n uint32
	elems := content
	if content != nil {
		var err error
		if n, err = r.count("export count", 3); err != nil {
			return nil, err
		}
		elems = content[r.pos:]
		if err := scanExports(r, n); err != nil {
			return nil, err
		}
	}
	if uint64(n)+1 > math.MaxUint32 {
		return nil, r.unsupportedAt(0, "too many exports to add one")
	}
	rw.exportsDone = true
	export := appendU32(nil, uint32(len(InterruptGlobal)))
	export = append(export, InterruptGlobal...)
	export = append(export, kindGlobal)
	export = appendU32(export, rw.flagGlobal)
	return appendSection(out, secExport, appendVec(nil, n, elems, export))
}

// scanExports checks the n exports held by r. A module that already
// exports InterruptGlobal is refused: most likely it was instrumented
// twice, and the host would get the wrong global.
func scanExports(r *reader, n uint32) error {
	for i := uint32(0); i < n; i++ {
		at := r.pos
		name, err := r.name("export name")
		if err != nil {
			return err
		}
		kind, err := r.byte("export kind")
		if err != nil {
			return err
		}
		if kind > kindTag {
			return r.malformedAt(r.pos-1, "unknown export kind %#02x", kind)
		}
		if _, err := r.u32("export index"); err != nil {
			return err
		}
		if string(name) == InterruptGlobal {
			return r.unsupportedAt(at, "module already exports %q (instrumented twice?)", InterruptGlobal)
		}
	}
	return expectEnd(r)
}
