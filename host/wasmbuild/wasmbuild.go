// Package wasmbuild compiles Go guests (GOOS=wasip1, -buildmode=c-shared)
// for tests, benchmarks and the build of the embedded first-party modules.
// Builds are cached per process. It imports only the stdlib.
package wasmbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

var (
	mu    sync.Mutex
	cache = map[string][]byte{}
	tmp   string
)

// Root finds the repository root (the directory holding go.mod) above the
// working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles the package at pkg (relative to the repository root, e.g.
// "./modules/vital") into out, with optional -ldflags.
func Build(ctx context.Context, pkg, ldflags, out string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// TB is the part of testing.TB this package needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Go returns the wasm bytes of the Go guest at pkg built with ldflags,
// failing the test if it does not build.
func Go(t TB, pkg, ldflags string) []byte {
	t.Helper()
	b, err := GoBytes(pkg, ldflags)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return b
}

// GoBytes is Go without a test.
func GoBytes(pkg, ldflags string) ([]byte, error) {
	key := pkg + "|" + ldflags
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[key]; ok {
		return b, nil
	}
	if tmp == "" {
		d, err := os.MkdirTemp("", "pk-wasmbuild-")
		if err != nil {
			return nil, err
		}
		tmp = d
	}
	out := filepath.Join(tmp, fmt.Sprintf("%d.wasm", len(cache)))
	if err := Build(context.Background(), pkg, ldflags, out); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	cache[key] = b
	return b, nil
}

// Tag returns ldflags that set main.tag, to build distinct versions of a
// test guest.
func Tag(tag string) string { return "-X main.tag=" + strings.TrimSpace(tag) }

// SharedCacheDir is a compilation cache directory shared by the tests of one
// machine, so each distinct guest is compiled to machine code once per run
// rather than once per test. Set PKHOST_TEST_CACHE to move it.
func SharedCacheDir() string {
	if d := os.Getenv("PKHOST_TEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "pk-test-compile-cache")
}
