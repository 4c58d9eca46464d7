package syscall

// The test harness of the ABI suite: a wasm "proxy" guest generated in Go
// bytes that imports every syscall of abi.Syscalls() from "pk" and exports a
// forwarding function per syscall, and a recording fake Host.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// ---- wasm binary encoding ----

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func wasmName(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

func wasmSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = uleb(out, uint64(len(body)))
	return append(out, body...)
}

// proxyWasm returns a module that imports every syscall from abi.ImportModule
// with its exact signature, exports a function of the same name forwarding
// its parameters to the import, and (pages > 0) exports a memory "memory" of
// exactly that many pages (it cannot grow).
func proxyWasm(pages uint32) []byte {
	sys := abi.Syscalls()
	n := uint64(len(sys))
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

	// Type section: one type per syscall, (params...) -> i32.
	b := uleb(nil, n)
	for _, s := range sys {
		b = append(b, 0x60)
		b = uleb(b, uint64(len(s.Params)))
		for _, p := range s.Params {
			b = append(b, byte(p))
		}
		b = append(b, 1, byte(abi.I32))
	}
	out = wasmSection(out, 1, b)

	// Import section: func i imports "pk" s.Name with type i.
	b = uleb(nil, n)
	for i, s := range sys {
		b = wasmName(b, abi.ImportModule)
		b = wasmName(b, s.Name)
		b = append(b, 0x00)
		b = uleb(b, uint64(i))
	}
	out = wasmSection(out, 2, b)

	// Function section: the proxies, func n+i has type i.
	b = uleb(nil, n)
	for i := range sys {
		b = uleb(b, uint64(i))
	}
	out = wasmSection(out, 3, b)

	if pages > 0 { // Memory section: min = max = pages.
		b = uleb(nil, 1)
		b = append(b, 0x01)
		b = uleb(b, uint64(pages))
		b = uleb(b, uint64(pages))
		out = wasmSection(out, 5, b)
	}

	// Export section.
	exports := n
	if pages > 0 {
		exports++
	}
	b = uleb(nil, exports)
	for i, s := range sys {
		b = wasmName(b, s.Name)
		b = append(b, 0x00)
		b = uleb(b, n+uint64(i))
	}
	if pages > 0 {
		b = wasmName(b, abi.ExportMemory)
		b = append(b, 0x02, 0x00)
	}
	out = wasmSection(out, 7, b)

	// Code section: local.get 0..k-1; call i; end.
	b = uleb(nil, n)
	for i, s := range sys {
		body := []byte{0x00} // no locals
		for p := range s.Params {
			body = append(body, 0x20)
			body = uleb(body, uint64(p))
		}
		body = append(body, 0x10)
		body = uleb(body, uint64(i))
		body = append(body, 0x0b)
		b = uleb(b, uint64(len(body)))
		b = append(b, body...)
	}
	return wasmSection(out, 10, b)
}

// ---- the guest ----

const (
	memSize = 65536 // the default guest: one page

	// Where the tests put inputs and outputs in guest memory.
	pIn        = 0x0040 // names, keys, messages
	pIn2       = 0x0800 // payloads, values, attrs, requests
	pBuf       = 0x8000 // result buffers
	pLen       = 0xF000 // len_out
	pSeq       = 0xF010 // seq_out, id_out, out
	pFSData    = 0x1800 // fs_put data: above pIn plus the longest p-fs name
	fill       = 0xEE   // the byte guest memory is filled with before each call
	mib4       = abi.MaxPayload
	guestPages = 1
)

// guest is an instantiated proxy module.
type guest struct {
	rt   wazero.Runtime
	mod  api.Module
	mem  api.Memory
	fns  map[string]api.Function
	size uint32

	filled []byte // size bytes of fill
}

func newGuestConfig(tb testing.TB, cfg wazero.RuntimeConfig, pages uint32) *guest {
	tb.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	tb.Cleanup(func() { rt.Close(ctx) })
	if err := Instantiate(ctx, rt); err != nil {
		tb.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, proxyWasm(pages))
	if err != nil {
		tb.Fatal(err)
	}
	g := &guest{rt: rt, mod: mod, fns: map[string]api.Function{}}
	if pages > 0 {
		g.mem = mod.ExportedMemory(abi.ExportMemory)
		g.size = g.mem.Size()
	}
	for _, s := range abi.Syscalls() {
		f := mod.ExportedFunction(s.Name)
		if f == nil {
			tb.Fatalf("proxy lacks %s", s.Name)
		}
		g.fns[s.Name] = f
	}
	return g
}

func newGuest(tb testing.TB) *guest {
	return newGuestConfig(tb, wazero.NewRuntimeConfig(), guestPages)
}

// call runs the proxy of syscall name with ctx (which carries the Host).
func (g *guest) call(tb testing.TB, ctx context.Context, name string, args ...uint64) abi.Errno {
	tb.Helper()
	res, err := g.fns[name].Call(ctx, args...)
	if err != nil {
		tb.Fatalf("%s%v: wasm call failed: %v", name, args, err)
	}
	if len(res) != 1 {
		tb.Fatalf("%s: %d results", name, len(res))
	}
	// The upper half of an i32 result is undefined in wazero (its compiler
	// leaves what a 64-bit argument had there), so only the low 32 bits count.
	return abi.Errno(uint32(res[0]))
}

// reset fills the whole memory with the fill byte.
func (g *guest) reset() {
	b, _ := g.mem.Read(0, g.size)
	if len(g.filled) != len(b) {
		g.filled = bytes.Repeat([]byte{fill}, len(b))
	}
	copy(b, g.filled)
}

func (g *guest) snapshot() []byte {
	b, _ := g.mem.Read(0, g.size)
	return bytes.Clone(b)
}

func (g *guest) bytes() []byte {
	b, _ := g.mem.Read(0, g.size)
	return b
}

// at is bytes at an offset of guest memory: an input written before a call,
// or an output expected after it.
type at struct {
	off uint32
	b   []byte
}

func in(off uint32, s string) at { return at{off, []byte(s)} }
func u32le(off uint32, v uint32) at {
	b := make([]byte, 4)
	abi.PutLE32(b, v)
	return at{off, b}
}
func u64le(off uint32, v uint64) at {
	b := make([]byte, 8)
	abi.PutLE64(b, v)
	return at{off, b}
}

func (g *guest) put(tb testing.TB, w []at) {
	tb.Helper()
	for _, x := range w {
		if !g.mem.Write(x.off, x.b) {
			tb.Fatalf("input at %#x (%d bytes) is outside memory", x.off, len(x.b))
		}
	}
}

// diffRanges describes where got and want differ, for failure messages.
func diffRanges(want, got []byte) string {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(want); {
		if want[i] == got[i] {
			i++
			continue
		}
		j := i
		for j < len(want) && want[j] != got[j] {
			j++
		}
		if n < 8 {
			fmt.Fprintf(&sb, "\n  [%#x, %#x): want % x, got % x", i, j, clip(want[i:j]), clip(got[i:j]))
		}
		n++
		i = j
	}
	if n > 8 {
		fmt.Fprintf(&sb, "\n  ... %d ranges in all", n)
	}
	return sb.String()
}

func clip(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// ---- the recording fake Host ----

// fakeHost records every method call as a golden trace line and returns
// programmable results. It is not safe for concurrent use (neither is a
// real Host: one syscall at a time).
type fakeHost struct {
	kept      Kept
	keptCalls int
	trace     []string

	errno   abi.Errno // returned by every method that returns an Errno
	panicOn string    // the method that panics ("*": all of them, Kept included)

	selfInfo   []byte
	nodeStatus []byte
	mono       time.Duration
	topicVal   []byte
	topicSeq   uint64
	timerID    uint64
	kvVal      []byte
	kvKeys     [][]byte
	reply      []byte
	fsID       [abi.FSIDSize]byte
	fsData     []byte
	fsStat     abi.FSStat
	fsNames    []string
	fsOverRead bool // FSRead returns one byte more than asked (a Host bug)

	held    map[string][]byte // slices passed to methods that may keep them
	kvPutV  []byte            // the val slice given to KVPut
	lastLog struct {
		msg   string
		attrs []slog.Attr
	}
}

func newFake() *fakeHost {
	return &fakeHost{
		selfInfo:   []byte(`{"node":"n1","module":"m","version":"ab12","generation":3,"abi":"1.0"}`),
		nodeStatus: []byte(`{"node":"n1","uptime_ns":5}`),
		mono:       42 * time.Second,
		topicVal:   []byte("v1"),
		topicSeq:   7,
		timerID:    9,
		kvVal:      []byte("value"),
		kvKeys:     [][]byte{[]byte("a"), []byte("bc")},
		reply:      []byte("pong"),
		fsID:       fakeFSID,
		fsData:     []byte("file-bytes"),
		fsStat:     abi.FSStat{Size: 10, ID: fakeFSID, Time: realtime, Versions: 2},
		fsNames:    []string{"a", "bc"},
		held:       map[string][]byte{},
	}
}

// fakeFSID is the content id the fake's FSPut and FSStat give: 0x01..0x20.
var fakeFSID = func() (id [abi.FSIDSize]byte) {
	for i := range id {
		id[i] = byte(i + 1)
	}
	return id
}()

func (h *fakeHost) rec(method, format string, args ...any) {
	h.trace = append(h.trace, method+"("+fmt.Sprintf(format, args...)+")")
	if h.panicOn == method || h.panicOn == "*" {
		h.trace[len(h.trace)-1] += " PANIC"
		panic("fake host: " + method)
	}
}

// q quotes bytes for a trace line, shortening long ones.
func q(b []byte) string {
	if len(b) <= 48 {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:16])) + fmt.Sprintf("...(%d bytes)", len(b))
}

func (h *fakeHost) Kept() *Kept {
	h.keptCalls++
	if h.panicOn == "Kept" || h.panicOn == "*" {
		h.trace = append(h.trace, "Kept() PANIC")
		panic("fake host: Kept")
	}
	return &h.kept
}

func (h *fakeHost) SetEventBuffer(ptr, cap uint32) abi.Errno {
	h.rec("SetEventBuffer", "ptr=%#x, cap=%d", ptr, cap)
	return h.errno
}

func (h *fakeHost) SnapshotWrite(p []byte) abi.Errno {
	h.rec("SnapshotWrite", "p=%s", q(p))
	return h.errno
}

func (h *fakeHost) SelfInfo() []byte {
	h.rec("SelfInfo", "")
	return h.selfInfo
}

func (h *fakeHost) Log(level slog.Level, msg string, attrs []slog.Attr) {
	var as []string
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			as = append(as, strconv.Quote(a.Key)+"="+q([]byte(a.Value.String())))
		} else {
			as = append(as, strconv.Quote(a.Key)+"="+a.Value.String())
		}
	}
	h.lastLog.msg, h.lastLog.attrs = msg, attrs
	h.rec("Log", "level=%d, msg=%s, attrs=[%s]", int(level), q([]byte(msg)), strings.Join(as, " "))
}

func (h *fakeHost) Monotonic() time.Duration {
	h.rec("Monotonic", "")
	return h.mono
}

func (h *fakeHost) TopicDeclare(topic string, kind, scope uint32) abi.Errno {
	h.rec("TopicDeclare", "topic=%s, kind=%d, scope=%d", q([]byte(topic)), kind, scope)
	return h.errno
}

func (h *fakeHost) Publish(topic string, data []byte, kind uint32) abi.Errno {
	h.held["Publish"] = data
	h.rec("Publish", "topic=%s, data=%s, kind=%d", q([]byte(topic)), q(data), kind)
	return h.errno
}

func (h *fakeHost) Subscribe(topic string, flags uint32) abi.Errno {
	h.rec("Subscribe", "topic=%s, flags=%d", q([]byte(topic)), flags)
	return h.errno
}

func (h *fakeHost) Unsubscribe(topic string, flags uint32) abi.Errno {
	h.rec("Unsubscribe", "topic=%s, flags=%d", q([]byte(topic)), flags)
	return h.errno
}

func (h *fakeHost) TopicGet(topic string) ([]byte, uint64, abi.Errno) {
	h.rec("TopicGet", "topic=%s", q([]byte(topic)))
	if h.errno != abi.OK {
		return nil, 0, h.errno
	}
	return h.topicVal, h.topicSeq, abi.OK
}

func (h *fakeHost) TimerSet(delay, period time.Duration) (uint64, abi.Errno) {
	h.rec("TimerSet", "delay=%v, period=%v", delay, period)
	if h.errno != abi.OK {
		return 0, h.errno
	}
	return h.timerID, abi.OK
}

func (h *fakeHost) TimerCancel(id uint64) abi.Errno {
	h.rec("TimerCancel", "id=%d", id)
	return h.errno
}

func (h *fakeHost) KVGet(key []byte) ([]byte, abi.Errno) {
	h.rec("KVGet", "key=%s", q(key))
	if h.errno != abi.OK {
		return nil, h.errno
	}
	return h.kvVal, abi.OK
}

func (h *fakeHost) KVPut(key, val []byte) abi.Errno {
	h.kvPutV = val
	h.rec("KVPut", "key=%s, val=%s", q(key), q(val))
	return h.errno
}

func (h *fakeHost) KVDelete(key []byte) abi.Errno {
	h.rec("KVDelete", "key=%s", q(key))
	return h.errno
}

func (h *fakeHost) KVList(prefix []byte) ([][]byte, abi.Errno) {
	h.rec("KVList", "prefix=%s", q(prefix))
	if h.errno != abi.OK {
		return nil, h.errno
	}
	return h.kvKeys, abi.OK
}

func (h *fakeHost) Call(module string, req []byte, timeout time.Duration) ([]byte, abi.Errno) {
	h.held["Call"] = req
	h.rec("Call", "module=%s, req=%s, timeout=%v", q([]byte(module)), q(req), timeout)
	if h.errno != abi.OK {
		return nil, h.errno
	}
	return h.reply, abi.OK
}

func (h *fakeHost) CallReply(id uint64, data []byte) abi.Errno {
	h.held["CallReply"] = data
	h.rec("CallReply", "id=%d, data=%s", id, q(data))
	return h.errno
}

func (h *fakeHost) NodeStatus() []byte {
	h.rec("NodeStatus", "")
	return h.nodeStatus
}

func (h *fakeHost) FSPut(name string, data []byte) ([abi.FSIDSize]byte, abi.Errno) {
	h.held["FSPut"] = data
	h.rec("FSPut", "name=%s, data=%s", q([]byte(name)), q(data))
	if h.errno != abi.OK {
		return [abi.FSIDSize]byte{}, h.errno
	}
	return h.fsID, abi.OK
}

func (h *fakeHost) FSRead(ref string, off int64, n uint32) ([]byte, abi.Errno) {
	h.rec("FSRead", "ref=%s, off=%d, n=%d", q([]byte(ref)), off, n)
	if h.errno != abi.OK {
		return nil, h.errno
	}
	if h.fsOverRead {
		return make([]byte, int(n)+1), abi.OK
	}
	if off >= int64(len(h.fsData)) {
		return nil, abi.OK
	}
	b := h.fsData[off:]
	return b[:min(len(b), int(n))], abi.OK
}

func (h *fakeHost) FSStat(ref string) (abi.FSStat, abi.Errno) {
	h.rec("FSStat", "ref=%s", q([]byte(ref)))
	if h.errno != abi.OK {
		return abi.FSStat{}, h.errno
	}
	return h.fsStat, abi.OK
}

func (h *fakeHost) FSList(prefix string) ([]string, abi.Errno) {
	h.rec("FSList", "prefix=%s", q([]byte(prefix)))
	if h.errno != abi.OK {
		return nil, h.errno
	}
	return h.fsNames, abi.OK
}

func (h *fakeHost) FSRemove(name string) abi.Errno {
	h.rec("FSRemove", "name=%s", q([]byte(name)))
	return h.errno
}

var _ Host = (*fakeHost)(nil)

// ---- what the suite touched ----

// touched records, per syscall, the errnos that table rows checked, and per
// pointer parameter, whether an EFAULT row covered it.
var touched = struct {
	sync.Mutex
	errnos map[string]map[abi.Errno]bool
	faults map[string]map[string]bool
}{errnos: map[string]map[abi.Errno]bool{}, faults: map[string]map[string]bool{}}

func touch(sys string, e abi.Errno, faultParam string) {
	touched.Lock()
	defer touched.Unlock()
	if touched.errnos[sys] == nil {
		touched.errnos[sys] = map[abi.Errno]bool{}
		touched.faults[sys] = map[string]bool{}
	}
	touched.errnos[sys][e] = true
	if faultParam != "" {
		touched.faults[sys][faultParam] = true
	}
}
