package syscall

// The ABI suite of the host side: every syscall through real wasm (the proxy
// guest of proxy_test.go), one table per syscall family, each row naming the
// abi/README.md line it checks. A row checks the returned errno, the golden
// trace of Host calls (nil: the Host is not called) and the whole guest memory
// after the call (only the row's `wrote` ranges may change).

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero"
)

// realtime is what clock_now(0) reads in these tests.
const realtime = 1_700_000_000_123_456_789

func TestMain(m *testing.M) {
	nowUnixNano = func() int64 { return realtime }
	code := m.Run()
	if code == 0 && wholeSuite() {
		if msg := coverageGaps(); msg != "" {
			fmt.Fprintln(os.Stderr, "FAIL: the ABI suite does not cover every syscall:\n"+msg)
			code = 1
		}
	}
	os.Exit(code)
}

// wholeSuite reports whether every test ran (no -run, -skip, -fuzz or -list).
func wholeSuite() bool {
	for _, f := range []string{"test.run", "test.skip", "test.fuzz", "test.list"} {
		if fl := flag.Lookup(f); fl != nil && fl.Value.String() != "" {
			return false
		}
	}
	return true
}

// documentedErrnos parses the "- Errors:" line of every syscall section of
// abi/README.md.
func documentedErrnos() (map[string][]abi.Errno, error) {
	doc, err := os.ReadFile("../../abi/README.md")
	if err != nil {
		return nil, err
	}
	byName := map[string]abi.Errno{}
	for _, e := range abi.Errnos() {
		byName[e.Name()] = e
	}
	out := map[string][]abi.Errno{}
	secs := regexp.MustCompile("(?m)^#### `([a-z_]+)\\(").FindAllSubmatchIndex(doc, -1)
	word := regexp.MustCompile(`\bE[A-Z0-9]+\b`)
	for i, s := range secs {
		end := len(doc)
		if i+1 < len(secs) {
			end = secs[i+1][0]
		}
		name := string(doc[s[2]:s[3]])
		body := string(doc[s[1]:end])
		j := strings.Index(body, "\n- Errors:")
		if j < 0 {
			return nil, fmt.Errorf("README § %s has no Errors line", name)
		}
		errs := body[j:]
		if k := strings.Index(errs, "\n- Memory"); k >= 0 {
			errs = errs[:k]
		}
		for _, w := range word.FindAllString(errs, -1) {
			if e, ok := byName[w]; ok && !slices.Contains(out[name], e) {
				out[name] = append(out[name], e)
			}
		}
	}
	return out, nil
}

// pointerParams lists the parameters of s that are guest pointers: those
// followed by their length or capacity, and the fixed-size outputs.
func pointerParams(s abi.Syscall) []string {
	var out []string
	for i, n := range s.ParamNames {
		next := ""
		if i+1 < len(s.ParamNames) {
			next = s.ParamNames[i+1]
		}
		if n == "out" || strings.HasSuffix(n, "_out") || next == "cap" || next == "len" || next == n+"_len" {
			out = append(out, n)
		}
	}
	return out
}

// coverageGaps checks that table rows exercised every syscall with OK, with
// every errno its README section documents, and with EFAULT for each of its
// pointer parameters.
func coverageGaps() string {
	doc, err := documentedErrnos()
	if err != nil {
		return err.Error()
	}
	touched.Lock()
	defer touched.Unlock()
	var gaps []string
	for _, s := range abi.Syscalls() {
		got := touched.errnos[s.Name]
		if got == nil {
			gaps = append(gaps, s.Name+": no table rows")
			continue
		}
		want := append([]abi.Errno{abi.OK}, doc[s.Name]...)
		for _, p := range pointerParams(s) {
			want = append(want, abi.EFAULT)
			if !touched.faults[s.Name][p] {
				gaps = append(gaps, fmt.Sprintf("%s: no EFAULT row for pointer %s", s.Name, p))
			}
		}
		for _, e := range want {
			if !got[e] {
				gaps = append(gaps, fmt.Sprintf("%s: no row returning %s", s.Name, e.Name()))
			}
		}
	}
	for name := range touched.errnos {
		if _, ok := abi.LookupSyscall(name); !ok {
			gaps = append(gaps, "rows for unknown syscall "+name)
		}
	}
	slices.Sort(gaps)
	return strings.Join(gaps, "\n")
}

// TestReadmeParse keeps the README parsing of coverageGaps honest.
func TestReadmeParse(t *testing.T) {
	doc, err := documentedErrnos()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range abi.Syscalls() {
		if _, ok := doc[s.Name]; !ok && s.Name != abi.SysEventBuffer {
			t.Errorf("no documented errnos parsed for %s", s.Name)
		}
	}
	if want := []abi.Errno{abi.ENOENT, abi.E2BIG, abi.EINVAL, abi.ENAMETOOLONG, abi.EIO}; !slices.Equal(doc[abi.SysKVGet], want) {
		t.Errorf("kv_get: parsed %v, want %v", doc[abi.SysKVGet], want)
	}
	if got := pointerParams(mustSyscall(abi.SysTopicGet)); !slices.Equal(got, []string{"topic", "buf", "len_out", "seq_out"}) {
		t.Errorf("pointerParams(topic_get) = %v", got)
	}
	if got := pointerParams(mustSyscall(abi.SysTimerCancel)); len(got) != 0 {
		t.Errorf("pointerParams(timer_cancel) = %v", got)
	}
}

func mustSyscall(name string) abi.Syscall {
	s, ok := abi.LookupSyscall(name)
	if !ok {
		panic(name)
	}
	return s
}

// ---- rows ----

type row struct {
	sys   string
	name  string
	ref   string          // the abi/README.md line the row checks
	host  func(*fakeHost) // programs the fake's results
	mem   []at            // inputs written before the call
	args  []uint64        // the raw wasm arguments
	big   bool            // run on the 65-page guest (4 MiB boundaries)
	want  abi.Errno       // the errno the syscall must return
	fault string          // the pointer parameter an EFAULT row faults
	trace []string        // the golden Host calls; nil: the Host is not called
	wrote []at            // all the guest memory the call may change
	rnd   *[2]uint32      // [off, len): filled with random bytes
	check func(*testing.T, *fakeHost, *guest)
}

// base returns a valid call of each syscall against a newFake().
func base(sys string) row {
	switch sys {
	case abi.SysResultTake:
		return row{host: func(h *fakeHost) { h.kept = Kept{data: []byte("kept-result"), ok: true} },
			args: a(pBuf, 64, pLen), wrote: []at{in(pBuf, "kept-result"), u32le(pLen, 11)}}
	case abi.SysEventBuffer:
		return row{args: a(pBuf, 64), trace: tr("SetEventBuffer(ptr=0x8000, cap=64)")}
	case abi.SysSnapshotWrite:
		return row{mem: []at{in(pIn2, "state")}, args: a(pIn2, 5), trace: tr(`SnapshotWrite(p="state")`)}
	case abi.SysSelfInfo:
		js := string(newFake().selfInfo)
		return row{args: a(pBuf, 256, pLen), trace: tr("SelfInfo()"),
			wrote: []at{in(pBuf, js), u32le(pLen, uint32(len(js)))}}
	case abi.SysLog:
		attrs := abi.AppendList(nil, []byte("k"), []byte("v"))
		return row{mem: []at{in(pIn, "hello"), {pIn2, attrs}}, args: a(0, pIn, 5, pIn2, len(attrs)),
			trace: tr(`Log(level=0, msg="hello", attrs=["k"="v"])`)}
	case abi.SysClockNow:
		return row{args: a(abi.ClockMonotonic, pSeq), trace: tr("Monotonic()"), wrote: []at{u64le(pSeq, 42e9)}}
	case abi.SysRandomFill:
		return row{args: a(pBuf, 32), rnd: &[2]uint32{pBuf, 32}}
	case abi.SysTopicDeclare:
		return row{mem: []at{in(pIn, "a/b")}, args: a(pIn, 3, abi.KindQueue, abi.ScopeLocal),
			trace: tr(`TopicDeclare(topic="a/b", kind=1, scope=0)`)}
	case abi.SysPublish:
		return row{mem: []at{in(pIn, "a/b"), in(pIn2, "hi")}, args: a(pIn, 3, pIn2, 2, abi.KindAny),
			trace: tr(`Publish(topic="a/b", data="hi", kind=0)`)}
	case abi.SysSubscribe:
		return row{mem: []at{in(pIn, "a/b")}, args: a(pIn, 3, abi.SubPrefix), trace: tr(`Subscribe(topic="a/b", flags=1)`)}
	case abi.SysUnsubscribe:
		return row{mem: []at{in(pIn, "a/b")}, args: a(pIn, 3, 0), trace: tr(`Unsubscribe(topic="a/b", flags=0)`)}
	case abi.SysTopicGet:
		return row{mem: []at{in(pIn, "a/b")}, args: a(pIn, 3, pBuf, 64, pLen, pSeq), trace: tr(`TopicGet(topic="a/b")`),
			wrote: []at{in(pBuf, "v1"), u32le(pLen, 2), u64le(pSeq, 7)}}
	case abi.SysTimerSet:
		return row{args: a(5_000_000, 0, pSeq), trace: tr("TimerSet(delay=5ms, period=0s)"), wrote: []at{u64le(pSeq, 9)}}
	case abi.SysTimerCancel:
		return row{args: a(9), trace: tr("TimerCancel(id=9)")}
	case abi.SysKVGet:
		return row{mem: []at{in(pIn, "k")}, args: a(pIn, 1, pBuf, 64, pLen), trace: tr(`KVGet(key="k")`),
			wrote: []at{in(pBuf, "value"), u32le(pLen, 5)}}
	case abi.SysKVPut:
		return row{mem: []at{in(pIn, "k"), in(pIn2, "v")}, args: a(pIn, 1, pIn2, 1), trace: tr(`KVPut(key="k", val="v")`)}
	case abi.SysKVDelete:
		return row{mem: []at{in(pIn, "k")}, args: a(pIn, 1), trace: tr(`KVDelete(key="k")`)}
	case abi.SysKVList:
		return row{mem: []at{in(pIn, "a")}, args: a(pIn, 1, pBuf, 64, pLen), trace: tr(`KVList(prefix="a")`),
			wrote: []at{in(pBuf, "\x01\x00\x00\x00a\x02\x00\x00\x00bc"), u32le(pLen, 11)}}
	case abi.SysCall:
		return row{mem: []at{in(pIn, "echo"), in(pIn2, "ping")}, args: a(pIn, 4, pIn2, 4, pBuf, 64, pLen, 250),
			trace: tr(`Call(module="echo", req="ping", timeout=250ms)`), wrote: []at{in(pBuf, "pong"), u32le(pLen, 4)}}
	case abi.SysCallReply:
		return row{mem: []at{in(pIn2, "ok")}, args: a(5, pIn2, 2), trace: tr(`CallReply(id=5, data="ok")`)}
	case abi.SysNodeStatus:
		js := string(newFake().nodeStatus)
		return row{args: a(pBuf, 256, pLen), trace: tr("NodeStatus()"),
			wrote: []at{in(pBuf, js), u32le(pLen, uint32(len(js)))}}
	case abi.SysFSPut:
		// The data sits above the longest name at pIn (nameRows).
		return row{mem: []at{in(pIn, "f"), in(pFSData, "hi")}, args: a(pIn, 1, pFSData, 2, pSeq),
			trace: tr(`FSPut(name="f", data="hi")`), wrote: []at{{pSeq, fakeFSID[:]}}}
	case abi.SysFSRead:
		return row{mem: []at{in(pIn, "f")}, args: a(pIn, 1, 0, pBuf, 64, pLen), trace: tr(`FSRead(ref="f", off=0, n=64)`),
			wrote: []at{in(pBuf, "file-bytes"), u32le(pLen, 10)}}
	case abi.SysFSStat:
		return row{mem: []at{in(pIn, "f")}, args: a(pIn, 1, pSeq), trace: tr(`FSStat(ref="f")`),
			wrote: []at{{pSeq, abi.AppendFSStat(nil, newFake().fsStat)}}}
	case abi.SysFSList:
		return row{mem: []at{in(pIn, "a")}, args: a(pIn, 1, pBuf, 64, pLen), trace: tr(`FSList(prefix="a")`),
			wrote: []at{in(pBuf, "\x01\x00\x00\x00a\x02\x00\x00\x00bc"), u32le(pLen, 11)}}
	case abi.SysFSRemove:
		return row{mem: []at{in(pIn, "f")}, args: a(pIn, 1), trace: tr(`FSRemove(name="f")`)}
	}
	panic("no base call for " + sys)
}

// r builds a row from the base call of sys, changed by f.
func r(sys, name, ref string, f func(*row)) row {
	x := base(sys)
	x.sys, x.name, x.ref = sys, name, ref
	x.args = slices.Clone(x.args)
	x.mem = slices.Clone(x.mem)
	if f != nil {
		f(&x)
	}
	return x
}

func a(v ...any) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		switch x := x.(type) {
		case int:
			out[i] = uint64(x)
		case int64:
			out[i] = uint64(x)
		case uint32:
			out[i] = uint64(x)
		case uint64:
			out[i] = x
		default:
			panic(fmt.Sprintf("arg %T", x))
		}
	}
	return out
}

func tr(lines ...string) []string { return lines }

func rep(c byte, n int) string { return strings.Repeat(string(c), n) }

// kept programs a result kept for result_take.
func kept(data string) func(*fakeHost) {
	return func(h *fakeHost) { h.kept = Kept{data: []byte(data), ok: true} }
}

func hostErr(e abi.Errno) func(*fakeHost) { return func(h *fakeHost) { h.errno = e } }

// passthrough is the base call of sys with the Host returning e: the
// syscall returns e unchanged, after the same Host call, writing nothing.
func passthrough(sys string, e abi.Errno, ref string) row {
	return r(sys, "host returns "+e.Name(), ref, func(x *row) {
		x.host, x.want, x.wrote, x.rnd = hostErr(e), e, nil, nil
	})
}

const refEFAULT = "abi/README.md § Conventions: a pointer/length pair that is not wholly inside guest memory gives EFAULT and the host writes nothing"

// faults returns the EFAULT rows of one pointer parameter of the base call of
// sys: pointer at the end of memory, range past the end, pointer 0xFFFFFFFF,
// a range that wraps around 2^32, and a huge length (which gives huge instead
// of EFAULT where a size limit applies first). trace is what the Host sees
// (nil: nothing).
func faults(sys, param string, huge abi.Errno, trace []string) []row {
	return faultsFrom(r(sys, "", refEFAULT, nil), param, huge, trace)
}

func faultsFrom(b row, param string, huge abi.Errno, trace []string) []row {
	s := mustSyscall(b.sys)
	i := slices.Index(s.ParamNames, param)
	if i < 0 {
		panic(b.sys + " has no param " + param)
	}
	mk := func(name string, ptr, n uint64, want abi.Errno, hasLen bool) row {
		x := b
		x.name = param + ": " + name
		x.ref = refEFAULT
		x.args = slices.Clone(b.args)
		x.args[i] = ptr
		if hasLen {
			x.args[i+1] = n
		}
		x.want, x.trace, x.wrote, x.rnd = want, trace, nil, nil
		if want == abi.EFAULT {
			x.fault = param
		} else {
			x.trace = nil
		}
		return x
	}
	if size := outSize(b.sys, param); size > 0 {
		return []row{
			mk("pointer at memory end", memSize, 0, abi.EFAULT, false),
			mk("last bytes past the end", memSize-size+1, 0, abi.EFAULT, false),
			mk("pointer 0xFFFFFFFF", 0xFFFFFFFF, 0, abi.EFAULT, false),
			mk("range wraps around 2^32", 0x1_0000_0000-size+2, 0, abi.EFAULT, false),
		}
	}
	n := b.args[i+1]
	if n == 0 {
		panic(b.sys + ": base length of " + param + " is 0")
	}
	return []row{
		mk("pointer at memory end", memSize, n, abi.EFAULT, true),
		mk("length past the end", memSize-n+1, n, abi.EFAULT, true),
		mk("pointer 0xFFFFFFFF", 0xFFFFFFFF, n, abi.EFAULT, true),
		mk("range wraps around 2^32", 0xFFFFFFF0, 0x20, abi.EFAULT, true),
		mk("length 0xFFFFFFFF", b.args[i], 0xFFFFFFFF, huge, true),
	}
}

// outSize is the size of a fixed-size output parameter of sys (len_out,
// out, *_out), 0 for any other parameter.
func outSize(sys, param string) uint64 {
	switch {
	case param == "len_out":
		return 4
	case sys == abi.SysFSPut && param == "id_out":
		return abi.FSIDSize
	case sys == abi.SysFSStat && param == "out":
		return abi.FSStatSize
	case param == "out" || strings.HasSuffix(param, "_out"):
		return 8
	}
	return 0
}

// nameRows checks a name parameter (at args[0], args[1]) of the base call:
// empty, too long, invalid UTF-8, NUL, and the longest valid one. okTrace
// renders the Host call for a valid name.
func nameRows(sys string, max int, tooLong []int, okTrace func(name string) string) []row {
	const ref = "abi/README.md § bus: topic names are 1–255 bytes of UTF-8 without NUL; § Error codes: EINVAL — empty or non-UTF-8 name; ENAMETOOLONG — a topic, key or module name is too long"
	name := func(n string, want abi.Errno) row {
		return r(sys, fmt.Sprintf("name %q", clip([]byte(n))), ref, func(x *row) {
			x.mem = append(x.mem, in(pIn, n))
			x.args[0], x.args[1] = pIn, uint64(len(n))
			x.want = want
			if want == abi.OK {
				x.trace = tr(okTrace(n))
			} else {
				x.trace, x.wrote, x.rnd = nil, nil, nil
			}
		})
	}
	rows := []row{
		r(sys, "empty name", ref, func(x *row) {
			x.args[0], x.args[1], x.want, x.trace, x.wrote, x.rnd = pIn, 0, abi.EINVAL, nil, nil, nil
		}),
		r(sys, "empty name at 0xFFFFFFFF", ref, func(x *row) {
			x.args[0], x.args[1], x.want, x.trace, x.wrote, x.rnd = 0xFFFFFFFF, 0, abi.EINVAL, nil, nil, nil
		}),
		name(rep('n', max), abi.OK),
		name("été/Ω/日本", abi.OK),
		name("\xff\xfe", abi.EINVAL),
		name("ab\xc3", abi.EINVAL),         // truncated sequence
		name("a/\xed\xa0\x80", abi.EINVAL), // UTF-16 surrogate
		name("\xc0\xaf", abi.EINVAL),       // overlong
		name("a\x00b", abi.EINVAL),
		name("ab\x00", abi.EINVAL),
		name("\x00", abi.EINVAL),
	}
	for _, n := range tooLong {
		rows = append(rows, name(rep('n', n), abi.ENAMETOOLONG))
	}
	return rows
}

// ---- the runner ----

func runRows(t *testing.T, rows []row) {
	t.Helper()
	for _, cfg := range engines() {
		t.Run(cfg.name, func(te *testing.T) {
			g := newGuestConfig(te, cfg.cfg, guestPages)
			var big *guest
			for _, x := range rows {
				te.Run(x.sys+"/"+x.name, func(t *testing.T) {
					gg := g
					if x.big {
						if big == nil {
							big = newGuestConfig(te, cfg.cfg, mib4/65536+1)
						}
						gg = big
					}
					runRow(t, gg, x)
				})
			}
		})
	}
}

type engine struct {
	name string
	cfg  wazero.RuntimeConfig
}

func engines() []engine {
	return []engine{
		{"compiler", wazero.NewRuntimeConfig()},
		{"interpreter", wazero.NewRuntimeConfigInterpreter()},
	}
}

// The ways each row is run: through the wasm proxy; through it with garbage
// in the upper 32 bits of every i32 argument (wazero's Call takes uint64s);
// and through Invoke with that garbage. Only the low 32 bits of an i32 may
// count, so all three must behave alike.
var modes = []string{"wasm", "wasm+high-bits", "Invoke+high-bits"}

// garble sets the upper 32 bits of every i32 argument of sys.
func garble(sys string, args []uint64) []uint64 {
	highs := []uint64{0xDEADBEEF, 0xFFFFFFFF, 0x80000000, 0x00000001}
	s := mustSyscall(sys)
	out := slices.Clone(args)
	for i := range out {
		if i < len(s.Params) && s.Params[i] == abi.I32 {
			out[i] = uint64(uint32(out[i])) | highs[i%len(highs)]<<32
		}
	}
	return out
}

func runRow(t *testing.T, g *guest, x row) {
	t.Helper()
	if x.ref == "" {
		t.Fatal("row cites no README line")
	}
	touch(x.sys, x.want, x.fault)
	for _, m := range modes {
		h := newFake()
		if x.host != nil {
			x.host(h)
		}
		keptBefore := h.kept
		g.reset()
		g.put(t, x.mem)
		before := g.snapshot()
		var e abi.Errno
		switch m {
		case "wasm":
			e = g.call(t, WithHost(context.Background(), h), x.sys, x.args...)
		case "wasm+high-bits":
			e = g.call(t, WithHost(context.Background(), h), x.sys, garble(x.sys, x.args)...)
		default:
			e = Invoke(x.sys, h, g.mem, garble(x.sys, x.args))
		}
		if e != x.want {
			t.Errorf("[%s] %s%v = %s, want %s\n  checks: %s", m, x.sys, x.args, e.Name(), x.want.Name(), x.ref)
		}
		if got, want := strings.Join(h.trace, "\n"), strings.Join(x.trace, "\n"); got != want {
			t.Errorf("[%s] Host calls:\n  got:  %s\n  want: %s\n  checks: %s", m,
				strings.ReplaceAll(got, "\n", "\n        "), strings.ReplaceAll(want, "\n", "\n        "), x.ref)
		}
		want := bytes.Clone(before)
		for _, w := range x.wrote {
			copy(want[w.off:], w.b)
		}
		got := g.bytes()
		if x.rnd != nil {
			lo, hi := x.rnd[0], x.rnd[0]+x.rnd[1]
			if x.rnd[1] >= 8 && bytes.Equal(got[lo:hi], before[lo:hi]) {
				t.Errorf("[%s] random_fill left [%#x, %#x) unchanged", m, lo, hi)
			}
			copy(want[lo:hi], got[lo:hi])
		}
		if !bytes.Equal(want, got) {
			t.Errorf("[%s] guest memory after the call differs from the expected:%s\n  checks: %s", m, diffRanges(want, got), x.ref)
		}
		if x.want != abi.E2BIG && x.sys != abi.SysResultTake &&
			(h.kept.ok != keptBefore.ok || !bytes.Equal(h.kept.data, keptBefore.data)) {
			t.Errorf("[%s] kept result changed to %q (ok=%v) without E2BIG", m, clip(h.kept.data), h.kept.ok)
		}
		if x.check != nil {
			x.check(t, h, g)
		}
		if t.Failed() {
			return // one mode's failures are enough
		}
	}
}

// keptIs checks the result kept for result_take.
func keptIs(data string) func(*testing.T, *fakeHost, *guest) {
	return func(t *testing.T, h *fakeHost, _ *guest) {
		t.Helper()
		if !h.kept.ok || string(h.kept.data) != data {
			t.Errorf("kept = %q (ok=%v), want %q", clip(h.kept.data), h.kept.ok, clip([]byte(data)))
		}
	}
}

func keptNone(t *testing.T, h *fakeHost, _ *guest) {
	t.Helper()
	if h.kept.ok {
		t.Errorf("kept = %q, want nothing", clip(h.kept.data))
	}
}

// ---- core ----

func TestCore(t *testing.T) {
	const (
		rt   = abi.SysResultTake
		eb   = abi.SysEventBuffer
		sw   = abi.SysSnapshotWrite
		si   = abi.SysSelfInfo
		refT = "abi/README.md § result_take: Memory after OK: buf[0:len] = result, *len_out = len"
		refB = "abi/README.md § event_buffer: Errors: EINVAL — cap < 16 and not 0"
		refS = "abi/README.md § snapshot_write: Errors: ESTATE — not inside pk_snapshot; EMSGSIZE — the snapshot would exceed 4 MiB"
		refI = "abi/README.md § self_info: Memory after OK: buf[0:len] = JSON, *len_out = len"
		refC = "abi/README.md § Conventions: variable-length results: if it does not fit, the host writes the needed length at len_out, writes nothing at buf, keeps the result and returns E2BIG"
	)
	js := string(newFake().selfInfo)
	rows := []row{
		// result_take
		r(rt, "takes the kept result", refT, func(x *row) { x.check = keptNone }),
		r(rt, "exact fit", refT, func(x *row) { x.args[1] = 11; x.check = keptNone }),
		r(rt, "empty kept result", refT, func(x *row) {
			x.host, x.wrote, x.check = kept(""), []at{u32le(pLen, 0)}, keptNone
		}),
		r(rt, "nothing kept", "abi/README.md § result_take: Errors: ENOENT — nothing is kept", func(x *row) {
			x.host, x.want, x.wrote = nil, abi.ENOENT, nil
		}),
		r(rt, "still too small", "abi/README.md § result_take: E2BIG — still too small (len_out says how much; the result stays kept)", func(x *row) {
			x.args[1], x.want, x.wrote, x.check = 10, abi.E2BIG, []at{u32le(pLen, 11)}, keptIs("kept-result")
		}),
		r(rt, "cap 0 size query", "abi/README.md § result_take: E2BIG — still too small (len_out says how much; the result stays kept)", func(x *row) {
			x.args[0], x.args[1], x.want, x.wrote, x.check = 0xFFFFFFFF, 0, abi.E2BIG, []at{u32le(pLen, 11)}, keptIs("kept-result")
		}),
		r(rt, "len_out overlaps buf", refT, func(x *row) {
			x.args[2] = pBuf + 8
			x.wrote, x.check = []at{in(pBuf, "kept-res"), u32le(pBuf+8, 11)}, keptNone
		}),
		// event_buffer
		r(eb, "register", "abi/README.md § event_buffer: Registers a guest buffer; Memory after: unchanged", nil),
		r(eb, "cap 16", refB, func(x *row) { x.args[1], x.trace = 16, tr("SetEventBuffer(ptr=0x8000, cap=16)") }),
		r(eb, "whole memory", refB, func(x *row) {
			x.args[0], x.args[1], x.trace = 0, memSize, tr("SetEventBuffer(ptr=0x0, cap=65536)")
		}),
		r(eb, "cap 0 unregisters", "abi/README.md § event_buffer: cap 0 unregisters", func(x *row) {
			x.args[0], x.args[1], x.trace = 0, 0, tr("SetEventBuffer(ptr=0x0, cap=0)")
		}),
		r(eb, "cap 0 at 0xFFFFFFFF unregisters", "abi/README.md § event_buffer: cap 0 unregisters", func(x *row) {
			x.args[0], x.args[1], x.trace = 0xFFFFFFFF, 0, tr("SetEventBuffer(ptr=0xffffffff, cap=0)")
		}),
		r(eb, "cap 1", refB, func(x *row) { x.args[1], x.want, x.trace = 1, abi.EINVAL, nil }),
		r(eb, "cap 15", refB, func(x *row) { x.args[1], x.want, x.trace = 15, abi.EINVAL, nil }),
		r(eb, "cap 15 out of memory", refB, func(x *row) { x.args[0], x.args[1], x.want, x.trace = 0xFFFFFFFF, 15, abi.EINVAL, nil }),
		// snapshot_write
		r(sw, "append", "abi/README.md § snapshot_write: Appends len bytes to the snapshot being taken", nil),
		r(sw, "empty piece", "abi/README.md § snapshot_write: Appends len bytes to the snapshot being taken", func(x *row) {
			x.args[0], x.args[1], x.trace = 0xFFFFFFFF, 0, tr(`SnapshotWrite(p="")`)
		}),
		passthrough(sw, abi.ESTATE, refS),
		passthrough(sw, abi.EMSGSIZE, refS+" (the Host sums the pieces)"),
		r(sw, "piece > 4 MiB", refS, func(x *row) { x.args[1], x.want, x.trace = mib4+1, abi.EMSGSIZE, nil }),
		r(sw, "piece of exactly 4 MiB", refS, func(x *row) {
			x.big, x.args[0], x.args[1] = true, 0, mib4
			x.mem = nil
			x.trace = tr(`SnapshotWrite(p="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes))`)
		}),
		// self_info
		r(si, "fits", refI, nil),
		r(si, "exact fit", refI, func(x *row) { x.args[1] = uint64(len(js)) }),
		r(si, "too small", refC, func(x *row) {
			x.args[1], x.want, x.wrote, x.check = uint64(len(js)-1), abi.E2BIG, []at{u32le(pLen, uint32(len(js)))}, keptIs(js)
		}),
		r(si, "cap 0 size query", refC, func(x *row) {
			x.args[0], x.args[1], x.want, x.wrote, x.check = 0, 0, abi.E2BIG, []at{u32le(pLen, uint32(len(js)))}, keptIs(js)
		}),
		r(si, "E2BIG replaces the kept result", "abi/README.md § Conventions: a kept result lives until the next syscall that produces one", func(x *row) {
			x.host = kept("old")
			x.args[1], x.want, x.wrote, x.check = 4, abi.E2BIG, []at{u32le(pLen, uint32(len(js)))}, keptIs(js)
		}),
	}
	rows = append(rows, faults(rt, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(rt, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(eb, "ptr", abi.EFAULT, nil)...)
	rows = append(rows, faults(sw, "ptr", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(si, "buf", abi.EFAULT, tr("SelfInfo()"))...)
	rows = append(rows, faults(si, "len_out", abi.EFAULT, tr("SelfInfo()"))...)
	for i := range rows {
		if rows[i].sys == rt && rows[i].want == abi.EFAULT {
			rows[i].check = keptIs("kept-result") // "nothing was written": the result stays kept
		}
	}
	runRows(t, rows)
}

// ---- log, clock, random ----

func TestLogClockRandom(t *testing.T) {
	const (
		lg    = abi.SysLog
		ck    = abi.SysClockNow
		rf    = abi.SysRandomFill
		refL  = "abi/README.md § log: attrs is a length-prefixed list (u32 len, bytes, repeated) of alternating keys and values (attrs_len 0 for none)"
		refLE = "abi/README.md § log: Errors: EINVAL — attrs is not a well-formed list of key/value pairs"
		refLV = "abi/README.md § log: level is a log/slog level (-4 debug, 0 info, 4 warn, 8 error)"
		refLT = "abi/README.md § log: Messages longer than 16 KiB are truncated"
		refC  = "abi/README.md § clock_now: clock 0 = realtime (since the Unix epoch), 1 = monotonic (since the node started); Memory after OK: out[0:8] = u64 nanoseconds"
		refCE = "abi/README.md § clock_now: Errors: EINVAL — unknown clock"
		refR  = "abi/README.md § random_fill: Fills buf[0:len] with cryptographically secure random bytes"
		refRE = "abi/README.md § random_fill: Errors: EMSGSIZE — len > 4 MiB"
	)
	attrs := func(items ...string) []byte {
		var l [][]byte
		for _, s := range items {
			l = append(l, []byte(s))
		}
		return abi.AppendList(nil, l...)
	}
	withAttrs := func(name string, want abi.Errno, list []byte, trace ...string) row {
		ref := refL
		if want != abi.OK {
			ref = refLE
		}
		return r(lg, name, ref, func(x *row) {
			x.mem[1] = at{pIn2, list}
			x.args[4], x.want, x.trace = uint64(len(list)), want, trace
		})
	}
	kv := attrs("k", "v")
	long := func(n int) string { return rep('m', n) }
	rows := []row{
		r(lg, "info with one attr", refL, nil),
		r(lg, "level -4 (debug)", refLV, func(x *row) {
			x.args[0], x.trace = uint64(0xFFFFFFFC), tr(`Log(level=-4, msg="hello", attrs=["k"="v"])`)
		}),
		r(lg, "level 8 (error)", refLV, func(x *row) { x.args[0], x.trace = 8, tr(`Log(level=8, msg="hello", attrs=["k"="v"])`) }),
		r(lg, "level min int32", refLV, func(x *row) {
			x.args[0], x.trace = 0x80000000, tr(`Log(level=-2147483648, msg="hello", attrs=["k"="v"])`)
		}),
		r(lg, "no attrs", refL, func(x *row) { x.args[3], x.args[4], x.trace = 0, 0, tr(`Log(level=0, msg="hello", attrs=[])`) }),
		r(lg, "no attrs, pointer 0xFFFFFFFF", refL, func(x *row) {
			x.args[3], x.args[4], x.trace = 0xFFFFFFFF, 0, tr(`Log(level=0, msg="hello", attrs=[])`)
		}),
		r(lg, "empty message", refL, func(x *row) { x.args[1], x.args[2], x.trace = 0, 0, tr(`Log(level=0, msg="", attrs=["k"="v"])`) }),
		withAttrs("two pairs", abi.OK, attrs("a", "1", "b", "two"), `Log(level=0, msg="hello", attrs=["a"="1" "b"="two"])`),
		withAttrs("empty key and value", abi.OK, attrs("", ""), `Log(level=0, msg="hello", attrs=[""=""])`),
		withAttrs("one item (odd count)", abi.EINVAL, attrs("k")),
		withAttrs("three items (odd count)", abi.EINVAL, attrs("a", "1", "b")),
		withAttrs("item length past the list", abi.EINVAL, append(bytes.Clone(kv[:5]), 9, 0, 0, 0, 'v')),
		withAttrs("length prefix cut short", abi.EINVAL, append(bytes.Clone(kv), 1, 0)),
		withAttrs("item length 0xFFFFFFFF", abi.EINVAL, append(bytes.Clone(kv), 0xFF, 0xFF, 0xFF, 0xFF)),
		r(lg, "attrs_len cuts the last item", refLE, func(x *row) { x.args[4], x.want, x.trace = uint64(len(kv)-1), abi.EINVAL, nil }),
		r(lg, "message of exactly 16 KiB", refLT, func(x *row) {
			x.mem[0], x.args[2] = in(pIn2+0x100, long(abi.MaxLogLen)), abi.MaxLogLen
			x.args[1] = pIn2 + 0x100
			x.trace = tr(`Log(level=0, msg="mmmmmmmmmmmmmmmm"...(16384 bytes), attrs=["k"="v"])`)
		}),
		r(lg, "message of 16 KiB + 1 is truncated", refLT, func(x *row) {
			x.mem[0], x.args[2] = in(pIn2+0x100, long(abi.MaxLogLen+1)), abi.MaxLogLen+1
			x.args[1] = pIn2 + 0x100
			x.trace = tr(`Log(level=0, msg="mmmmmmmmmmmmmmmm"...(16384 bytes), attrs=["k"="v" "truncated"=true])`)
		}),
		r(lg, "message of 40000 bytes is truncated", refLT, func(x *row) {
			x.mem[0], x.args[2] = in(pIn2+0x100, long(40000)), 40000
			x.args[1] = pIn2 + 0x100
			x.trace = tr(`Log(level=0, msg="mmmmmmmmmmmmmmmm"...(16384 bytes), attrs=["k"="v" "truncated"=true])`)
			x.check = func(t *testing.T, h *fakeHost, _ *guest) {
				if h.lastLog.msg != long(abi.MaxLogLen) {
					t.Errorf("msg is %d bytes, want the first 16 KiB", len(h.lastLog.msg))
				}
			}
		}),
		r(lg, "long message, truncated and no attrs", refLT, func(x *row) {
			x.mem[0], x.args[2] = in(pIn2+0x100, long(20000)), 20000
			x.args[1], x.args[4] = pIn2+0x100, 0
			x.trace = tr(`Log(level=0, msg="mmmmmmmmmmmmmmmm"...(16384 bytes), attrs=["truncated"=true])`)
		}),
		r(lg, "long message whose range leaves memory", refEFAULT, func(x *row) {
			x.args[1], x.args[2], x.want, x.trace, x.fault = 0, memSize+1, abi.EFAULT, nil, "msg"
		}),
		// clock_now
		r(ck, "realtime", refC, func(x *row) { x.args[0], x.trace, x.wrote = abi.ClockRealtime, nil, []at{u64le(pSeq, realtime)} }),
		r(ck, "monotonic", refC, nil),
		r(ck, "unaligned out", refC, func(x *row) { x.args[1], x.wrote = pSeq+3, []at{u64le(pSeq+3, 42e9)} }),
		r(ck, "last 8 bytes of memory", refC, func(x *row) { x.args[1], x.wrote = memSize-8, []at{u64le(memSize-8, 42e9)} }),
		r(ck, "clock 2", refCE, func(x *row) { x.args[0], x.want, x.trace, x.wrote = 2, abi.EINVAL, nil, nil }),
		r(ck, "clock 0xFFFFFFFF", refCE, func(x *row) { x.args[0], x.want, x.trace, x.wrote = 0xFFFFFFFF, abi.EINVAL, nil, nil }),
		r(ck, "clock 0x80000000", refCE, func(x *row) { x.args[0], x.want, x.trace, x.wrote = 0x80000000, abi.EINVAL, nil, nil }),
		// random_fill
		r(rf, "32 bytes", refR, nil),
		r(rf, "whole memory", refR, func(x *row) { x.args[0], x.args[1], x.rnd = 0, memSize, &[2]uint32{0, memSize} }),
		r(rf, "len 0 at 0xFFFFFFFF", refR, func(x *row) { x.args[0], x.args[1], x.rnd = 0xFFFFFFFF, 0, nil }),
		r(rf, "exactly 4 MiB", refRE, func(x *row) { x.big, x.args[0], x.args[1], x.rnd = true, 0, mib4, &[2]uint32{0, mib4} }),
		r(rf, "4 MiB + 1", refRE, func(x *row) { x.args[1], x.want, x.rnd = mib4+1, abi.EMSGSIZE, nil }),
	}
	rows = append(rows, faults(lg, "msg", abi.EFAULT, nil)...)
	rows = append(rows, faults(lg, "attrs", abi.EFAULT, nil)...)
	rows = append(rows, faults(ck, "out", abi.EFAULT, tr("Monotonic()"))...)
	rows = append(rows, faultsFrom(r(ck, "realtime", refC, func(x *row) {
		x.args[0], x.trace, x.wrote = abi.ClockRealtime, nil, []at{u64le(pSeq, realtime)}
	}), "out", abi.EFAULT, nil)...)
	rows = append(rows, faults(rf, "buf", abi.EMSGSIZE, nil)...)
	runRows(t, rows)
}

// ---- bus ----

func TestBus(t *testing.T) {
	const (
		td    = abi.SysTopicDeclare
		pb    = abi.SysPublish
		sb    = abi.SysSubscribe
		us    = abi.SysUnsubscribe
		tg    = abi.SysTopicGet
		refD  = "abi/README.md § topic_declare: Errors: EINVAL — bad kind/scope/name; ENAMETOOLONG; EKIND — it exists with another kind or scope; ENOTSUP — cluster scope on a node without a cluster; EPERM — under sys/"
		refP  = "abi/README.md § publish: kind 0 uses the topic's kind; 1 or 2 also declares the topic with that kind"
		refPE = "abi/README.md § publish: Errors: EINVAL, ENAMETOOLONG, EMSGSIZE (> 4 MiB), EPERM (sys/), EKIND, EAGAIN, ESHUTDOWN"
		refS  = "abi/README.md § subscribe: Errors: EINVAL (bad flags or name), ENAMETOOLONG, ENOMEM (> 1024 subscriptions)"
		refU  = "abi/README.md § unsubscribe: Errors: EINVAL, ENOENT (no such subscription)"
		refG  = "abi/README.md § topic_get: Memory after OK: buf[0:len] = value, *len_out = len (u32), *seq_out = sequence number (u64)"
		refGE = "abi/README.md § topic_get: Errors: ENOENT (no such topic or no value yet), E2BIG, EINVAL, ENAMETOOLONG"
		refC  = "abi/README.md § Conventions: variable-length results: if it does not fit, the host writes the needed length at len_out, writes nothing at buf, keeps the result and returns E2BIG"
	)
	rows := []row{
		r(td, "queue, local", refD, nil),
		r(td, "latest, cluster", refD, func(x *row) {
			x.args[2], x.args[3], x.trace = abi.KindLatest, abi.ScopeCluster, tr(`TopicDeclare(topic="a/b", kind=2, scope=1)`)
		}),
		r(td, "kind 0", refD, func(x *row) { x.args[2], x.want, x.trace = 0, abi.EINVAL, nil }),
		r(td, "kind 3", refD, func(x *row) { x.args[2], x.want, x.trace = 3, abi.EINVAL, nil }),
		r(td, "kind 0xFFFFFFFF", refD, func(x *row) { x.args[2], x.want, x.trace = 0xFFFFFFFF, abi.EINVAL, nil }),
		r(td, "scope 2", refD, func(x *row) { x.args[3], x.want, x.trace = 2, abi.EINVAL, nil }),
		r(td, "scope 0xFFFFFFFF", refD, func(x *row) { x.args[3], x.want, x.trace = 0xFFFFFFFF, abi.EINVAL, nil }),
		passthrough(td, abi.EKIND, refD),
		passthrough(td, abi.ENOTSUP, refD),
		r(td, "under sys/", refD, func(x *row) {
			x.host, x.want = hostErr(abi.EPERM), abi.EPERM
			x.mem, x.args[1], x.trace = []at{in(pIn, "sys/x")}, 5, tr(`TopicDeclare(topic="sys/x", kind=1, scope=0)`)
		}),
		// publish
		r(pb, "kind 0", refP, nil),
		r(pb, "kind 1", refP, func(x *row) { x.args[4], x.trace = 1, tr(`Publish(topic="a/b", data="hi", kind=1)`) }),
		r(pb, "kind 2", refP, func(x *row) { x.args[4], x.trace = 2, tr(`Publish(topic="a/b", data="hi", kind=2)`) }),
		r(pb, "kind 3", refPE, func(x *row) { x.args[4], x.want, x.trace = 3, abi.EINVAL, nil }),
		r(pb, "kind 0xFFFFFFFF", refPE, func(x *row) { x.args[4], x.want, x.trace = 0xFFFFFFFF, abi.EINVAL, nil }),
		r(pb, "empty payload", refP, func(x *row) {
			x.args[2], x.args[3], x.trace = 0xFFFFFFFF, 0, tr(`Publish(topic="a/b", data="", kind=0)`)
		}),
		r(pb, "payload 4 MiB + 1", refPE, func(x *row) { x.args[3], x.want, x.trace = mib4+1, abi.EMSGSIZE, nil }),
		r(pb, "payload of exactly 4 MiB", refPE, func(x *row) {
			x.big, x.args[2], x.args[3] = true, 0x10000, mib4
			x.trace = tr(`Publish(topic="a/b", data="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes), kind=0)`)
		}),
		passthrough(pb, abi.EPERM, refPE),
		passthrough(pb, abi.EKIND, refPE),
		passthrough(pb, abi.EAGAIN, refPE),
		passthrough(pb, abi.ESHUTDOWN, refPE),
		// subscribe, unsubscribe
		r(sb, "prefix", refS, nil),
		r(sb, "exact", refS, func(x *row) { x.args[2], x.trace = 0, tr(`Subscribe(topic="a/b", flags=0)`) }),
		r(sb, "flags 2", refS, func(x *row) { x.args[2], x.want, x.trace = 2, abi.EINVAL, nil }),
		r(sb, "flags 3", refS, func(x *row) { x.args[2], x.want, x.trace = 3, abi.EINVAL, nil }),
		r(sb, "flags 0x80000000", refS, func(x *row) { x.args[2], x.want, x.trace = 0x80000000, abi.EINVAL, nil }),
		passthrough(sb, abi.ENOMEM, refS),
		r(us, "exact", refU, nil),
		r(us, "prefix", refU, func(x *row) { x.args[2], x.trace = 1, tr(`Unsubscribe(topic="a/b", flags=1)`) }),
		r(us, "flags 2", refU, func(x *row) { x.args[2], x.want, x.trace = 2, abi.EINVAL, nil }),
		r(us, "flags 0xFFFFFFFF", refU, func(x *row) { x.args[2], x.want, x.trace = 0xFFFFFFFF, abi.EINVAL, nil }),
		passthrough(us, abi.ENOENT, refU),
		// topic_get
		r(tg, "value", refG, nil),
		r(tg, "exact fit", refG, func(x *row) { x.args[3] = 2 }),
		r(tg, "empty value, cap 0", refG, func(x *row) {
			x.host = func(h *fakeHost) { h.topicVal = nil }
			x.args[2], x.args[3], x.wrote = 0xFFFFFFFF, 0, []at{u32le(pLen, 0), u64le(pSeq, 7)}
		}),
		r(tg, "too small", refC, func(x *row) {
			x.args[3], x.want, x.wrote, x.check = 1, abi.E2BIG, []at{u32le(pLen, 2), u64le(pSeq, 7)}, keptIs("v1")
		}),
		r(tg, "cap 0 size query", refC, func(x *row) {
			x.args[2], x.args[3], x.want, x.wrote, x.check = 0, 0, abi.E2BIG, []at{u32le(pLen, 2), u64le(pSeq, 7)}, keptIs("v1")
		}),
		passthrough(tg, abi.ENOENT, refGE),
	}
	rows = append(rows, nameRows(td, abi.MaxTopicLen, []int{256, 1000}, func(n string) string {
		return fmt.Sprintf("TopicDeclare(topic=%s, kind=1, scope=0)", q([]byte(n)))
	})...)
	rows = append(rows, nameRows(pb, abi.MaxTopicLen, []int{256}, func(n string) string {
		return fmt.Sprintf(`Publish(topic=%s, data="hi", kind=0)`, q([]byte(n)))
	})...)
	rows = append(rows, nameRows(sb, abi.MaxTopicLen, []int{256}, func(n string) string {
		return fmt.Sprintf("Subscribe(topic=%s, flags=1)", q([]byte(n)))
	})...)
	rows = append(rows, nameRows(us, abi.MaxTopicLen, []int{256}, func(n string) string {
		return fmt.Sprintf("Unsubscribe(topic=%s, flags=0)", q([]byte(n)))
	})...)
	rows = append(rows, nameRows(tg, abi.MaxTopicLen, []int{256}, func(n string) string {
		return fmt.Sprintf("TopicGet(topic=%s)", q([]byte(n)))
	})...)
	for _, s := range []string{td, pb, sb, us, tg} {
		rows = append(rows, faults(s, "topic", abi.ENAMETOOLONG, nil)...)
	}
	rows = append(rows, faults(pb, "data", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(tg, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(tg, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(tg, "seq_out", abi.EFAULT, nil)...)
	runRows(t, rows)
}

// ---- timer ----

func TestTimer(t *testing.T) {
	const (
		ts    = abi.SysTimerSet
		tc    = abi.SysTimerCancel
		refT  = "abi/README.md § timer_set: Memory after OK: id_out[0:8] = u64 timer id"
		refTM = "abi/README.md § timer_set: Values below 1 ms are raised to 1 ms"
		refTE = "abi/README.md § timer_set: Errors: EINVAL (negative values), ENOMEM (> 1024 live timers)"
		refC  = "abi/README.md § timer_cancel: Stops a timer; Errors: ENOENT (no such live timer)"
	)
	set := func(name, ref string, delay, period int64, trace string) row {
		return r(ts, name, ref, func(x *row) { x.args[0], x.args[1], x.trace = uint64(delay), uint64(period), tr(trace) })
	}
	bad := func(name string, delay, period int64) row {
		return r(ts, name, refTE, func(x *row) {
			x.args[0], x.args[1], x.want, x.trace, x.wrote = uint64(delay), uint64(period), abi.EINVAL, nil, nil
		})
	}
	rows := []row{
		r(ts, "one-shot 5 ms", refT, nil),
		set("periodic", refT, 3_600_000_000_000, 1_000_000_000, "TimerSet(delay=1h0m0s, period=1s)"),
		set("delay 0 raised to 1 ms", refTM, 0, 0, "TimerSet(delay=1ms, period=0s)"),
		set("delay 1 ns raised to 1 ms", refTM, 1, 0, "TimerSet(delay=1ms, period=0s)"),
		set("delay 999999 ns raised to 1 ms", refTM, 999_999, 0, "TimerSet(delay=1ms, period=0s)"),
		set("delay 1 ms kept", refTM, 1_000_000, 0, "TimerSet(delay=1ms, period=0s)"),
		set("delay 1 ms + 1 ns kept", refTM, 1_000_001, 0, "TimerSet(delay=1.000001ms, period=0s)"),
		set("period 1 ns raised to 1 ms", refTM, 5_000_000, 1, "TimerSet(delay=5ms, period=1ms)"),
		set("period 0 stays one-shot", "abi/README.md § timer_set: then (if period_ns > 0) every period_ns", 5_000_000, 0, "TimerSet(delay=5ms, period=0s)"),
		set("max delay", refT, 1<<63-1, 1<<63-1, "TimerSet(delay=2562047h47m16.854775807s, period=2562047h47m16.854775807s)"),
		r(ts, "unaligned id_out", refT, func(x *row) { x.args[2], x.wrote = pSeq+1, []at{u64le(pSeq+1, 9)} }),
		r(ts, "id_out in the last 8 bytes", refT, func(x *row) { x.args[2], x.wrote = memSize-8, []at{u64le(memSize-8, 9)} }),
		r(ts, "large id", refT, func(x *row) {
			x.host = func(h *fakeHost) { h.timerID = 1<<64 - 1 }
			x.wrote = []at{u64le(pSeq, 1<<64-1)}
		}),
		bad("delay -1", -1, 0),
		bad("period -1", 5_000_000, -1),
		bad("delay min int64", -1<<63, 0),
		bad("both negative", -5, -5),
		r(ts, "negative values are checked before id_out", refTE, func(x *row) {
			x.args[0], x.args[2], x.want, x.trace, x.wrote = uint64(1<<64-1), 0xFFFFFFFF, abi.EINVAL, nil, nil
		}),
		passthrough(ts, abi.ENOMEM, refTE),
		r(tc, "live timer", refC, nil),
		r(tc, "id 0", refC, func(x *row) { x.args[0], x.trace = 0, tr("TimerCancel(id=0)") }),
		r(tc, "id 2^64-1", refC, func(x *row) { x.args[0], x.trace = 1<<64-1, tr("TimerCancel(id=18446744073709551615)") }),
		r(tc, "id 2^32", refC, func(x *row) { x.args[0], x.trace = 1<<32, tr("TimerCancel(id=4294967296)") }),
		passthrough(tc, abi.ENOENT, refC),
	}
	rows = append(rows, faults(ts, "id_out", abi.EFAULT, nil)...)
	runRows(t, rows)
}

// ---- kv ----

func TestKV(t *testing.T) {
	const (
		kg    = abi.SysKVGet
		kp    = abi.SysKVPut
		kd    = abi.SysKVDelete
		kl    = abi.SysKVList
		refK  = "abi/README.md § Conventions: Limits: kv keys 1–1024 bytes"
		refG  = "abi/README.md § kv_get: Errors: ENOENT, E2BIG, EINVAL (empty key), ENAMETOOLONG (> 1024), EIO"
		refGM = "abi/README.md § kv_get: Memory after OK: buf[0:len] = value, *len_out = len"
		refP  = "abi/README.md § kv_put: Errors: EINVAL, ENAMETOOLONG, EMSGSIZE, EIO"
		refD  = "abi/README.md § kv_delete: Errors: EINVAL, ENAMETOOLONG, EIO; deleting a missing key is OK"
		refL  = "abi/README.md § kv_list: Lists the keys that start with prefix (empty = all); Memory after OK: buf[0:len] = u32 len, key repeated"
		refLE = "abi/README.md § kv_list: Errors: E2BIG, ENAMETOOLONG, EIO"
		refC  = "abi/README.md § Conventions: variable-length results: if it does not fit, the host writes the needed length at len_out, writes nothing at buf, keeps the result and returns E2BIG"
	)
	key := func(sys, name string, k string, want abi.Errno, trace ...string) row {
		return r(sys, name, refK, func(x *row) {
			x.mem = append(x.mem, in(pIn, k))
			x.args[0], x.args[1], x.want, x.trace = pIn, uint64(len(k)), want, trace
			if want != abi.OK {
				x.wrote = nil
			}
		})
	}
	k1024 := rep('k', abi.MaxKeyLen)
	list := abi.AppendList(nil, []byte("a"), []byte("bc"))
	rows := []row{
		// kv_get
		r(kg, "value", refGM, nil),
		r(kg, "exact fit", refGM, func(x *row) { x.args[3] = 5 }),
		r(kg, "empty value", refGM, func(x *row) {
			x.host = func(h *fakeHost) { h.kvVal = []byte{} }
			x.wrote = []at{u32le(pLen, 0)}
		}),
		r(kg, "too small", refC, func(x *row) {
			x.args[3], x.want, x.wrote, x.check = 4, abi.E2BIG, []at{u32le(pLen, 5)}, keptIs("value")
		}),
		r(kg, "value larger than memory", refC, func(x *row) {
			big := rep('v', 100_000)
			x.host = func(h *fakeHost) { h.kvVal = []byte(big) }
			x.want, x.wrote, x.check = abi.E2BIG, []at{u32le(pLen, 100_000)}, keptIs(big)
		}),
		key(kg, "binary key", "\x00\xff", abi.OK, `KVGet(key="\x00\xff")`),
		key(kg, "1024-byte key", k1024, abi.OK, fmt.Sprintf("KVGet(key=%s)", q([]byte(k1024)))),
		key(kg, "1025-byte key", k1024+"k", abi.ENAMETOOLONG),
		key(kg, "empty key", "", abi.EINVAL),
		passthrough(kg, abi.ENOENT, refG),
		passthrough(kg, abi.EIO, refG),
		// kv_put
		r(kp, "put", refP, nil),
		r(kp, "empty value", "abi/README.md § kv_put: Stores a value", func(x *row) {
			x.args[2], x.args[3], x.trace = 0xFFFFFFFF, 0, tr(`KVPut(key="k", val="")`)
			x.check = func(t *testing.T, h *fakeHost, _ *guest) {
				if h.kvPutV == nil {
					t.Error("KVPut got a nil value for an empty one")
				}
			}
		}),
		key(kp, "binary key", "\x00\xff", abi.OK, `KVPut(key="\x00\xff", val="v")`),
		key(kp, "1024-byte key", k1024, abi.OK, fmt.Sprintf(`KVPut(key=%s, val="v")`, q([]byte(k1024)))),
		key(kp, "1025-byte key", k1024+"k", abi.ENAMETOOLONG),
		key(kp, "empty key", "", abi.EINVAL),
		r(kp, "value 4 MiB + 1", refP, func(x *row) { x.args[3], x.want, x.trace = mib4+1, abi.EMSGSIZE, nil }),
		r(kp, "value of exactly 4 MiB", refP, func(x *row) {
			x.big, x.args[2], x.args[3] = true, 0x10000, mib4
			x.trace = tr(`KVPut(key="k", val="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes))`)
		}),
		passthrough(kp, abi.EIO, refP),
		// kv_delete
		r(kd, "delete", refD, nil),
		key(kd, "1024-byte key", k1024, abi.OK, fmt.Sprintf("KVDelete(key=%s)", q([]byte(k1024)))),
		key(kd, "1025-byte key", k1024+"k", abi.ENAMETOOLONG),
		key(kd, "empty key", "", abi.EINVAL),
		passthrough(kd, abi.EIO, refD),
		// kv_list
		r(kl, "two keys", refL, nil),
		r(kl, "exact fit", refL, func(x *row) { x.args[3] = uint64(len(list)) }),
		r(kl, "empty prefix lists all", refL, func(x *row) {
			x.args[0], x.args[1], x.trace = 0xFFFFFFFF, 0, tr(`KVList(prefix="")`)
		}),
		r(kl, "no keys", refL, func(x *row) {
			x.host = func(h *fakeHost) { h.kvKeys = nil }
			x.wrote = []at{u32le(pLen, 0)}
		}),
		r(kl, "empty key in the list", refL, func(x *row) {
			x.host = func(h *fakeHost) { h.kvKeys = [][]byte{{}, []byte("x")} }
			x.wrote = []at{in(pBuf, "\x00\x00\x00\x00\x01\x00\x00\x00x"), u32le(pLen, 9)}
		}),
		r(kl, "too small", refC, func(x *row) {
			x.args[3], x.want, x.wrote, x.check = uint64(len(list)-1), abi.E2BIG, []at{u32le(pLen, uint32(len(list)))}, keptIs(string(list))
		}),
		key(kl, "1024-byte prefix", k1024, abi.OK, fmt.Sprintf("KVList(prefix=%s)", q([]byte(k1024)))),
		key(kl, "1025-byte prefix", k1024+"k", abi.ENAMETOOLONG),
		passthrough(kl, abi.EIO, refLE),
	}
	rows = append(rows, faults(kg, "key", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(kg, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(kg, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(kp, "key", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(kp, "val", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(kd, "key", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(kl, "prefix", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(kl, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(kl, "len_out", abi.EFAULT, nil)...)
	runRows(t, rows)
}

// ---- call, node ----

func TestCallNode(t *testing.T) {
	const (
		cl    = abi.SysCall
		cr    = abi.SysCallReply
		ns    = abi.SysNodeStatus
		refC  = "abi/README.md § call: Memory after OK: buf[0:len] = reply, *len_out = len"
		refCE = "abi/README.md § call: Errors: ENOENT, EUNAVAILABLE, EDEADLK, ETIMEDOUT, ECALLFAILED, EMSGSIZE, E2BIG (reply kept for result_take), ENAMETOOLONG, ESHUTDOWN"
		refCT = "abi/README.md § call: timeout_ms ≤ 0 means the default (5 s) (the Host applies it)"
		refCN = "abi/README.md § Conventions: Limits: module names 1–64 bytes; § call: (Reserved: name@node for remote calls.)"
		refR  = "abi/README.md § call_reply: Sets the reply to the call being handled; Errors: ESTATE (not handling that call, or already replied), EMSGSIZE"
		refN  = "abi/README.md § node_status: Memory after OK: buf[0:len] = JSON, *len_out = len"
		refX  = "abi/README.md § Conventions: variable-length results: if it does not fit, the host writes the needed length at len_out, writes nothing at buf, keeps the result and returns E2BIG"
	)
	timeout := func(name string, ms uint64, shown string) row {
		return r(cl, name, refCT, func(x *row) {
			x.args[7], x.trace = ms, tr(`Call(module="echo", req="ping", timeout=`+shown+`)`)
		})
	}
	js := string(newFake().nodeStatus)
	rows := []row{
		r(cl, "reply", refC, nil),
		r(cl, "exact fit", refC, func(x *row) { x.args[5] = 4 }),
		r(cl, "empty request", refC, func(x *row) {
			x.args[2], x.args[3], x.trace = 0xFFFFFFFF, 0, tr(`Call(module="echo", req="", timeout=250ms)`)
		}),
		r(cl, "empty reply", refC, func(x *row) {
			x.host = func(h *fakeHost) { h.reply = nil }
			x.wrote = []at{u32le(pLen, 0)}
		}),
		r(cl, "reply too big", refX, func(x *row) {
			x.args[5], x.want, x.wrote, x.check = 3, abi.E2BIG, []at{u32le(pLen, 4)}, keptIs("pong")
		}),
		timeout("timeout 0 (default)", 0, "0s"),
		timeout("timeout -1 (default)", 0xFFFFFFFF, "-1ms"),
		timeout("timeout min int32", 0x80000000, "-596h31m23.648s"),
		timeout("timeout max int32", 0x7FFFFFFF, "596h31m23.647s"),
		r(cl, "request 4 MiB + 1", refCE, func(x *row) { x.args[3], x.want, x.trace, x.wrote = mib4+1, abi.EMSGSIZE, nil, nil }),
		r(cl, "request of exactly 4 MiB", refCE, func(x *row) {
			x.big, x.args[2], x.args[3] = true, 0x10000, mib4
			x.trace = tr(`Call(module="echo", req="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes), timeout=250ms)`)
		}),
		r(cl, "name@node reaches the Host", refCN, func(x *row) {
			n := rep('m', 64) + "@" + rep('n', 64)
			x.mem[0], x.args[1] = in(pIn, n), uint64(len(n))
			x.trace = tr(fmt.Sprintf(`Call(module=%s, req="ping", timeout=250ms)`, q([]byte(n))))
		}),
		passthrough(cl, abi.ENOENT, refCE),
		passthrough(cl, abi.EUNAVAILABLE, refCE),
		passthrough(cl, abi.EDEADLK, refCE),
		passthrough(cl, abi.ETIMEDOUT, refCE),
		passthrough(cl, abi.ECALLFAILED, refCE),
		passthrough(cl, abi.EMSGSIZE, refCE),
		passthrough(cl, abi.ESHUTDOWN, refCE),
		// call_reply
		r(cr, "reply", refR, nil),
		r(cr, "empty reply", refR, func(x *row) { x.args[1], x.args[2], x.trace = 0xFFFFFFFF, 0, tr(`CallReply(id=5, data="")`) }),
		r(cr, "id 2^64-1", refR, func(x *row) { x.args[0], x.trace = 1<<64-1, tr(`CallReply(id=18446744073709551615, data="ok")`) }),
		r(cr, "reply 4 MiB + 1", refR, func(x *row) { x.args[2], x.want, x.trace = mib4+1, abi.EMSGSIZE, nil }),
		r(cr, "reply of exactly 4 MiB", refR, func(x *row) {
			x.big, x.args[1], x.args[2] = true, 0x10000, mib4
			x.trace = tr(`CallReply(id=5, data="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes))`)
		}),
		passthrough(cr, abi.ESTATE, refR),
		// node_status
		r(ns, "fits", refN, nil),
		r(ns, "too small", refX, func(x *row) {
			x.args[1], x.want, x.wrote, x.check = 3, abi.E2BIG, []at{u32le(pLen, uint32(len(js)))}, keptIs(js)
		}),
		r(ns, "cap 0 size query", refX, func(x *row) {
			x.args[0], x.args[1], x.want, x.wrote, x.check = 0xFFFFFFFF, 0, abi.E2BIG, []at{u32le(pLen, uint32(len(js)))}, keptIs(js)
		}),
	}
	rows = append(rows, nameRows(cl, abi.MaxModuleName, []int{2*abi.MaxModuleName + 2, 256}, func(n string) string {
		return fmt.Sprintf(`Call(module=%s, req="ping", timeout=250ms)`, q([]byte(n)))
	})...)
	rows = append(rows, faults(cl, "module", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(cl, "req", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(cl, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(cl, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(cr, "data", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(ns, "buf", abi.EFAULT, tr("NodeStatus()"))...)
	rows = append(rows, faults(ns, "len_out", abi.EFAULT, tr("NodeStatus()"))...)
	runRows(t, rows)
}

// ---- fs ----

func TestFS(t *testing.T) {
	const (
		fp    = abi.SysFSPut
		fr    = abi.SysFSRead
		fst   = abi.SysFSStat
		fl    = abi.SysFSList
		fm    = abi.SysFSRemove
		refP  = "abi/README.md § fs_put: Memory after OK: id_out[0:32] = the content id"
		refPE = "abi/README.md § fs_put: Errors: EINVAL, ENAMETOOLONG — > 4096 bytes; EMSGSIZE — data_len > 4 MiB; EUNAVAILABLE; ETIMEDOUT; ENOTSUP; EIO"
		refR  = "abi/README.md § fs_read: Reads up to min(cap, 4 MiB) bytes of the file ref from byte offset: fewer only at the end of the file, 0 at or past it"
		refRE = "abi/README.md § fs_read: Errors: EINVAL — bad ref or negative offset; ENAMETOOLONG; ENOENT; EUNAVAILABLE; ETIMEDOUT; ENOTSUP; EIO"
		refS  = "abi/README.md § fs_stat: Memory after OK: out[0:56] = u64 size, id[32], i64 time_unix_ns, u32 versions, u32 0"
		refSE = "abi/README.md § fs_stat: Errors: EINVAL, ENAMETOOLONG, ENOENT, EUNAVAILABLE, ETIMEDOUT, ENOTSUP, EIO"
		refL  = "abi/README.md § fs_list: Lists the live names in shared that start with prefix (empty = all), sorted, as a length-prefixed list"
		refLE = "abi/README.md § fs_list: Errors: E2BIG, ENAMETOOLONG (> 4096), EUNAVAILABLE, ENOTSUP"
		refM  = "abi/README.md § fs_remove: Errors: EINVAL, ENAMETOOLONG, ENOENT, EUNAVAILABLE, ETIMEDOUT, ENOTSUP, EIO"
		refC  = "abi/README.md § Conventions: variable-length results: if it does not fit, the host writes the needed length at len_out, writes nothing at buf, keeps the result and returns E2BIG"
	)
	st := abi.AppendFSStat(nil, newFake().fsStat)
	list := abi.AppendList(nil, []byte("a"), []byte("bc"))
	p4096 := rep('p', abi.MaxFSName)
	read := func(name string, off uint64, cap uint64, trace string, got string) row {
		return r(fr, name, refR, func(x *row) {
			x.args[2], x.args[4], x.trace = off, cap, tr(trace)
			x.wrote = []at{u32le(pLen, uint32(len(got)))}
			if got != "" {
				x.wrote = append(x.wrote, in(pBuf, got))
			}
		})
	}
	rows := []row{
		// fs_put
		r(fp, "put", refP, nil),
		r(fp, "empty file", refP, func(x *row) {
			x.args[2], x.args[3], x.trace = 0xFFFFFFFF, 0, tr(`FSPut(name="f", data="")`)
			x.check = func(t *testing.T, h *fakeHost, _ *guest) {
				if h.held["FSPut"] == nil {
					t.Error("FSPut got a nil slice for empty data")
				}
			}
		}),
		r(fp, "unaligned id_out", refP, func(x *row) { x.args[4], x.wrote = pSeq+3, []at{{pSeq + 3, fakeFSID[:]}} }),
		r(fp, "id_out in the last 32 bytes", refP, func(x *row) { x.args[4], x.wrote = memSize-32, []at{{memSize - 32, fakeFSID[:]}} }),
		r(fp, "data 4 MiB + 1", refPE, func(x *row) { x.args[3], x.want, x.trace, x.wrote = mib4+1, abi.EMSGSIZE, nil, nil }),
		r(fp, "data of exactly 4 MiB", refPE, func(x *row) {
			x.big, x.args[2], x.args[3] = true, 0x10000, mib4
			x.trace = tr(`FSPut(name="f", data="\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"...(4194304 bytes))`)
		}),
		r(fp, "id_out is checked before the put", refEFAULT, func(x *row) {
			x.args[4], x.want, x.trace, x.wrote, x.fault = memSize-31, abi.EFAULT, nil, nil, "id_out"
		}),
		passthrough(fp, abi.EINVAL, refPE+" (the Host checks segments and 64-hex names)"),
		passthrough(fp, abi.EUNAVAILABLE, refPE),
		passthrough(fp, abi.ETIMEDOUT, refPE),
		passthrough(fp, abi.ENOTSUP, refPE),
		passthrough(fp, abi.EIO, refPE),
		// fs_read
		r(fr, "whole file", refR, nil),
		read("from an offset", 4, 64, `FSRead(ref="f", off=4, n=64)`, "-bytes"),
		read("short cap is a short read, not E2BIG", 0, 4, `FSRead(ref="f", off=0, n=4)`, "file"),
		read("at the end", 10, 64, `FSRead(ref="f", off=10, n=64)`, ""),
		read("past the end", 1000, 64, `FSRead(ref="f", off=1000, n=64)`, ""),
		read("offset 2^63-1", 1<<63-1, 64, `FSRead(ref="f", off=9223372036854775807, n=64)`, ""),
		r(fr, "cap 0", refR, func(x *row) {
			x.args[3], x.args[4], x.trace, x.wrote = 0xFFFFFFFF, 0, tr(`FSRead(ref="f", off=0, n=0)`), []at{u32le(pLen, 0)}
		}),
		r(fr, "cap above 4 MiB asks for 4 MiB", refR, func(x *row) {
			x.big, x.args[3], x.args[4] = true, 0x1000, mib4+1
			x.trace = tr(`FSRead(ref="f", off=0, n=4194304)`)
			x.wrote = []at{in(0x1000, "file-bytes"), u32le(pLen, 10)}
		}),
		r(fr, "offset -1", refRE, func(x *row) { x.args[2], x.want, x.trace, x.wrote = 1<<64-1, abi.EINVAL, nil, nil }),
		r(fr, "offset min int64", refRE, func(x *row) { x.args[2], x.want, x.trace, x.wrote = 1<<63, abi.EINVAL, nil, nil }),
		r(fr, "a Host returning more than asked", "abi/README.md § fs_read: Errors: EIO (the guest's buffer is never overrun)", func(x *row) {
			x.host = func(h *fakeHost) { h.fsOverRead = true }
			x.want, x.wrote = abi.EIO, nil
		}),
		passthrough(fr, abi.ENOENT, refRE),
		passthrough(fr, abi.EINVAL, refRE+" (the Host checks segments)"),
		passthrough(fr, abi.EUNAVAILABLE, refRE),
		passthrough(fr, abi.ETIMEDOUT, refRE),
		passthrough(fr, abi.ENOTSUP, refRE),
		passthrough(fr, abi.EIO, refRE),
		// fs_stat
		r(fst, "stat", refS, nil),
		r(fst, "unaligned out", refS, func(x *row) { x.args[2], x.wrote = pSeq+3, []at{{pSeq + 3, st}} }),
		r(fst, "out in the last 56 bytes", refS, func(x *row) { x.args[2], x.wrote = memSize-56, []at{{memSize - 56, st}} }),
		r(fst, "out is checked before the stat", refEFAULT, func(x *row) {
			x.args[2], x.want, x.trace, x.wrote, x.fault = memSize-55, abi.EFAULT, nil, nil, "out"
		}),
		passthrough(fst, abi.ENOENT, refSE),
		passthrough(fst, abi.EINVAL, refSE),
		passthrough(fst, abi.EUNAVAILABLE, refSE),
		passthrough(fst, abi.ETIMEDOUT, refSE),
		passthrough(fst, abi.ENOTSUP, refSE),
		passthrough(fst, abi.EIO, refSE),
		// fs_list
		r(fl, "two names", refL, nil),
		r(fl, "exact fit", refL, func(x *row) { x.args[3] = uint64(len(list)) }),
		r(fl, "empty prefix lists all", refL, func(x *row) {
			x.args[0], x.args[1], x.trace = 0xFFFFFFFF, 0, tr(`FSList(prefix="")`)
		}),
		r(fl, "no names", refL, func(x *row) {
			x.host = func(h *fakeHost) { h.fsNames = nil }
			x.wrote = []at{u32le(pLen, 0)}
		}),
		r(fl, "too small", refC, func(x *row) {
			x.args[3], x.want, x.wrote, x.check = uint64(len(list)-1), abi.E2BIG, []at{u32le(pLen, uint32(len(list)))}, keptIs(string(list))
		}),
		r(fl, "4096-byte prefix", refLE, func(x *row) {
			x.mem[0], x.args[1], x.trace = in(pIn, p4096), abi.MaxFSName, tr(fmt.Sprintf("FSList(prefix=%s)", q([]byte(p4096))))
		}),
		r(fl, "4097-byte prefix", refLE, func(x *row) {
			x.mem[0], x.args[1], x.want, x.trace, x.wrote = in(pIn, p4096+"p"), abi.MaxFSName+1, abi.ENAMETOOLONG, nil, nil
		}),
		passthrough(fl, abi.EUNAVAILABLE, refLE),
		passthrough(fl, abi.ENOTSUP, refLE),
		// fs_remove
		r(fm, "remove", refM, nil),
		passthrough(fm, abi.EINVAL, refM),
		passthrough(fm, abi.ENOENT, refM),
		passthrough(fm, abi.EUNAVAILABLE, refM),
		passthrough(fm, abi.ETIMEDOUT, refM),
		passthrough(fm, abi.ENOTSUP, refM),
		passthrough(fm, abi.EIO, refM),
	}
	tooLong := []int{abi.MaxFSName + 1, 5000}
	rows = append(rows, nameRows(fp, abi.MaxFSName, tooLong, func(n string) string {
		return fmt.Sprintf(`FSPut(name=%s, data="hi")`, q([]byte(n)))
	})...)
	rows = append(rows, nameRows(fr, abi.MaxFSName, tooLong, func(n string) string {
		return fmt.Sprintf(`FSRead(ref=%s, off=0, n=64)`, q([]byte(n)))
	})...)
	rows = append(rows, nameRows(fst, abi.MaxFSName, tooLong, func(n string) string {
		return fmt.Sprintf(`FSStat(ref=%s)`, q([]byte(n)))
	})...)
	rows = append(rows, nameRows(fm, abi.MaxFSName, tooLong, func(n string) string {
		return fmt.Sprintf(`FSRemove(name=%s)`, q([]byte(n)))
	})...)
	rows = append(rows, faults(fp, "name", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(fp, "data", abi.EMSGSIZE, nil)...)
	rows = append(rows, faults(fp, "id_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(fr, "ref", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(fr, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(fr, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(fst, "ref", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(fst, "out", abi.EFAULT, nil)...)
	rows = append(rows, faults(fl, "prefix", abi.ENAMETOOLONG, nil)...)
	rows = append(rows, faults(fl, "buf", abi.EFAULT, nil)...)
	rows = append(rows, faults(fl, "len_out", abi.EFAULT, nil)...)
	rows = append(rows, faults(fm, "name", abi.ENAMETOOLONG, nil)...)
	runRows(t, rows)
}
