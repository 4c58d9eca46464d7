package bench

// A tiny WebAssembly assembler for the hand-written guests of the
// benchmarks. Bodies are written with the op helpers below. A guest can be
// assembled with a copy of what host/internal/guard inserts (see guardMode),
// so that raw wazero can run guarded code without importing the internal
// package; the real instrumentation is measured through runtime.Load.

import (
	"encoding/binary"
	"slices"
)

const (
	i32 = 0x7f
	i64 = 0x7e
)

type wtype struct{ params, results []byte }

type wimport struct {
	module, name string
	typ          wtype
}

type wfunc struct {
	name   string // export name ("" = not exported)
	typ    wtype
	locals []byte // extra i32/i64 locals, one byte each
	// body returns the instructions (without the final end); loop must be
	// used to open every loop so that the guard check can be inserted.
	body func(a *asm) []byte
}

type wdata struct {
	offset uint32
	bytes  []byte
}

// guardMode is which part of host/internal/guard's instrumentation (as of
// commit 58d7e81) the assembler inserts by hand.
type guardMode int

const (
	guardNone guardMode = iota
	// guardFlag: `global.get $flag; if; unreachable; end` at every function
	// entry and loop head (the guard's interrupt check on its own).
	guardFlag
	// guardNoYield: guardFlag plus the tick counting (a module-wide global
	// counter at function entries, a per-call local at loop heads) and the
	// every-1024 test, whose rare branch bumps a global instead of yielding.
	guardNoYield
	// guardMirror: the whole instrumentation: the rare branch yields to Go
	// with `table.grow` by 0 on an added funcref table.
	guardMirror
	// guardHoisted: guardMirror with the yield moved out of the loop (not
	// what the guard does; an experiment): every loop becomes
	//
	//	block $done loop $outer block $y loop $inner
	//	  <flag check> <tick> br_if $y (every 1024)   <body>
	//	end br $done end <yield> br $outer end end
	//
	// so that the loop proper contains no call.
	guardHoisted
)

type wmodule struct {
	imports []wimport
	funcs   []wfunc
	pages   uint32
	data    []wdata
	guard   guardMode
}

// asm carries what bodies need: function indices by name and the check at
// loop heads of the function being assembled.
type asm struct {
	idx       map[string]uint32
	loopCheck []byte
	hoisted   bool
}

// Indices of what the guard modes add (the guests have no other globals or
// tables).
const (
	gFlag, gTicks = 0, 1
	yieldTable    = 0
	yieldMask     = 1023
)

// flagCheck is `global.get $flag; if; unreachable; end`.
func flagCheck() []byte { return []byte{0x23, gFlag, 0x04, 0x40, 0x00, opEnd} }

// yieldCheck consumes the tick count on the stack.
func (m wmodule) yieldCheck() []byte {
	b := cat(i32c(yieldMask), []byte{0x71 /* and */, opEqz, 0x04, 0x40})
	if m.guard >= guardMirror {
		b = append(b, yieldOps()...)
	} else {
		b = append(b, 0x23, gTicks, 0x41, 0x01, opAdd, 0x24, gTicks) // bump ticks
	}
	return append(b, opEnd)
}

// yieldOps is `ref.null func; i32.const 0; table.grow $yield; drop`.
func yieldOps() []byte { return []byte{0xd0, 0x70, 0x41, 0x00, 0xfc, 0x0f, yieldTable, opDrop} }

// checks returns the entry and loop-head checks of a function whose tick
// local (when the mode counts) is t.
func (m wmodule) checks(t uint32) (entry, loop []byte) {
	switch m.guard {
	case guardNone:
		return nil, nil
	case guardFlag:
		return flagCheck(), flagCheck()
	}
	entry = cat(flagCheck(), []byte{0x23, gTicks}, i32c(1), []byte{opAdd}, ltee(t), []byte{0x24, gTicks}, lget(t), m.yieldCheck())
	if m.guard == guardHoisted {
		// br_if $y (1 out from $inner) every 1024 ticks
		return entry, cat(flagCheck(), lget(t), i32c(1), []byte{opAdd}, ltee(t), i32c(yieldMask), []byte{0x71, opEqz}, brIf(1))
	}
	loop = cat(flagCheck(), lget(t), i32c(1), []byte{opAdd}, ltee(t), m.yieldCheck())
	return entry, loop
}

func uleb(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vec(b []byte, n int) []byte { return uleb(b, uint64(n)) }

func name(b []byte, s string) []byte { return append(vec(b, len(s)), s...) }

func section(out []byte, id byte, content []byte) []byte {
	out = append(out, id)
	out = uleb(out, uint64(len(content)))
	return append(out, content...)
}

// Instructions.
func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }
func i32c(v int32) []byte        { return sleb([]byte{0x41}, int64(v)) }
func lget(i uint32) []byte       { return uleb([]byte{0x20}, uint64(i)) }
func lset(i uint32) []byte       { return uleb([]byte{0x21}, uint64(i)) }
func ltee(i uint32) []byte       { return uleb([]byte{0x22}, uint64(i)) }
func brIf(d uint32) []byte       { return uleb([]byte{0x0d}, uint64(d)) }
func load32() []byte             { return []byte{0x28, 0x02, 0x00} }
func load8u() []byte             { return []byte{0x2d, 0x00, 0x00} }
func store32() []byte            { return []byte{0x36, 0x02, 0x00} }

const (
	opEnd   = 0x0b
	opDrop  = 0x1a
	opBlock = 0x02
	opEqz   = 0x45
	opNe    = 0x47
	opGeU   = 0x4f
	opAdd   = 0x6a
	opMul   = 0x6c
	opXor   = 0x73
)

func (a *asm) call(fn string) []byte {
	i, ok := a.idx[fn]
	if !ok {
		panic("no function " + fn)
	}
	return uleb([]byte{0x10}, uint64(i))
}

// loop opens a loop (empty block type) followed by the guard check; bodies
// close it with endLoop and branch only to it from inside (br 0).
func (a *asm) loop() []byte {
	if a.hoisted {
		return cat([]byte{opBlock, 0x40, 0x03, 0x40, opBlock, 0x40, 0x03, 0x40}, a.loopCheck)
	}
	return append([]byte{0x03, 0x40}, a.loopCheck...)
}

func (a *asm) endLoop() []byte {
	if a.hoisted {
		// end $inner; br $done; end $y; yield; br $outer; end $outer; end $done
		return cat([]byte{opEnd, 0x0c, 2, opEnd}, yieldOps(), []byte{0x0c, 0, opEnd, opEnd})
	}
	return []byte{opEnd}
}

func block() []byte { return []byte{opBlock, 0x40} }

// encode assembles the module.
func (m wmodule) encode() []byte {
	var types []wtype
	typeIdx := func(t wtype) uint32 {
		for i, u := range types {
			if slices.Equal(u.params, t.params) && slices.Equal(u.results, t.results) {
				return uint32(i)
			}
		}
		types = append(types, t)
		return uint32(len(types) - 1)
	}
	a := &asm{idx: map[string]uint32{}, hoisted: m.guard == guardHoisted}
	for i, im := range m.imports {
		a.idx[im.module+"."+im.name] = uint32(i)
		typeIdx(im.typ)
	}
	for i, f := range m.funcs {
		a.idx[f.name] = uint32(len(m.imports) + i)
		typeIdx(f.typ)
	}

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	var s []byte
	s = vec(s, len(types))
	for _, t := range types {
		s = append(s, 0x60)
		s = append(vec(s, len(t.params)), t.params...)
		s = append(vec(s, len(t.results)), t.results...)
	}
	out = section(out, 1, s)

	if len(m.imports) > 0 {
		s = vec(nil, len(m.imports))
		for _, im := range m.imports {
			s = name(name(s, im.module), im.name)
			s = uleb(append(s, 0x00), uint64(typeIdx(im.typ)))
		}
		out = section(out, 2, s)
	}

	s = vec(nil, len(m.funcs))
	for _, f := range m.funcs {
		s = uleb(s, uint64(typeIdx(f.typ)))
	}
	out = section(out, 3, s)

	if m.guard >= guardMirror {
		out = section(out, 4, []byte{0x01, 0x70, 0x01, 0x00, 0x00}) // funcref, min 0, max 0
	}

	s = vec(nil, 1)
	s = uleb(append(s, 0x00), uint64(m.pages)) // min only
	out = section(out, 5, s)

	if m.guard != guardNone {
		s = vec(nil, 2)
		for range 2 {
			s = append(s, i32, 0x01, 0x41, 0x00, opEnd) // mut i32 = 0: flag, ticks
		}
		out = section(out, 6, s)
	}

	nexp := 1
	for _, f := range m.funcs {
		if f.name != "" && f.name[0] != '$' {
			nexp++
		}
	}
	s = vec(nil, nexp)
	s = uleb(append(name(s, "memory"), 0x02), 0)
	for _, f := range m.funcs {
		if f.name != "" && f.name[0] != '$' {
			s = uleb(append(name(s, f.name), 0x00), uint64(a.idx[f.name]))
		}
	}
	out = section(out, 7, s)

	s = vec(nil, len(m.funcs))
	for _, f := range m.funcs {
		locals := f.locals
		if m.guard >= guardNoYield {
			locals = append(slices.Clone(locals), i32) // the tick counter, last
		}
		entry, loop := m.checks(uint32(len(f.typ.params) + len(locals) - 1))
		a.loopCheck = loop
		body := vec(nil, len(locals))
		for _, l := range locals {
			body = append(body, 0x01, l)
		}
		body = append(body, entry...)
		body = append(body, f.body(a)...)
		body = append(body, opEnd)
		s = append(vec(s, len(body)), body...)
	}
	out = section(out, 10, s)

	if len(m.data) > 0 {
		s = vec(nil, len(m.data))
		for _, d := range m.data {
			s = append(s, 0x00)
			s = append(s, i32c(int32(d.offset))...)
			s = append(s, opEnd)
			s = append(vec(s, len(d.bytes)), d.bytes...)
		}
		out = section(out, 11, s)
	}
	return out
}

// withCustom appends a custom section, which changes the bytes (and so the
// module's hash) without changing what the module does.
func withCustom(wasm []byte, label string) []byte {
	content := name(nil, "pk-bench")
	content = append(content, label...)
	return section(slices.Clone(wasm), 0, content)
}

// Memory layout of the hand-written guests.
const (
	evBuf    = 1024  // event buffer registered in pk_init
	evCap    = 4096  //
	arena    = 8192  // pk_alloc's static arena
	arenaCap = 57344 // up to the end of page 0
	scratch  = 16    // clock_now's output
	dataBuf  = 65536 // 64 KiB hashed by the fnv loop
	dataLen  = 65536
	pages    = 3
)

// Event kinds the benchmark guests understand beyond the ABI's.
const (
	kindFNV   = 100 // fnv-1a over [dataBuf, dataBuf+dataLen), hash stored at 8
	kindCount = 101 // count to the u32 at ptr, result stored at 8
	kindClock = 102 // call clock_now(0, scratch) the u32 at ptr times
)

var (
	tI32I32     = wtype{nil, []byte{i32}}
	tI32toI32   = wtype{[]byte{i32}, []byte{i32}}
	tEvent      = wtype{[]byte{i32, i32, i32}, []byte{i32}}
	t2I32toI32  = wtype{[]byte{i32, i32}, []byte{i32}}
	importEvBuf = wimport{"pk", "event_buffer", t2I32toI32}
	importClock = wimport{"pk", "clock_now", t2I32toI32}
)

// abiFuncs are the exports every guest has: pk_abi_version, pk_alloc and a
// pk_init that registers the event buffer.
func abiFuncs() []wfunc {
	return []wfunc{
		{name: "pk_abi_version", typ: tI32I32, body: func(*asm) []byte { return i32c(0x00010000) }},
		{name: "pk_alloc", typ: tI32toI32, body: func(*asm) []byte {
			// select(arena, 0, size <= arenaCap)
			return cat(i32c(arena), i32c(0), lget(0), i32c(arenaCap+1), []byte{0x49 /* lt_u */, 0x1b /* select */})
		}},
		{name: "pk_init", typ: tI32I32, body: func(a *asm) []byte {
			return cat(i32c(evBuf), i32c(evCap), a.call("pk.event_buffer"))
		}},
	}
}

// nopGuest's pk_event returns 0 and does nothing else.
func nopGuest() []byte {
	m := wmodule{imports: []wimport{importEvBuf}, pages: pages}
	m.funcs = append(abiFuncs(), wfunc{name: "pk_event", typ: tEvent, body: func(*asm) []byte { return i32c(0) }})
	return m.encode()
}

// fnvFunc is FNV-1a 32 over [p, p+n): one byte per iteration.
var fnvFunc = wfunc{name: "$fnv", typ: t2I32toI32, locals: []byte{i32, i32}, body: func(a *asm) []byte {
	const p, n, h, end = 0, 1, 2, 3
	return cat(
		i32c(-2128831035), lset(h), // 0x811c9dc5
		lget(p), lget(n), []byte{opAdd}, lset(end),
		block(),
		lget(p), lget(end), []byte{opGeU}, brIf(0),
		a.loop(),
		lget(h), lget(p), load8u(), []byte{opXor}, i32c(16777619), []byte{opMul}, lset(h),
		lget(p), i32c(1), []byte{opAdd}, ltee(p), lget(end), []byte{opNe}, brIf(0),
		a.endLoop(),
		[]byte{opEnd},
		lget(h),
	)
}}

// countFunc counts from 0 to n (n ≥ 1) and returns n.
var countFunc = wfunc{name: "$count", typ: tI32toI32, locals: []byte{i32}, body: func(a *asm) []byte {
	const n, i = 0, 1
	return cat(
		a.loop(),
		lget(i), i32c(1), []byte{opAdd}, ltee(i), lget(n), []byte{opNe}, brIf(0),
		a.endLoop(),
		lget(i),
	)
}}

// clockFunc calls clock_now(0, scratch) n times and returns the errno
// of the last call.
var clockFunc = wfunc{name: "$clock", typ: tI32toI32, locals: []byte{i32}, body: func(a *asm) []byte {
	const n, e = 0, 1
	return cat(
		block(),
		lget(n), []byte{opEqz}, brIf(0),
		a.loop(),
		i32c(0), i32c(scratch), a.call("pk.clock_now"), lset(e),
		lget(n), i32c(-1), []byte{opAdd}, ltee(n), brIf(0),
		a.endLoop(),
		[]byte{opEnd},
		lget(e),
	)
}}

// workGuest's pk_event runs the hot loops (kindFNV, kindCount) and the
// syscall loop (kindClock); any other kind returns 0.
func workGuest(g guardMode) []byte {
	m := wmodule{imports: []wimport{importEvBuf, importClock}, pages: pages, guard: g}
	m.funcs = append(abiFuncs(), fnvFunc, countFunc, clockFunc,
		wfunc{name: "pk_event", typ: tEvent, body: func(a *asm) []byte {
			const kind, ptr = 0, 1
			return cat(
				// if kind == FNV { mem[8] = fnv(dataBuf, dataLen); return 0 }
				lget(kind), i32c(kindFNV), []byte{0x46 /* eq */, 0x04, 0x40},
				i32c(8), i32c(dataBuf), i32c(dataLen), a.call("$fnv"), store32(), i32c(0), []byte{0x0f /* return */, opEnd},
				lget(kind), i32c(kindCount), []byte{0x46, 0x04, 0x40},
				i32c(8), lget(ptr), load32(), a.call("$count"), store32(), i32c(0), []byte{0x0f, opEnd},
				lget(kind), i32c(kindClock), []byte{0x46, 0x04, 0x40},
				lget(ptr), load32(), a.call("$clock"), []byte{0x0f, opEnd},
				i32c(0),
			)
		}})
	return m.encode()
}

// fnvGo is the reference for the guest's fnv.
func fnvGo(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}
