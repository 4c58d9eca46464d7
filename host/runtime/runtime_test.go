package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/syscall"
	"github.com/p-kernel/p-kernel/tests/testenv"
)

func newRuntime(t *testing.T, dir string) *runtime.Runtime {
	t.Helper()
	r, err := runtime.New(context.Background(), runtime.Config{CacheDir: dir, HostModules: syscall.Instantiate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// TestSharedCompilationRefcount: two loads of the same bytes share one
// compilation; releasing one leaves the other usable (wazero shares state
// between compilations of identical bytes, so a premature Close would break
// the survivor); the last release frees it.
func TestSharedCompilationRefcount(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, "")
	wasm := testenv.Guest{}.Bytes()
	a, err := r.Load(ctx, wasm, runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Load(ctx, wasm, runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Refs() != 2 || r.Loaded() != 1 {
		t.Fatalf("same bytes: shared=%v refs=%d loaded=%d", a == b, a.Refs(), r.Loaded())
	}
	if a.Hash != runtime.HashOf(wasm) || len(a.Hash.String()) != 64 {
		t.Fatalf("hash %s", a.Hash)
	}
	a.Release(ctx)
	in, err := r.Instantiate(ctx, b, runtime.InstanceConfig{Name: "survivor"})
	if err != nil {
		t.Fatalf("instantiate after the other reference was released: %v", err)
	}
	if e, err := in.Init(); err != nil || e != abi.OK {
		t.Fatalf("init: %v %v", e, err)
	}
	in.Close(ctx)
	b.Release(ctx)
	if r.Loaded() != 0 {
		t.Fatalf("loaded %d after the last release", r.Loaded())
	}
	// A different memory cap is a different compilation of the same bytes.
	c, _ := r.Load(ctx, wasm, runtime.LoadOptions{MaxMemoryPages: 16})
	d, _ := r.Load(ctx, wasm, runtime.LoadOptions{MaxMemoryPages: 32})
	if c == d || r.Loaded() != 2 {
		t.Fatalf("caps 16 and 32 shared a compilation")
	}
}

// cachedRust loads the Rust polyglot guest into a runtime with a fresh
// compile cache and returns the cache directory, the bytes and the runtime.
func cachedRust(t *testing.T) (string, []byte, *runtime.Runtime) {
	t.Helper()
	dir := t.TempDir()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "examples", "polyglot", "testdata", "rust.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, dir)
	if _, err := r.Load(context.Background(), wasm, runtime.LoadOptions{Grants: abi.Groups()}); err != nil {
		t.Fatal(err)
	}
	return dir, wasm, r
}

// TestDiskCache: a second runtime on the same cache directory loads from
// the cache (faster than compiling) and the module works.
func TestDiskCache(t *testing.T) {
	ctx := context.Background()
	dir, wasm, _ := cachedRust(t)
	ents, _ := os.ReadDir(dir)
	if len(ents) == 0 {
		t.Fatal("nothing written to the compilation cache")
	}
	r2 := newRuntime(t, dir)
	m, err := r2.Load(ctx, wasm, runtime.LoadOptions{Grants: abi.Groups()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Instantiate(ctx, m, runtime.InstanceConfig{Name: "cached"}); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedDiskCache: cache files cut short or emptied (what a power cut
// on a FAT data partition leaves) make wazero fail the compile; the
// runtime empties the cache and compiles again, and the module works.
func TestDamagedDiskCache(t *testing.T) {
	if runtime.Engine(false) != "compiler" {
		t.Skip("the interpreter does not use the compile cache")
	}
	ctx := context.Background()
	dir, wasm, r1 := cachedRust(t)
	r1.Close(ctx)
	damaged := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			damaged++
			os.Truncate(p, info.Size()/2)
		}
		return nil
	})
	if damaged == 0 {
		t.Fatal("nothing in the compilation cache to damage")
	}
	r2 := newRuntime(t, dir)
	m, err := r2.Load(ctx, wasm, runtime.LoadOptions{Grants: abi.Groups()})
	if err != nil {
		t.Fatalf("load over a damaged cache: %v", err)
	}
	if _, err := r2.Instantiate(ctx, m, runtime.InstanceConfig{Name: "recompiled"}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadChecks(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, "")
	kvPut := testenv.Import{Module: "pk", Name: "kv_put", Params: []byte{testenv.I32, testenv.I32, testenv.I32, testenv.I32}, Results: []byte{testenv.I32}}
	badSig := testenv.Import{Module: "pk", Name: "kv_put", Params: []byte{testenv.I32}, Results: []byte{testenv.I32}}
	cases := []struct {
		name   string
		wasm   []byte
		opts   runtime.LoadOptions
		is     error
		substr string
	}{
		{"garbage", []byte("nope"), runtime.LoadOptions{}, runtime.ErrMalformed, ""},
		{"ungranted", testenv.Guest{Imports: []testenv.Import{kvPut}}.Bytes(), runtime.LoadOptions{Grants: []abi.Group{abi.GroupLog}}, runtime.ErrNotGranted, "pk.kv_put"},
		{"granted", testenv.Guest{Imports: []testenv.Import{kvPut}}.Bytes(), runtime.LoadOptions{Grants: []abi.Group{abi.GroupKV}}, nil, ""},
		{"bad signature", testenv.Guest{Imports: []testenv.Import{badSig}}.Bytes(), runtime.LoadOptions{Grants: abi.Groups()}, runtime.ErrUnknownImport, "want (i32, i32, i32, i32) -> (i32)"},
		{"memory cap", testenv.Guest{MemoryPages: 20}.Bytes(), runtime.LoadOptions{MaxMemoryPages: 10}, runtime.ErrMemoryLimit, "20"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := r.Load(ctx, c.wasm, c.opts)
			if c.is == nil {
				if err != nil {
					t.Fatal(err)
				}
				m.Release(ctx)
				return
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("err = %v, want %v containing %q", err, c.is, c.substr)
			}
		})
	}
	if r.Loaded() != 0 {
		t.Fatalf("failed loads left %d compilations", r.Loaded())
	}
}

func TestABIVersionAndBudget(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, "")
	// abi/README.md: another major, or a newer minor, is refused; a guest
	// built for an older minor (v1.0 on this v1.1 host) loads unchanged.
	for _, v := range []uint32{2 << 16, 1<<16 | 2, 0<<16 | 1} {
		m, err := r.Load(ctx, testenv.Guest{ABIVersion: v}.Bytes(), runtime.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Instantiate(ctx, m, runtime.InstanceConfig{Name: "v"})
		if !errors.Is(err, runtime.ErrABIVersion) || !strings.Contains(err.Error(), "this host speaks v1.1") {
			t.Fatalf("version %#x: %v", v, err)
		}
		m.Release(ctx)
	}
	for _, v := range []uint32{1 << 16, 1<<16 | 1} {
		m, err := r.Load(ctx, testenv.Guest{ABIVersion: v}.Bytes(), runtime.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		in, err := r.Instantiate(ctx, m, runtime.InstanceConfig{Name: "ok"})
		if err != nil {
			t.Fatalf("version %#x refused: %v", v, err)
		}
		if in.ABIVersion() != v {
			t.Fatalf("ABIVersion() = %#x, want %#x", in.ABIVersion(), v)
		}
		in.Close(ctx)
		m.Release(ctx)
	}
	// An infinite loop in pk_init is interrupted within its budget.
	loop := []byte{testenv.OpLoop, 0x40, testenv.OpBr, 0, testenv.OpEnd}
	m, err := r.Load(ctx, testenv.Guest{InitBody: append(loop, testenv.I32Const(0)...)}.Bytes(), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Instantiate(ctx, m, runtime.InstanceConfig{Name: "loop", StartBudget: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = in.Init()
	if !errors.Is(err, runtime.ErrBudget) || !runtime.Crashed(err) {
		t.Fatalf("runaway init: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("interrupted after %v, budget 50ms", d)
	}
}

// TestMemoryGrowFails: growing past the module's limit fails (memory.grow
// returns -1) instead of taking host memory; growing within it works.
func TestMemoryGrowFails(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, "")
	for _, c := range []struct {
		pages int32
		want  uint32
	}{{1, 1}, {1000, 0xFFFFFFFF}} {
		// pk_init returns memory.grow(pages): the old size, or -1.
		body := append(testenv.I32Const(c.pages), 0x40, 0x00)
		m, err := r.Load(ctx, testenv.Guest{InitBody: body}.Bytes(), runtime.LoadOptions{MaxMemoryPages: 10})
		if err != nil {
			t.Fatal(err)
		}
		in, err := r.Instantiate(ctx, m, runtime.InstanceConfig{Name: fmt.Sprint("grow", c.pages)})
		if err != nil {
			t.Fatal(err)
		}
		e, err := in.Init()
		if err != nil || uint32(e) != c.want {
			t.Fatalf("grow(%d) = %#x, %v; want %#x", c.pages, uint32(e), err, c.want)
		}
		if c.want == 0xFFFFFFFF && in.MemoryBytes() != 65536 {
			t.Fatalf("memory after a failed grow: %d bytes", in.MemoryBytes())
		}
		in.Close(ctx)
		m.Release(ctx)
	}
}
