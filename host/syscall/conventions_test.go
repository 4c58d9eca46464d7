package syscall

// Cross-cutting checks of abi/README.md § Conventions and of the package
// contract (doc.go), run over the base call of every syscall.

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/abi"
)

// hostMethod is the Host method the base call of sys reaches (Kept for
// result_take), taken from its golden trace; "" if none.
func hostMethod(sys string) string {
	b := base(sys)
	if len(b.trace) == 0 {
		if sys == abi.SysResultTake {
			return "Kept"
		}
		return ""
	}
	return b.trace[0][:strings.IndexByte(b.trace[0], '(')]
}

// errnoMethods are the Host methods that return an Errno.
var errnoMethods = map[string]bool{
	"SetEventBuffer": true, "SnapshotWrite": true, "TopicDeclare": true, "Publish": true,
	"Subscribe": true, "Unsubscribe": true, "TopicGet": true, "TimerSet": true, "TimerCancel": true,
	"KVGet": true, "KVPut": true, "KVDelete": true, "KVList": true, "Call": true, "CallReply": true,
	"FSPut": true, "FSRead": true, "FSStat": true, "FSList": true, "FSRemove": true,
}

// runBase runs the base call of sys (changed by f) on g and returns the
// errno, the fake and the memory before the call.
func runBase(t *testing.T, g *guest, ctx func(*fakeHost) context.Context, sys string, f func(*fakeHost)) (abi.Errno, *fakeHost, []byte) {
	t.Helper()
	b := base(sys)
	h := newFake()
	if b.host != nil {
		b.host(h)
	}
	if f != nil {
		f(h)
	}
	g.reset()
	g.put(t, b.mem)
	before := g.snapshot()
	return g.call(t, ctx(h), sys, b.args...), h, before
}

func withHost(h *fakeHost) context.Context { return WithHost(context.Background(), h) }

func unchanged(t *testing.T, g *guest, before []byte, what string) {
	t.Helper()
	if got := g.bytes(); !bytes.Equal(before, got) {
		t.Errorf("%s: guest memory changed:%s", what, diffRanges(before, got))
	}
}

// abi/README.md § Error codes: ESTATE — not valid now. A guest calling a
// syscall outside a call made with WithHost (no instance to act on) gets
// ESTATE, and nothing is written.
func TestNoHostESTATE(t *testing.T) {
	g := newGuest(t)
	for _, s := range abi.Syscalls() {
		e, h, before := runBase(t, g, func(*fakeHost) context.Context { return context.Background() }, s.Name, nil)
		if e != abi.ESTATE {
			t.Errorf("%s without a Host = %s, want ESTATE", s.Name, e.Name())
		}
		if len(h.trace) != 0 || h.keptCalls != 0 {
			t.Errorf("%s: the fake was reached: %v", s.Name, h.trace)
		}
		unchanged(t, g, before, s.Name)
	}
	// A context holding something else under another key is no Host either.
	ctx := context.WithValue(context.Background(), struct{}{}, newFake())
	if e := g.call(t, ctx, abi.SysTimerCancel, 1); e != abi.ESTATE {
		t.Errorf("timer_cancel with a foreign context value = %s, want ESTATE", e.Name())
	}
}

// Every Errno a Host method returns is passed to the guest unchanged, after
// the same one Host call, and nothing is written (abi/README.md: the errors of
// each syscall beyond argument checks come from the Host; § Error codes).
func TestHostErrnoPassthrough(t *testing.T) {
	g := newGuest(t)
	n := 0
	for _, s := range abi.Syscalls() {
		m := hostMethod(s.Name)
		if !errnoMethods[m] {
			continue
		}
		n++
		for _, want := range abi.Errnos()[1:] {
			e, h, before := runBase(t, g, withHost, s.Name, func(h *fakeHost) { h.errno = want })
			if e != want {
				t.Errorf("%s with the Host returning %s = %s", s.Name, want.Name(), e.Name())
			}
			if got := strings.Join(h.trace, "\n"); got != strings.Join(base(s.Name).trace, "\n") {
				t.Errorf("%s: Host calls %q, want %q", s.Name, h.trace, base(s.Name).trace)
			}
			if h.kept.ok {
				t.Errorf("%s: a result was kept after the Host failed with %s", s.Name, want.Name())
			}
			unchanged(t, g, before, s.Name+" host "+want.Name())
		}
	}
	if n != len(errnoMethods) {
		t.Errorf("%d syscalls reach an Errno-returning Host method, want %d", n, len(errnoMethods))
	}
}

// doc.go: a panic in the Host is turned into EIO for the guest rather than
// taking the node down, and the Host hears of it through its log. Nothing is
// written.
func TestHostPanicEIO(t *testing.T) {
	const logged = `Log(level=8, msg="syscall panicked (host bug)", attrs=[])`
	for _, cfg := range engines() {
		t.Run(cfg.name, func(t *testing.T) {
			g := newGuestConfig(t, cfg.cfg, guestPages)
			for _, s := range abi.Syscalls() {
				m := hostMethod(s.Name)
				if m == "" {
					continue // random_fill, clock_now(0) reach no Host method
				}
				for _, panicOn := range []string{m, "*"} {
					e, h, before := runBase(t, g, withHost, s.Name, func(h *fakeHost) { h.panicOn = panicOn })
					if e != abi.EIO {
						t.Errorf("%s with %s panicking = %s, want EIO", s.Name, panicOn, e.Name())
					}
					unchanged(t, g, before, s.Name+" panicking")
					if len(h.trace) == 0 || !strings.HasSuffix(h.trace[0], " PANIC") {
						t.Errorf("%s: trace %q does not start with the panic", s.Name, h.trace)
					}
					want := logged
					if panicOn == "*" || m == "Log" {
						want += " PANIC" // the log of the panic panics too: still EIO
					}
					if last := h.trace[len(h.trace)-1]; last != want {
						t.Errorf("%s (%s panics): last Host call %q, want %q", s.Name, panicOn, last, want)
					}
				}
			}
			// Kept panicking on a syscall whose result fits.
			e, _, before := runBase(t, g, withHost, abi.SysKVGet, func(h *fakeHost) { h.panicOn = "Kept" })
			if e != abi.EIO {
				t.Errorf("kv_get with Kept panicking = %s, want EIO", e.Name())
			}
			unchanged(t, g, before, "kv_get with Kept panicking")
		})
	}
}

// Invoke runs a syscall exactly as a guest call would (module.go).
func TestInvoke(t *testing.T) {
	g := newGuest(t)
	h := newFake()
	if e := Invoke("no_such_syscall", h, g.mem, nil); e != abi.EINVAL {
		t.Errorf("Invoke(unknown) = %s, want EINVAL", e.Name())
	}
	if e := Invoke(abi.SysKVPut, h, nil, a(pIn, 1, pIn2, 1)); e != abi.EFAULT {
		t.Errorf("Invoke with no memory = %s, want EFAULT", e.Name())
	}
	if len(h.trace) != 0 {
		t.Errorf("Host reached: %q", h.trace)
	}
	// Like a guest call with no Host in its context.
	for _, s := range abi.Syscalls() {
		b := base(s.Name)
		g.reset()
		g.put(t, b.mem)
		before := g.snapshot()
		if e := Invoke(s.Name, nil, g.mem, b.args); e != abi.ESTATE {
			t.Errorf("Invoke(%s) with a nil Host = %s, want ESTATE", s.Name, e.Name())
		}
		unchanged(t, g, before, s.Name+" with a nil Host")
	}
	// Missing arguments are zero, extra ones ignored.
	h = newFake()
	if e := Invoke(abi.SysTimerCancel, h, g.mem, nil); e != abi.OK || strings.Join(h.trace, ";") != "TimerCancel(id=0)" {
		t.Errorf("Invoke(timer_cancel) with no args = %s, %q", e.Name(), h.trace)
	}
	h = newFake()
	if e := Invoke(abi.SysTimerCancel, h, g.mem, a(3, 4, 5)); e != abi.OK || strings.Join(h.trace, ";") != "TimerCancel(id=3)" {
		t.Errorf("Invoke(timer_cancel) with extra args = %s, %q", e.Name(), h.trace)
	}
}

// A guest without a memory cannot pass a valid pointer: every syscall that
// touches guest memory gives EFAULT, and none panics (the runtime refuses such
// modules at load; this is the host side's own guard).
func TestNoMemory(t *testing.T) {
	g := newGuestConfig(t, engines()[0].cfg, 0)
	for _, s := range abi.Syscalls() {
		h := newFake()
		b := base(s.Name)
		if b.host != nil {
			b.host(h)
		}
		e := g.call(t, withHost(h), s.Name, b.args...)
		if e != abi.EFAULT {
			t.Errorf("%s without memory = %s (Host calls %q), want EFAULT", s.Name, e.Name(), h.trace)
		}
	}
}

// abi/README.md § Conventions, variable-length results, end to end through
// wasm: E2BIG writes the length and keeps the result, the operation is not
// repeated, result_take fetches it once, then ENOENT.
func TestE2BIGFlow(t *testing.T) {
	g := newGuest(t)
	for _, sys := range []string{abi.SysSelfInfo, abi.SysTopicGet, abi.SysKVGet, abi.SysKVList, abi.SysCall, abi.SysNodeStatus, abi.SysFSList} {
		t.Run(sys, func(t *testing.T) {
			h := newFake()
			b := base(sys)
			want := string(b.wrote[0].b) // the base result
			n := uint32(len(want))
			capIdx := map[string]int{abi.SysSelfInfo: 1, abi.SysNodeStatus: 1, abi.SysTopicGet: 3,
				abi.SysKVGet: 3, abi.SysKVList: 3, abi.SysCall: 5, abi.SysFSList: 3}[sys]
			args := b.args
			args[capIdx] = 1
			g.reset()
			g.put(t, b.mem)
			ctx := withHost(h)

			var beforeStep []byte
			step := func(what string, e, wantE abi.Errno, wrote ...at) {
				t.Helper()
				if e != wantE {
					t.Fatalf("%s = %s, want %s", what, e.Name(), wantE.Name())
				}
				exp := bytes.Clone(beforeStep)
				for _, w := range wrote {
					copy(exp[w.off:], w.b)
				}
				if got := g.bytes(); !bytes.Equal(exp, got) {
					t.Fatalf("%s: memory:%s", what, diffRanges(exp, got))
				}
			}
			beforeStep = g.snapshot()
			wrote := []at{u32le(pLen, n)}
			if sys == abi.SysTopicGet {
				wrote = append(wrote, u64le(pSeq, 7))
			}
			step(sys+" with cap 1", g.call(t, ctx, sys, args...), abi.E2BIG, wrote...)

			beforeStep = g.snapshot()
			step("result_take one byte short", g.call(t, ctx, abi.SysResultTake, 0x4000, uint64(n-1), pLen), abi.E2BIG, u32le(pLen, n))

			beforeStep = g.snapshot()
			step("result_take with a bad len_out", g.call(t, ctx, abi.SysResultTake, 0x4000, uint64(n), memSize-2), abi.EFAULT)

			beforeStep = g.snapshot()
			step("result_take", g.call(t, ctx, abi.SysResultTake, 0x4000, uint64(n), pLen+4), abi.OK, in(0x4000, want), u32le(pLen+4, n))

			beforeStep = g.snapshot()
			step("second result_take", g.call(t, ctx, abi.SysResultTake, 0x4000, 1<<16-0x4000, pLen+4), abi.ENOENT)

			if len(h.trace) != 1 || h.trace[0] != b.trace[0] {
				t.Errorf("Host calls %q, want the operation once: %q", h.trace, b.trace)
			}
		})
	}
}

// doc.go: this package copies whatever the Host may keep (published
// payloads, call requests and replies). The fake keeps the slices it was
// given; rewriting guest memory afterwards must not change them.
func TestHostMayKeepCopies(t *testing.T) {
	g := newGuest(t)
	for _, c := range []struct{ sys, method, want string }{
		{abi.SysPublish, "Publish", "hi"},
		{abi.SysCall, "Call", "ping"},
		{abi.SysCallReply, "CallReply", "ok"},
		{abi.SysFSPut, "FSPut", "hi"},
	} {
		e, h, _ := runBase(t, g, withHost, c.sys, nil)
		if e != abi.OK {
			t.Fatalf("%s = %s", c.sys, e.Name())
		}
		g.reset()
		if got := string(h.held[c.method]); got != c.want {
			t.Errorf("%s: the slice the Host kept changed with guest memory: %q, want %q", c.sys, got, c.want)
		}
	}
}
