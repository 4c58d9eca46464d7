package polyglot_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// langs are the guests under examples/polyglot, each built into
// testdata/<lang>.wasm by build.sh.
var langs = []string{"c", "wat", "assemblyscript", "zig", "rust"}

// fixtureDir is testdata, or $POLYGLOT_FIXTURES: check-rebuild.sh points it at
// freshly rebuilt modules to check that they behave like the committed ones.
func fixtureDir() string {
	if d := os.Getenv("POLYGLOT_FIXTURES"); d != "" {
		return d
	}
	return "testdata"
}

// TestGuests loads every fixture into wazero against a fake "pk" host module
// and drives it through the behaviour described in doc.go. A missing fixture
// fails the test.
func TestGuests(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			path := filepath.Join(fixtureDir(), lang+".wasm")
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("fixture: %v (rebuild with examples/polyglot/build.sh)", err)
			}
			t.Logf("%s: %d bytes", path, len(wasm))
			testGuest(t, lang, wasm)
		})
	}
}

func testGuest(t *testing.T, lang string, wasm []byte) {
	ctx := t.Context()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	host := newFakePK()
	if err := host.instantiate(ctx, r); err != nil {
		t.Fatal(err)
	}
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	checkImports(t, cm)
	checkExports(t, cm)

	in, out := "poly/"+lang+"/in", "poly/"+lang+"/out"
	hello := abi.AppendMessage(nil, 1, 0, in, []byte("hello"))

	// First instance: start, one message, the other kinds, bad events, snapshot.
	a := host.start(t, ctx, r, cm, "a")
	if got, want := a.ev.cap, uint32(65536); got != want {
		t.Errorf("event_buffer cap = %d, want %d", got, want)
	}
	if want := []string{in + " flags=0"}; !slices.Equal(a.subs, want) {
		t.Errorf("subscriptions = %q, want %q", a.subs, want)
	}
	if want := []string{"level=0 msg=ready attrs=0"}; !slices.Equal(a.logs, want) {
		t.Errorf("logs = %q, want %q", a.logs, want)
	}
	a.wantEvent(abi.EventMessage, hello, false, abi.OK)
	a.wantPublished(out + " kind=0 " + lang + ":hello:1")
	a.wantEvent(abi.EventTimer, abi.AppendTimer(nil, 7, 1e18), false, abi.OK)
	a.wantEvent(abi.EventLifecycle, abi.AppendLifecycle(nil, abi.LifeStarted, abi.ReasonFresh), false, abi.OK)
	a.wantEvent(abi.EventMember, nil, false, abi.OK)
	a.wantEvent(99, []byte("?"), false, abi.OK)
	a.wantEvent(abi.EventMessage, hello[:abi.MessageHeaderSize-1], false, abi.EINVAL)
	badTopicLen := slices.Clone(hello)
	abi.PutLE32(badTopicLen[12:], uint32(len(hello)))
	a.wantEvent(abi.EventMessage, badTopicLen, false, abi.EINVAL)
	a.wantEvent(abi.EventCall, make([]byte, abi.CallHeaderSize-1), false, abi.EINVAL)
	a.wantPublished() // none of the above published anything
	a.wantCall(1, "1")
	if got := a.snapshot(); !bytes.Equal(got, []byte{1, 0, 0, 0}) {
		t.Errorf("snapshot = % x, want 01 00 00 00", got)
	}

	// Second instance: restore from the snapshot; events through pk_alloc.
	b := host.start(t, ctx, r, cm, "b")
	if e := b.restore([]byte{1, 0, 0}); e != abi.EINVAL {
		t.Errorf("pk_restore(3 bytes) = %v, want EINVAL", e)
	}
	if e := b.restore(a.snap); e != abi.OK {
		t.Fatalf("pk_restore(snapshot) = %v", e)
	}
	b.wantEvent(abi.EventMessage, hello, true, abi.OK)
	b.wantPublished(out + " kind=0 " + lang + ":hello:2")
	b.wantCall(0xfedcba9876543210, "2") // the high bit of the i64 survives
	if p := b.call("pk_alloc", 65536); p == 0 {
		t.Error("pk_alloc(65536) = 0, want the 64 KiB arena")
	}
	if p := b.call("pk_alloc", 65537); p != 0 {
		t.Errorf("pk_alloc(65537) = %#x, want 0 (larger than the arena)", p)
	}
	// The largest message the 64 KiB event buffer holds, then an empty payload.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096)[:65536-abi.MessageHeaderSize-len(in)]
	b.wantEvent(abi.EventMessage, abi.AppendMessage(nil, 3, abi.MsgRetained, in, big), false, abi.OK)
	b.wantPublished(out + " kind=0 " + lang + ":" + string(big) + ":3")
	b.wantEvent(abi.EventMessage, abi.AppendMessage(nil, 4, 0, in, nil), true, abi.OK)
	b.wantPublished(out + " kind=0 " + lang + "::4")

	// Third instance: ten digits, then the u32 counter wraps.
	c := host.start(t, ctx, r, cm, "c")
	if e := c.restore([]byte{0xfe, 0xff, 0xff, 0xff}); e != abi.OK {
		t.Fatalf("pk_restore = %v", e)
	}
	c.wantEvent(abi.EventMessage, hello, false, abi.OK)
	c.wantEvent(abi.EventMessage, hello, false, abi.OK)
	c.wantPublished(out+" kind=0 "+lang+":hello:4294967295", out+" kind=0 "+lang+":hello:0")
	if got := c.snapshot(); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("snapshot = % x, want 00 00 00 00", got)
	}

	// A publish error comes back from pk_event.
	host.publishErr = abi.EAGAIN
	c.wantEvent(abi.EventMessage, hello, false, abi.EAGAIN)
	host.publishErr = abi.OK
	c.wantPublished()
}

// checkImports checks that every imported function is a syscall of module
// "pk" with the signature abi.LookupSyscall gives. wazero lists only function
// and memory imports; an import of any other kind, or from another module,
// fails instantiation against the fake host instead.
func checkImports(t *testing.T, cm wazero.CompiledModule) {
	t.Helper()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != abi.ImportModule {
			t.Errorf("imports %s.%s: only module %q is allowed", mod, name, abi.ImportModule)
			continue
		}
		sc, ok := abi.LookupSyscall(name)
		if !ok {
			t.Errorf("imports pk.%s, which is not a syscall", name)
			continue
		}
		if got, want := sig(f.ParamTypes(), f.ResultTypes()), sig(valueTypes(sc.Params), []api.ValueType{api.ValueTypeI32}); got != want {
			t.Errorf("imports pk.%s as %s, want %s", name, got, want)
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		t.Errorf("imports memory %s.%s: a guest must export its memory", mod, name)
	}
}

// checkExports checks the guest exports of abi/README.md with their signatures.
func checkExports(t *testing.T, cm wazero.CompiledModule) {
	t.Helper()
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		t.Errorf("does not export %q", abi.ExportMemory)
	}
	i32 := api.ValueTypeI32
	want := map[string]string{
		abi.ExportABIVersion: sig(nil, []api.ValueType{i32}),
		abi.ExportAlloc:      sig([]api.ValueType{i32}, []api.ValueType{i32}),
		abi.ExportInit:       sig(nil, []api.ValueType{i32}),
		abi.ExportEvent:      sig([]api.ValueType{i32, i32, i32}, []api.ValueType{i32}),
		abi.ExportSnapshot:   sig(nil, []api.ValueType{i32}),
		abi.ExportRestore:    sig([]api.ValueType{i32, i32}, []api.ValueType{i32}),
	}
	fns := cm.ExportedFunctions()
	for name, w := range want {
		f, ok := fns[name]
		if !ok {
			t.Errorf("does not export %s", name)
			continue
		}
		if got := sig(f.ParamTypes(), f.ResultTypes()); got != w {
			t.Errorf("exports %s as %s, want %s", name, got, w)
		}
	}
}

func valueTypes(ts []abi.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, v := range ts {
		out[i] = api.ValueType(v)
	}
	return out
}

func sig(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, v := range ts {
			s[i] = api.ValueTypeName(v)
		}
		return "(" + strings.Join(s, ",") + ")"
	}
	return name(params) + "->" + name(results)
}

// fakePK is an in-memory "pk" host module with just the syscalls the guests
// use. It keeps one record per guest instance, keyed by module name.
type fakePK struct {
	guests     map[string]*guest
	publishErr abi.Errno // returned by publish when set (after recording nothing)
}

func newFakePK() *fakePK { return &fakePK{guests: map[string]*guest{}} }

// guest is one instance of a guest module and what it did through the fake.
type guest struct {
	t   *testing.T
	ctx context.Context
	mod api.Module

	ev   struct{ ptr, cap uint32 } // the registered event buffer
	subs []string                  // "topic flags=N"
	logs []string                  // "level=N msg=M attrs=K"
	pubs []string                  // "topic kind=N payload", not yet checked

	inSnapshot bool
	snap       []byte

	inCall  bool
	callID  uint64
	replies []string
}

type hostFunc func(g *guest, mem api.Memory, a []uint64) abi.Errno

func (h *fakePK) instantiate(ctx context.Context, r wazero.Runtime) error {
	u32 := func(v uint64) uint32 { return uint32(v) }
	read := func(mem api.Memory, ptr, n uint64) ([]byte, bool) {
		b, ok := mem.Read(u32(ptr), u32(n))
		return bytes.Clone(b), ok
	}
	topicErr := func(topic []byte) abi.Errno {
		switch {
		case len(topic) == 0:
			return abi.EINVAL
		case len(topic) > abi.MaxTopicLen:
			return abi.ENAMETOOLONG
		}
		return abi.OK
	}
	fns := map[string]hostFunc{
		abi.SysEventBuffer: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			if a[1] != 0 && u32(a[1]) < 16 {
				return abi.EINVAL
			}
			if _, ok := mem.Read(u32(a[0]), u32(a[1])); !ok {
				return abi.EFAULT
			}
			g.ev.ptr, g.ev.cap = u32(a[0]), u32(a[1])
			return abi.OK
		},
		abi.SysSubscribe: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			topic, ok := read(mem, a[0], a[1])
			if !ok {
				return abi.EFAULT
			}
			if u32(a[2]) > abi.SubPrefix {
				return abi.EINVAL
			}
			if e := topicErr(topic); e != abi.OK {
				return e
			}
			g.subs = append(g.subs, fmt.Sprintf("%s flags=%d", topic, u32(a[2])))
			return abi.OK
		},
		abi.SysLog: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			msg, ok1 := read(mem, a[1], a[2])
			attrs, ok2 := read(mem, a[3], a[4])
			if !ok1 || !ok2 {
				return abi.EFAULT
			}
			list, err := abi.DecodeList(attrs)
			if err != nil || len(list)%2 != 0 {
				return abi.EINVAL
			}
			g.logs = append(g.logs, fmt.Sprintf("level=%d msg=%s attrs=%d", int32(u32(a[0])), msg, len(list)))
			return abi.OK
		},
		abi.SysPublish: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			topic, ok1 := read(mem, a[0], a[1])
			data, ok2 := read(mem, a[2], a[3])
			if !ok1 || !ok2 {
				return abi.EFAULT
			}
			if u32(a[4]) > abi.KindLatest {
				return abi.EINVAL
			}
			if e := topicErr(topic); e != abi.OK {
				return e
			}
			if h.publishErr != abi.OK {
				return h.publishErr
			}
			g.pubs = append(g.pubs, fmt.Sprintf("%s kind=%d %s", topic, u32(a[4]), data))
			return abi.OK
		},
		abi.SysCallReply: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			data, ok := read(mem, a[1], a[2])
			if !ok {
				return abi.EFAULT
			}
			if !g.inCall || a[0] != g.callID || g.replies != nil {
				return abi.ESTATE
			}
			g.replies = append(g.replies, string(data))
			return abi.OK
		},
		abi.SysSnapshotWrite: func(g *guest, mem api.Memory, a []uint64) abi.Errno {
			data, ok := read(mem, a[0], a[1])
			if !ok {
				return abi.EFAULT
			}
			if !g.inSnapshot {
				return abi.ESTATE
			}
			g.snap = append(g.snap, data...)
			return abi.OK
		},
	}
	b := r.NewHostModuleBuilder(abi.ImportModule)
	for name, fn := range fns {
		sc, ok := abi.LookupSyscall(name)
		if !ok {
			return fmt.Errorf("fake pk: %s is not a syscall", name)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			g := h.guests[m.Name()]
			stack[0] = uint64(fn(g, m.Memory(), stack[:len(sc.Params)]))
		}), valueTypes(sc.Params), []api.ValueType{api.ValueTypeI32}).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// start instantiates cm as name, checks pk_abi_version and runs pk_init.
func (h *fakePK) start(t *testing.T, ctx context.Context, r wazero.Runtime, cm wazero.CompiledModule, name string) *guest {
	t.Helper()
	g := &guest{t: t, ctx: ctx}
	h.guests[name] = g
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	g.mod = mod
	// The fixtures were built for v1.0; a newer minor host accepts them
	// (abi/README.md § Guest exports), and rebuilt ones may say v1.1.
	if maj, min := abi.SplitVersion(uint32(g.call(abi.ExportABIVersion))); maj != abi.Major || min > abi.Minor {
		t.Fatalf("%s: pk_abi_version = v%d.%d, which a v%d.%d host refuses", name, maj, min, abi.Major, abi.Minor)
	}
	if e := abi.Errno(g.call(abi.ExportInit)); e != abi.OK {
		t.Fatalf("%s: pk_init = %v", name, e)
	}
	return g
}

// call calls an export and returns its one i32 result (zero-extended).
func (g *guest) call(name string, args ...uint64) uint64 {
	g.t.Helper()
	fn := g.mod.ExportedFunction(name)
	if fn == nil {
		g.t.Fatalf("%s: no export %s", g.mod.Name(), name)
	}
	res, err := fn.Call(g.ctx, args...)
	if err != nil {
		g.t.Fatalf("%s: %s%v: %v", g.mod.Name(), name, args, err)
	}
	if len(res) != 1 {
		g.t.Fatalf("%s: %s returned %d results", g.mod.Name(), name, len(res))
	}
	return uint64(uint32(res[0]))
}

// put writes b where the host would: into the event buffer, or into a buffer
// from pk_alloc.
func (g *guest) put(b []byte, viaAlloc bool) uint32 {
	g.t.Helper()
	ptr := g.ev.ptr
	if viaAlloc {
		ptr = uint32(g.call(abi.ExportAlloc, uint64(len(b))))
		if ptr == 0 {
			g.t.Fatalf("pk_alloc(%d) = 0", len(b))
		}
	} else if uint32(len(b)) > g.ev.cap {
		g.t.Fatalf("event of %d bytes does not fit the %d-byte event buffer", len(b), g.ev.cap)
	}
	if !g.mod.Memory().Write(ptr, b) {
		g.t.Fatalf("writing %d bytes at %#x: out of range", len(b), ptr)
	}
	return ptr
}

func (g *guest) event(kind abi.EventKind, ev []byte, viaAlloc bool) abi.Errno {
	g.t.Helper()
	ptr := g.put(ev, viaAlloc)
	return abi.Errno(g.call(abi.ExportEvent, uint64(kind), uint64(ptr), uint64(len(ev))))
}

func (g *guest) wantEvent(kind abi.EventKind, ev []byte, viaAlloc bool, want abi.Errno) {
	g.t.Helper()
	if e := g.event(kind, ev, viaAlloc); e != want {
		g.t.Errorf("pk_event(kind %d, %d bytes) = %v, want %v", kind, len(ev), e.Name(), want.Name())
	}
}

// wantPublished checks the messages published since the last check.
func (g *guest) wantPublished(want ...string) {
	g.t.Helper()
	if !slices.Equal(g.pubs, want) {
		g.t.Errorf("published %q, want %q", shorten(g.pubs), shorten(want))
	}
	g.pubs = nil
}

// wantCall sends a CALL event and checks the reply.
func (g *guest) wantCall(id uint64, reply string) {
	g.t.Helper()
	g.inCall, g.callID, g.replies = true, id, nil
	e := g.event(abi.EventCall, abi.AppendCall(nil, id, "tester", []byte("count?")), false)
	g.inCall = false
	if e != abi.OK {
		g.t.Errorf("pk_event(CALL) = %v, want OK", e.Name())
	}
	if want := []string{reply}; !slices.Equal(g.replies, want) {
		g.t.Errorf("call_reply %q, want %q", g.replies, want)
	}
}

func (g *guest) snapshot() []byte {
	g.t.Helper()
	g.snap, g.inSnapshot = nil, true
	e := abi.Errno(g.call(abi.ExportSnapshot))
	g.inSnapshot = false
	if e != abi.OK {
		g.t.Errorf("pk_snapshot = %v", e.Name())
	}
	return g.snap
}

func (g *guest) restore(snap []byte) abi.Errno {
	g.t.Helper()
	ptr := g.put(snap, true)
	return abi.Errno(g.call(abi.ExportRestore, uint64(ptr), uint64(len(snap))))
}

// shorten keeps failure messages readable when a payload is 64 KiB.
func shorten(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if len(v) > 120 {
			v = fmt.Sprintf("%s...(%d bytes)...%s", v[:60], len(v), v[len(v)-40:])
		}
		out[i] = v
	}
	return out
}
