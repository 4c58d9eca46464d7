package guard

import "math"

// interruptCheck returns `global.get idx; if (empty); unreachable; end`.
// Trapping with unreachable needs no new import or function, so no index in
// the module moves.
func interruptCheck(idx uint32) []byte {
	check := []byte{0x23}
	check = appendU32(check, idx)
	return append(check, opIf, 0x40, 0x00, opEnd)
}

// rewriteCode inserts the interrupt check at the entry of every function
// body and after the block type of every loop.
func (rw *rewriter) rewriteCode(r *reader) ([]byte, error) {
	n, err := r.count("function body count", 1)
	if err != nil {
		return nil, err
	}
	rw.codeCount = n
	if n != rw.funcCount {
		return nil, r.malformedAt(0, "%d function bodies but %d function declarations", n, rw.funcCount)
	}
	check := interruptCheck(rw.globalIndex)
	out := make([]byte, 0, len(r.buf)+len(r.buf)/4+int(n)*len(check))
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
		if out, err = rw.rewriteBody(out, br, check); err != nil {
			return nil, err
		}
	}
	return out, expectEnd(r)
}

// rewriteBody appends the size-prefixed, instrumented body held by r to
// out.
func (rw *rewriter) rewriteBody(out []byte, r *reader, check []byte) ([]byte, error) {
	if _, err := skipLocals(r); err != nil {
		return nil, err
	}
	entry := r.pos
	var err error
	if rw.loops, err = walkExpr(r, rw.loops[:0]); err != nil {
		return nil, err
	}
	if r.remaining() != 0 {
		return nil, r.malformedAt(r.pos, "%d bytes after the end of the function body", r.remaining())
	}

	size := uint64(len(r.buf)) + uint64(len(check))*uint64(1+len(rw.loops))
	if size > math.MaxUint32 {
		return nil, r.unsupportedAt(0, "instrumented function body is larger than 4 GiB")
	}
	out = appendU32(out, uint32(size))
	out = append(out, r.buf[:entry]...)
	out = append(out, check...)
	copied := entry
	for _, at := range rw.loops {
		out = append(out, r.buf[copied:at]...)
		out = append(out, check...)
		copied = at
	}
	return append(out, r.buf[copied:]...), nil
}

// skipLocals steps over the local declarations at the start of a body and
// returns how many locals they declare.
func skipLocals(r *reader) (uint64, error) {
	n, err := r.count("local declaration count", 2)
	if err != nil {
		return 0, err
	}
	var total uint64
	for i := uint32(0); i < n; i++ {
		count, err := r.u32("local count")
		if err != nil {
			return 0, err
		}
		if err := skipValType(r); err != nil {
			return 0, err
		}
		total += uint64(count)
	}
	if total > math.MaxUint32 {
		return 0, r.malformedAt(0, "%d locals, more than 2^32-1", total)
	}
	return total, nil
}
