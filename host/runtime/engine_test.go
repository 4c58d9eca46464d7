package runtime

import (
	goruntime "runtime"
	"testing"
)

// TestEngine: forced interpretation wins; the platforms the tests run on
// (linux, darwin on amd64 and arm64) compile.
func TestEngine(t *testing.T) {
	if e := Engine(true); e != "interpreter" {
		t.Fatalf("Engine(true) = %q", e)
	}
	if (goruntime.GOOS == "linux" || goruntime.GOOS == "darwin") && (goruntime.GOARCH == "amd64" || goruntime.GOARCH == "arm64") {
		if e := Engine(false); e != "compiler" {
			t.Fatalf("Engine(false) on %s/%s = %q", goruntime.GOOS, goruntime.GOARCH, e)
		}
	}
}
