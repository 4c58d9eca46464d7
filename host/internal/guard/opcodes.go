package guard

// imm names the shape of the immediates that follow an opcode. The
// rewriter never interprets immediates; it only has to step over them
// exactly, so that it finds every loop and never mistakes an immediate byte
// for an opcode.
type imm uint8

const (
	immUnknown    imm = iota // not an opcode the rewriter knows
	immNone                  // no immediate
	immBlock                 // block type: 0x40, a value type, or an s33 type index
	immIndex                 // one u32 (index, label, memory index)
	immIndex2                // two u32 (call_indirect, memory.init, table.copy, ...)
	immBrTable               // vec(label) label
	immMemarg                // align [memidx] offset
	immMemargLane            // memarg then one lane byte
	immLane                  // one lane byte
	immV128                  // 16 raw bytes (v128.const, i8x16.shuffle)
	immI32                   // signed LEB128, 32 bits
	immI64                   // signed LEB128, 64 bits
	immF32                   // 4 raw bytes
	immF64                   // 8 raw bytes
	immSelectT               // vec(valtype)
	immRefType               // one reference type byte
	immFence                 // one reserved 0x00 byte
	immPrefixFC              // misc prefix: u32 sub-opcode
	immPrefixFD              // SIMD prefix: u32 sub-opcode
	immPrefixFE              // threads prefix: u32 sub-opcode
)

// Opcodes the rewriter looks for or emits.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Const    = 0x41
	opI32Eqz      = 0x45
	opI32Add      = 0x6a
	opI32And      = 0x71
	opRefNull     = 0xd0
	opPrefixMisc  = 0xfc
	miscTableGrow = 15 // 0xfc sub-opcode

	blockEmpty = 0x40 // block type of a block without parameters or results
	typeI32    = 0x7f
	typeFunc   = 0x70 // funcref
)

// oneByteOps covers the MVP, sign extension, reference types, multi-value,
// tail calls and the three prefixes.
var oneByteOps = func() (t [256]imm) {
	for _, op := range []byte{0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1} {
		t[op] = immNone
	}
	for op := 0x45; op <= 0xc4; op++ { // numeric and sign-extension ops
		t[op] = immNone
	}
	t[opBlock], t[opLoop], t[opIf] = immBlock, immBlock, immBlock
	for _, op := range []byte{
		0x0c, 0x0d, // br, br_if
		0x10, 0x12, // call, return_call
		0x20, 0x21, 0x22, 0x23, 0x24, // local.get/set/tee, global.get/set
		0x25, 0x26, // table.get/set
		0x3f, 0x40, // memory.size/grow: a reserved byte in the MVP, a memidx with multi-memory
		0xd2, // ref.func
	} {
		t[op] = immIndex
	}
	t[0x11], t[0x13] = immIndex2, immIndex2 // call_indirect, return_call_indirect
	t[0x0e] = immBrTable
	for op := 0x28; op <= 0x3e; op++ { // loads and stores
		t[op] = immMemarg
	}
	t[0x41], t[0x42], t[0x43], t[0x44] = immI32, immI64, immF32, immF64
	t[0x1c] = immSelectT
	t[0xd0] = immRefType
	t[0xfc], t[0xfd], t[0xfe] = immPrefixFC, immPrefixFD, immPrefixFE
	return t
}()

// miscOps is indexed by the 0xFC sub-opcode.
var miscOps = [...]imm{
	0: immNone, 1: immNone, 2: immNone, 3: immNone, // i32.trunc_sat_*
	4: immNone, 5: immNone, 6: immNone, 7: immNone, // i64.trunc_sat_*
	8:  immIndex2, // memory.init data mem
	9:  immIndex,  // data.drop
	10: immIndex2, // memory.copy mem mem
	11: immIndex,  // memory.fill mem
	12: immIndex2, // table.init elem table
	13: immIndex,  // elem.drop
	14: immIndex2, // table.copy table table
	15: immIndex,  // table.grow
	16: immIndex,  // table.size
	17: immIndex,  // table.fill
}

// simdOps is indexed by the 0xFD sub-opcode (fixed-width SIMD, final spec).
var simdOps = func() (t [256]imm) {
	for op := range t {
		t[op] = immNone
	}
	for op := 0; op <= 11; op++ { // v128.load* and v128.store
		t[op] = immMemarg
	}
	t[12], t[13] = immV128, immV128 // v128.const, i8x16.shuffle
	for op := 21; op <= 34; op++ {  // extract_lane / replace_lane
		t[op] = immLane
	}
	for op := 84; op <= 91; op++ { // v128.load*_lane / v128.store*_lane
		t[op] = immMemargLane
	}
	t[92], t[93] = immMemarg, immMemarg // v128.load32_zero, v128.load64_zero
	// Holes left in the opcode space by the SIMD proposal.
	for _, op := range []byte{
		0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee,
	} {
		t[op] = immUnknown
	}
	return t
}()

// atomicOp returns the immediates of a 0xFE (threads) sub-opcode.
func atomicOp(sub uint32) imm {
	switch {
	case sub <= 0x02: // memory.atomic.notify, memory.atomic.wait32/64
		return immMemarg
	case sub == 0x03: // atomic.fence
		return immFence
	case sub >= 0x10 && sub <= 0x4e: // atomic loads, stores and rmw ops
		return immMemarg
	}
	return immUnknown
}

// knownUnsupported names opcodes from proposals the rewriter does not cover,
// so that the error says more than a hex byte.
var knownUnsupported = map[byte]string{
	0x06: "try (legacy exception handling)",
	0x07: "catch (legacy exception handling)",
	0x08: "throw (exception handling)",
	0x09: "rethrow (legacy exception handling)",
	0x0a: "throw_ref (exception handling)",
	0x14: "call_ref (function references)",
	0x15: "return_call_ref (function references)",
	0x18: "delegate (legacy exception handling)",
	0x19: "catch_all (legacy exception handling)",
	0x1f: "try_table (exception handling)",
	0xd3: "ref.as_non_null (function references)",
	0xd4: "br_on_null (function references)",
	0xd5: "ref.eq (gc)",
	0xd6: "br_on_non_null (function references)",
	0xfb: "gc prefix",
}

// walkExpr steps over the instructions of one expression, starting at r.pos
// and ending just after the `end` that closes it. It appends to loops the
// position (in r.buf) just after every loop's block type, which is where the
// interrupt check goes.
func walkExpr(r *reader, loops []int) ([]int, error) {
	depth := 0
	for {
		at := r.pos
		op, err := r.byte("opcode")
		if err != nil {
			return loops, err
		}
		switch op {
		case opBlock, opLoop, opIf:
			depth++
		case opEnd:
			if depth == 0 {
				return loops, nil
			}
			depth--
		}
		if err := skipImmediates(r, op, at); err != nil {
			return loops, err
		}
		if op == opLoop {
			loops = append(loops, r.pos)
		}
	}
}

// skipImmediates steps over the immediates of the one-byte opcode op, which
// was read at position at.
func skipImmediates(r *reader, op byte, at int) error {
	kind := oneByteOps[op]
	switch kind {
	case immUnknown:
		if name, ok := knownUnsupported[op]; ok {
			return r.unsupportedAt(at, "opcode %#02x %s", op, name)
		}
		return r.unsupportedAt(at, "unknown opcode %#02x", op)
	case immPrefixFC, immPrefixFD, immPrefixFE:
		return skipPrefixed(r, op, at)
	}
	return skipImm(r, kind, at)
}

// skipPrefixed decodes the u32 sub-opcode after a prefix byte and steps over
// its immediates.
func skipPrefixed(r *reader, prefix byte, at int) error {
	sub, err := r.u32("sub-opcode")
	if err != nil {
		return err
	}
	kind := immUnknown
	switch prefix {
	case 0xfc:
		if sub < uint32(len(miscOps)) {
			kind = miscOps[sub]
		}
	case 0xfd:
		if sub < uint32(len(simdOps)) {
			kind = simdOps[sub]
		}
	case 0xfe:
		kind = atomicOp(sub)
	}
	if kind == immUnknown {
		return r.unsupportedAt(at, "unknown opcode %#02x %d (%#x)", prefix, sub, sub)
	}
	return skipImm(r, kind, at)
}

// skipImm steps over one immediate shape. at is the opcode position, for
// errors.
func skipImm(r *reader, kind imm, at int) error {
	switch kind {
	case immNone:
		return nil
	case immBlock:
		return skipBlockType(r)
	case immIndex:
		_, err := r.u32("index immediate")
		return err
	case immIndex2:
		if _, err := r.u32("index immediate"); err != nil {
			return err
		}
		_, err := r.u32("index immediate")
		return err
	case immBrTable:
		return skipBrTable(r)
	case immMemarg:
		return skipMemarg(r)
	case immMemargLane:
		if err := skipMemarg(r); err != nil {
			return err
		}
		return r.skip(1, "lane index")
	case immLane:
		return r.skip(1, "lane index")
	case immV128:
		return r.skip(16, "v128 immediate")
	case immI32:
		return r.skipSigned(5, "i32 constant")
	case immI64:
		return r.skipSigned(10, "i64 constant")
	case immF32:
		return r.skip(4, "f32 constant")
	case immF64:
		return r.skip(8, "f64 constant")
	case immSelectT:
		return skipSelectTypes(r)
	case immRefType:
		return skipRefType(r)
	case immFence:
		b, err := r.byte("atomic.fence flags")
		if err == nil && b != 0 {
			err = r.malformedAt(r.pos-1, "atomic.fence flags %#02x, want 0x00", b)
		}
		return err
	}
	// Only reachable through a bug in the tables above; report it rather
	// than panic on a host that is loading untrusted code.
	return r.unsupportedAt(at, "immediate kind %d has no decoder", kind)
}

func skipBrTable(r *reader) error {
	n, err := r.count("br_table label count", 1)
	if err != nil {
		return err
	}
	for i := uint32(0); i <= n; i++ { // n labels plus the default
		if _, err := r.u32("br_table label"); err != nil {
			return err
		}
	}
	return nil
}

// skipMemarg steps over align, the optional multi-memory index (present
// when bit 6 of align is set) and offset.
func skipMemarg(r *reader) error {
	align, err := r.u32("memarg alignment")
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32("memarg memory index"); err != nil {
			return err
		}
	}
	_, err = r.u32("memarg offset")
	return err
}

func skipSelectTypes(r *reader) error {
	n, err := r.count("select type count", 1)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := skipValType(r); err != nil {
			return err
		}
	}
	return nil
}

// isValType reports whether b is a one-byte value type of wasm 2.0.
func isValType(b byte) bool {
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, // i32 i64 f32 f64
		0x7b,       // v128
		0x70, 0x6f: // funcref externref
		return true
	}
	return false
}

func skipValType(r *reader) error {
	b, err := r.byte("value type")
	if err != nil {
		return err
	}
	if !isValType(b) {
		return unknownType(r, r.pos-1, b, "value type")
	}
	return nil
}

func skipRefType(r *reader) error {
	b, err := r.byte("reference type")
	if err != nil {
		return err
	}
	if b != 0x70 && b != 0x6f {
		return unknownType(r, r.pos-1, b, "reference type")
	}
	return nil
}

// unknownType reports a type byte the rewriter does not know. Types are
// one-byte negative s33 numbers (0x40-0x7f): such a byte is most likely a
// type from a later proposal (typed references, gc, exnref), anything else
// cannot be a type at all.
func unknownType(r *reader, at int, b byte, what string) error {
	if b&0xc0 == 0x40 {
		return r.unsupportedAt(at, "%s %#02x", what, b)
	}
	return r.malformedAt(at, "invalid %s %#02x", what, b)
}

// skipBlockType steps over a block type: 0x40 (empty), a one-byte value
// type, or a non-negative s33 type index (multi-value).
func skipBlockType(r *reader) error {
	at := r.pos
	b, err := r.byte("block type")
	if err != nil {
		return err
	}
	switch {
	case b == blockEmpty || isValType(b):
		return nil
	case b&0xc0 == 0x40:
		// A one-byte negative s33 that is no type we know: a value type
		// from a later proposal (typed references, exnref, ...).
		return r.unsupportedAt(at, "block type %#02x", b)
	case b&0x80 == 0:
		return nil // a type index below 64
	}
	// A multi-byte s33 type index; it must be non-negative and fit in 32 bits.
	for i := 1; i < 5; i++ {
		b, err = r.byte("block type index")
		if err != nil {
			return err
		}
		if b&0x80 != 0 {
			continue
		}
		if b&0x40 != 0 || (i == 4 && b&0x70 != 0) {
			return r.malformedAt(at, "block type index is negative or overflows")
		}
		return nil
	}
	return r.malformedAt(at, "block type index longer than 5 bytes")
}
