package guard

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/tests/syncbuf"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// goCheckOutput is what testdata/gocheck prints (the same natively).
const goCheckOutput = `squares: 332833500
words: the=3,fox=2,brown=1
fib: 75025
sha256: c5fdb0553a74a3a38c90532a4a6b14257a6a6c61e8214c94db29510d889d6364
float: 4.44288293816
recover: recovered
shapes: 19
done
`

// buildGoGuest compiles testdata/gocheck for wasip1. A missing toolchain
// fails the test: this is the check that matters most, it must not pass
// silently.
func buildGoGuest(t testing.TB) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go toolchain is needed to build the wasip1 guest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "gocheck.wasm")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "gocheck")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the wasip1 guest: %v\n%s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestGoGuest(t *testing.T) {
	orig := buildGoGuest(t)
	bin, err := Instrument(orig, Options{MaxMemoryPages: 4096})
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	t.Logf("go guest: %d bytes, %d instrumented", len(orig), len(bin))

	ctx := context.Background()
	r := newRuntime(t)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("wazero rejects the instrumented go guest: %v", err)
	}

	// start instantiates the guest without running it, so that the test
	// holds the module (and its interrupt global) while _start runs.
	start := func(t *testing.T, name string, stdout *syncbuf.Buffer, args ...string) (api.Module, <-chan error) {
		cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions().
			WithStdout(stdout).WithStderr(stdout).WithArgs(append([]string{"gocheck"}, args...)...)
		m, err := r.InstantiateModule(ctx, compiled, cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := m.ExportedFunction("_start").Call(ctx)
			var exit *sys.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 0 {
				err = nil
			}
			done <- err
		}()
		return m, done
	}

	t.Run("output", func(t *testing.T) {
		var stdout syncbuf.Buffer
		_, done := start(t, "run", &stdout)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("_start: %v\noutput:\n%s", err, stdout.String())
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("the go guest did not finish")
		}
		if got := stdout.String(); got != goCheckOutput {
			t.Fatalf("output:\n%s\nwant:\n%s", got, goCheckOutput)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		var stdout syncbuf.Buffer
		m, done := start(t, "spin", &stdout, "spin")
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(stdout.String(), "spinning") {
			if time.Now().After(deadline) {
				t.Fatalf("the guest did not start spinning; output:\n%s", stdout.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		runtime.GC() // hangs for ever if the guest never returns to Go
		time.Sleep(20 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("the spinning guest returned: %v", err)
		default:
		}
		m.ExportedGlobal(InterruptGlobal).(api.MutableGlobal).Set(1)
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("got %v, want an unreachable trap", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the go guest ignored the interrupt")
		}
	})
}
