package bench

// 5. Module load: runtime.New + Load + Instantiate of the Go guest
// (tests/guests/echo, a few MiB of wasm) with
//
//   - cache=cold: an empty CacheDir (guard instrumentation + full compile);
//   - cache=warm: a new Runtime on a CacheDir that already holds the
//     compiled code (instrumentation + reading the cached machine code);
//   - cache=hot: Load on a runtime that already holds the compiled module
//     (a reference count and the grant check; no runtime.New).
//
// Instantiate runs the Go runtime's _initialize and the ABI version check.
// Closing the instance and the runtime and removing the directory are not
// timed.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/syscall"
)

// loadAndStart is the measured step: Load and Instantiate.
func loadAndStart(tb testing.TB, rt *runtime.Runtime, wasm []byte) (*runtime.Module, *runtime.Instance) {
	ctx := context.Background()
	m, err := rt.Load(ctx, wasm, runtime.LoadOptions{Grants: abi.DefaultGrants()})
	if err != nil {
		tb.Fatal(err)
	}
	h := &testHost{start: time.Now()}
	in, err := rt.Instantiate(ctx, m, runtime.InstanceConfig{Name: instName("load"), Context: syscall.WithHost(ctx, h)})
	if err != nil {
		tb.Fatal(err)
	}
	h.in = in
	return m, in
}

// coldStart creates a runtime on dir and loads and starts wasm in it.
func coldStart(tb testing.TB, dir string, wasm []byte) (*runtime.Runtime, *runtime.Module, *runtime.Instance) {
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: dir, HostModules: syscall.Instantiate})
	if err != nil {
		tb.Fatal(err)
	}
	m, in := loadAndStart(tb, rt, wasm)
	return rt, m, in
}

func closeAll(rt *runtime.Runtime, m *runtime.Module, in *runtime.Instance) {
	ctx := context.Background()
	in.Close(ctx)
	m.Release(ctx)
	if rt != nil {
		rt.Close(ctx)
	}
}

func cacheFiles(tb testing.TB, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestLoad(t *testing.T) {
	wasm := goGuest(t, "v1")
	dir := t.TempDir()
	rt, m, in := coldStart(t, dir, wasm)
	if in.ABIVersion() != abi.Version(abi.Major, abi.Minor) { // a Go guest built with sdk/go
		t.Fatalf("ABI version %#x", in.ABIVersion())
	}
	m2, in2 := loadAndStart(t, rt, wasm) // hot: the same compiled module
	if m2 != m || m.Refs() != 2 {
		t.Fatalf("hot load did not share the module (refs %d)", m.Refs())
	}
	closeAll(nil, m2, in2)
	closeAll(rt, m, in)
	if cacheFiles(t, dir) == 0 {
		t.Fatal("the compilation cache is empty after a cold load")
	}
	closeAll(coldStart(t, dir, wasm)) // warm
}

func BenchmarkLoad(b *testing.B) {
	wasm := goGuest(b, "v1")
	b.Run("cache=cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			dir, err := os.MkdirTemp("", "pk-bench-cold-")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			rt, m, in := coldStart(b, dir, wasm)
			b.StopTimer()
			closeAll(rt, m, in)
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
	b.Run("cache=warm", func(b *testing.B) {
		b.ReportAllocs()
		dir := b.TempDir()
		closeAll(coldStart(b, dir, wasm))
		for b.Loop() {
			rt, m, in := coldStart(b, dir, wasm)
			b.StopTimer()
			closeAll(rt, m, in)
			b.StartTimer()
		}
	})
	b.Run("cache=hot", func(b *testing.B) {
		b.ReportAllocs()
		rt, m0, in0 := coldStart(b, b.TempDir(), wasm)
		defer closeAll(rt, m0, in0)
		for b.Loop() {
			m, in := loadAndStart(b, rt, wasm)
			b.StopTimer()
			closeAll(nil, m, in)
			b.StartTimer()
		}
	})
}
