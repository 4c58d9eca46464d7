package guard

import "math"

// yieldEvery is how many function entries (counted module-wide) or loop
// iterations (counted per call) pass between two yields. A power of two.
// It bounds how long a guest can hold off a stop-the-world: about a
// thousand iterations, microseconds for most loops.
const yieldEvery = 16384

const yieldMask = yieldEvery - 1

// yieldMaskLEB is yieldMask as the signed LEB128 immediate of i32.const
// (TestYieldMaskEncoding checks it).
var yieldMaskLEB = sleb32(yieldMask)

// sleb32 encodes v as a signed LEB128.
func sleb32(v int32) []byte {
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

// rewriteCode instruments every function body.
func (rw *rewriter) rewriteCode(r *reader) ([]byte, error) {
	n, err := r.count("function body count", 1)
	if err != nil {
		return nil, err
	}
	rw.codeCount = n
	if n != uint32(len(rw.funcTypes)) {
		return nil, r.malformedAt(0, "%d function bodies but %d function declarations", n, len(rw.funcTypes))
	}
	// Each body grows by about 60 bytes plus 20 per loop.
	out := make([]byte, 0, len(r.buf)+len(r.buf)/4+int(n)*64)
	out = appendU32(out, n)
	for i := uint32(0); i < n; i++ {
		size, err := r.u32("function body size")
		if err != nil {
			return nil, err
		}
		offset := r.pos
		body, err := r.bytes(size, "function body")
		if err != nil {
			return nil, err
		}
		br := newReader(body, r.base+offset, "code")
		br.fn = int64(rw.importedFuncs) + int64(i)
		params := rw.typeParams[rw.funcTypes[i]]
		if out, err = rw.rewriteBody(out, br, params); err != nil {
			return nil, err
		}
	}
	return out, expectEnd(r)
}

// rewriteBody appends to out the size-prefixed, instrumented body held by
// r, whose function has params parameters. It adds one i32 local, the
// tick counter, after the existing ones so that no local index moves.
func (rw *rewriter) rewriteBody(out []byte, r *reader, params uint32) ([]byte, error) {
	decls, err := skipLocals(r)
	if err != nil {
		return nil, err
	}
	local := uint64(params) + decls.locals // index of the added local
	if local >= math.MaxUint32 {
		return nil, r.unsupportedAt(0, "no room for one more local after %d", local)
	}
	if rw.loops, err = walkExpr(r, rw.loops[:0]); err != nil {
		return nil, err
	}
	if r.remaining() != 0 {
		return nil, r.malformedAt(r.pos, "%d bytes after the end of the function body", r.remaining())
	}
	rw.entry = rw.appendEntryCheck(rw.entry[:0], uint32(local))
	rw.loop = rw.appendLoopCheck(rw.loop[:0], uint32(local))

	declCount := appendU32(nil, decls.count+1)
	size := uint64(len(declCount)) + uint64(len(r.buf)-decls.start) + uint64(len(ticksDecl)) +
		uint64(len(rw.entry)) + uint64(len(rw.loop))*uint64(len(rw.loops))
	if size > math.MaxUint32 {
		return nil, r.unsupportedAt(0, "instrumented function body is larger than 4 GiB")
	}
	out = appendU32(out, uint32(size))
	out = append(out, declCount...)
	out = append(out, r.buf[decls.start:decls.end]...)
	out = append(out, ticksDecl...)
	out = append(out, rw.entry...)
	copied := decls.end
	for _, at := range rw.loops {
		out = append(out, r.buf[copied:at]...)
		out = append(out, rw.loop...)
		copied = at
	}
	return append(out, r.buf[copied:]...), nil
}

// ticksDecl declares the added local: one i32.
var ticksDecl = []byte{0x01, typeI32}

// localDecls describes the local declarations at the start of a body.
type localDecls struct {
	count      uint32 // number of declarations
	start, end int    // the declarations, after their count
	locals     uint64 // number of locals they declare
}

// skipLocals steps over the local declarations at the start of a body.
func skipLocals(r *reader) (localDecls, error) {
	var d localDecls
	var err error
	if d.count, err = r.count("local declaration count", 2); err != nil {
		return d, err
	}
	d.start = r.pos
	for i := uint32(0); i < d.count; i++ {
		n, err := r.u32("local count")
		if err != nil {
			return d, err
		}
		if err := skipValType(r); err != nil {
			return d, err
		}
		d.locals += uint64(n)
	}
	if d.locals > math.MaxUint32 {
		return d, r.malformedAt(0, "%d locals, more than 2^32-1", d.locals)
	}
	d.end = r.pos
	return d, nil
}

// appendEntryCheck appends the check run at every function entry:
//
//	global.get $flag  if  unreachable  end
//	global.get $ticks  i32.const 1  i32.add  local.tee $t  global.set $ticks
//	local.get $t  <yield check>
//
// The module-wide tick counter makes recursion without loops yield too.
func (rw *rewriter) appendEntryCheck(dst []byte, local uint32) []byte {
	dst = rw.appendFlagCheck(dst)
	dst = appendOp(dst, opGlobalGet, rw.ticksGlobal)
	dst = append(dst, opI32Const, 1, opI32Add)
	dst = appendOp(dst, opLocalTee, local)
	dst = appendOp(dst, opGlobalSet, rw.ticksGlobal)
	dst = appendOp(dst, opLocalGet, local)
	return rw.appendYieldCheck(dst)
}

// appendLoopCheck appends the check run at the head of every loop:
//
//	global.get $flag  if  unreachable  end
//	local.get $t  i32.const 1  i32.add  local.tee $t  <yield check>
//
// Loops count in the local, a register, not in the global: it keeps the
// counter off memory in the hottest code.
func (rw *rewriter) appendLoopCheck(dst []byte, local uint32) []byte {
	dst = rw.appendFlagCheck(dst)
	dst = appendOp(dst, opLocalGet, local)
	dst = append(dst, opI32Const, 1, opI32Add)
	dst = appendOp(dst, opLocalTee, local)
	return rw.appendYieldCheck(dst)
}

// appendFlagCheck appends `global.get $flag if unreachable end`: trapping
// with unreachable needs no new import or function, so no index moves.
func (rw *rewriter) appendFlagCheck(dst []byte) []byte {
	dst = appendOp(dst, opGlobalGet, rw.flagGlobal)
	return append(dst, opIf, blockEmpty, opUnreachable, opEnd)
}

// appendYieldCheck appends, for a tick count on the stack,
//
//	i32.const yieldEvery-1  i32.and  i32.eqz
//	if  ref.null func  i32.const 0  table.grow $yield  drop  end
//
// Growing a table by zero does nothing, but wazero's compiler implements
// table.grow by returning to Go. That return is the point: Go cannot preempt
// compiled guest code, so a guest that never left it would block every
// stop-the-world (the garbage collector's) and, with it, the whole process,
// including the goroutine that would raise the interrupt flag.
func (rw *rewriter) appendYieldCheck(dst []byte) []byte {
	dst = append(dst, opI32Const)
	dst = append(dst, yieldMaskLEB...)
	dst = append(dst, opI32And, opI32Eqz, opIf, blockEmpty)
	dst = append(dst, opRefNull, typeFunc, opI32Const, 0, opPrefixMisc, miscTableGrow)
	dst = appendU32(dst, rw.yieldTable)
	return append(dst, opDrop, opEnd)
}

// appendOp appends an opcode with one u32 immediate.
func appendOp(dst []byte, op byte, imm uint32) []byte {
	return appendU32(append(dst, op), imm)
}
