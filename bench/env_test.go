package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
	"github.com/p-kernel/p-kernel/host/syscall"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// testHost is a trivial syscall.Host: the event buffer goes to the
// instance, the clock works, everything else is refused.
var _ syscall.Host = (*testHost)(nil)

type testHost struct {
	kept  syscall.Kept
	in    *runtime.Instance
	start time.Time
}

func (h *testHost) Kept() *syscall.Kept { return &h.kept }
func (h *testHost) SetEventBuffer(ptr, cap uint32) abi.Errno {
	if h.in == nil {
		return abi.ESTATE
	}
	return h.in.SetEventBuffer(ptr, cap)
}
func (h *testHost) SnapshotWrite([]byte) abi.Errno                { return abi.ESTATE }
func (h *testHost) SelfInfo() []byte                              { return []byte("{}") }
func (h *testHost) Log(slog.Level, string, []slog.Attr)           {}
func (h *testHost) Monotonic() time.Duration                      { return time.Since(h.start) }
func (h *testHost) TopicDeclare(string, uint32, uint32) abi.Errno { return abi.ENOTSUP }
func (h *testHost) Publish(string, []byte, uint32) abi.Errno      { return abi.ENOTSUP }
func (h *testHost) Subscribe(string, uint32) abi.Errno            { return abi.ENOTSUP }
func (h *testHost) Unsubscribe(string, uint32) abi.Errno          { return abi.ENOTSUP }
func (h *testHost) TopicGet(string) ([]byte, uint64, abi.Errno)   { return nil, 0, abi.ENOTSUP }
func (h *testHost) TimerSet(time.Duration, time.Duration) (uint64, abi.Errno) {
	return 0, abi.ENOTSUP
}
func (h *testHost) TimerCancel(uint64) abi.Errno        { return abi.ENOTSUP }
func (h *testHost) KVGet([]byte) ([]byte, abi.Errno)    { return nil, abi.ENOTSUP }
func (h *testHost) KVPut([]byte, []byte) abi.Errno      { return abi.ENOTSUP }
func (h *testHost) KVDelete([]byte) abi.Errno           { return abi.ENOTSUP }
func (h *testHost) KVList([]byte) ([][]byte, abi.Errno) { return nil, abi.ENOTSUP }
func (h *testHost) Call(string, []byte, time.Duration) ([]byte, abi.Errno) {
	return nil, abi.ENOTSUP
}
func (h *testHost) CallReply(uint64, []byte) abi.Errno { return abi.ENOTSUP }
func (h *testHost) NodeStatus() []byte                 { return []byte("{}") }
func (h *testHost) FSPut(string, []byte) ([abi.FSIDSize]byte, abi.Errno) {
	return [abi.FSIDSize]byte{}, abi.ENOTSUP
}
func (h *testHost) FSRead(string, int64, uint32) ([]byte, abi.Errno) { return nil, abi.ENOTSUP }
func (h *testHost) FSStat(string) (abi.FSStat, abi.Errno)            { return abi.FSStat{}, abi.ENOTSUP }
func (h *testHost) FSList(string) ([]string, abi.Errno)              { return nil, abi.ENOTSUP }
func (h *testHost) FSRemove(string) abi.Errno                        { return abi.ENOTSUP }

// newRuntime starts a p-kernel runtime with the real pk host module.
func newRuntime(tb testing.TB, cacheDir string) *runtime.Runtime {
	tb.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: cacheDir, HostModules: syscall.Instantiate})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

var instSeq struct {
	sync.Mutex
	n int
}

func instName(prefix string) string {
	instSeq.Lock()
	defer instSeq.Unlock()
	instSeq.n++
	return fmt.Sprintf("%s-%d", prefix, instSeq.n)
}

// startGuest loads wasm into rt (guard instrumentation included),
// instantiates it with a testHost and runs pk_init.
func startGuest(tb testing.TB, rt *runtime.Runtime, wasm []byte) (*runtime.Instance, *testHost) {
	tb.Helper()
	ctx := context.Background()
	m, err := rt.Load(ctx, wasm, runtime.LoadOptions{Grants: abi.DefaultGrants()})
	if err != nil {
		tb.Fatal(err)
	}
	h := &testHost{start: time.Now()}
	in, err := rt.Instantiate(ctx, m, runtime.InstanceConfig{Name: instName("g"), Context: syscall.WithHost(ctx, h)})
	if err != nil {
		tb.Fatal(err)
	}
	h.in = in
	if e, err := in.Init(); err != nil || e != abi.OK {
		tb.Fatalf("pk_init: %v %v", e, err)
	}
	tb.Cleanup(func() { in.Close(ctx); m.Release(ctx) })
	return in, h
}

// rawClockNow is a plain wazero host function with clock_now's signature
// doing clock_now's work (realtime into guest memory).
func rawClockNow(_ context.Context, mod api.Module, stack []uint64) {
	if !mod.Memory().WriteUint64Le(uint32(stack[1]), uint64(time.Now().UnixNano())) {
		stack[0] = uint64(abi.EFAULT)
		return
	}
	stack[0] = 0
}

// newRaw starts a bare wazero runtime (compiler, no guard) with a stub "pk"
// module: event_buffer does nothing, clock_now is rawClockNow. With
// realPK the stub is replaced by the real pk host module.
func newRaw(tb testing.TB, closeOnDone, realPK bool) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
	tb.Cleanup(func() { r.Close(ctx) })
	if realPK {
		if err := syscall.Instantiate(ctx, r); err != nil {
			tb.Fatal(err)
		}
		return r
	}
	_, err := r.NewHostModuleBuilder("pk").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("event_buffer").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(rawClockNow),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("clock_now").
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// rawModule instantiates wasm in a raw runtime.
func rawModule(tb testing.TB, r wazero.Runtime, wasm []byte) api.Module {
	tb.Helper()
	ctx := context.Background()
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(instName("raw")).WithStartFunctions())
	if err != nil {
		tb.Fatal(err)
	}
	return mod
}

// repoRoot is the directory holding go.mod (tests run in bench/).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		tb.Fatalf("no go.mod at %s", root)
	}
	return root
}

var goGuests struct {
	sync.Mutex
	dir   string
	built map[string][]byte
}

// goGuest builds tests/guests/echo with main.tag set, the same command as
// host/wasmbuild (which bench cannot import), cached per process.
func goGuest(tb testing.TB, tag string) []byte {
	tb.Helper()
	goGuests.Lock()
	defer goGuests.Unlock()
	if b, ok := goGuests.built[tag]; ok {
		return b
	}
	if goGuests.dir == "" {
		d, err := os.MkdirTemp("", "pk-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		goGuests.dir, goGuests.built = d, map[string][]byte{}
	}
	out := filepath.Join(goGuests.dir, "echo-"+tag+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out,
		"-ldflags", "-X main.tag="+tag, "./tests/guests/echo")
	cmd.Dir = repoRoot(tb)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build echo: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	goGuests.built[tag] = b
	return b
}

// watGuest is the committed polyglot WAT fixture: it subscribes
// poly/wat/in and republishes "wat:<payload>:<n>" on poly/wat/out.
func watGuest(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "examples/polyglot/testdata/wat.wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sharedCache is the compilation cache of every node in this process, so
// that a guest is compiled once per run rather than once per test.
var sharedCache string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "pk-bench-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = d
	code := m.Run()
	os.RemoveAll(d)
	if goGuests.dir != "" {
		os.RemoveAll(goGuests.dir)
	}
	os.Exit(code)
}

type node struct {
	sys *actor.System
	bus *bus.Bus
	rt  *runtime.Runtime
}

// newNode wires a runtime, a bus, a store and an actor system in a temp dir.
func newNode(tb testing.TB) *node {
	tb.Helper()
	dir := tb.TempDir()
	rt := newRuntime(tb, sharedCache)
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		tb.Fatal(err)
	}
	b := bus.New()
	s := actor.New(actor.Config{NodeID: "bench", Runtime: rt, Bus: b, Store: st})
	tb.Cleanup(func() {
		s.Close(context.Background())
		st.Close()
	})
	return &node{s, b, rt}
}

// pct returns the p-quantile (0..1) of ds by nearest rank; ds is sorted.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// reportLatency sorts ds and reports its p50 and p99 in ns.
func reportLatency(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(pct(ds, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(pct(ds, 0.99).Nanoseconds()), "p99-ns")
}

func recvWithin(tb testing.TB, in *bus.Inbox, d time.Duration) bus.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := in.Next(ctx)
	if err != nil {
		tb.Fatalf("no message within %v", d)
	}
	return m
}
