package kernel

import (
	"context"
	"strings"
	"testing"
)

func TestSources(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64", "rpi"} {
		s, ok := Sources[arch]
		if !ok || !strings.HasPrefix(s.Module, "github.com/gokrazy/kernel.") || !strings.HasPrefix(s.Version, "v0.0.0-") || s.Console == "" {
			t.Errorf("%s: %+v (want a pinned gokrazy kernel with a console)", arch, s)
		}
	}
	if _, err := Fetch(context.Background(), "sparc"); err == nil {
		t.Error("no error for an architecture without a kernel")
	}
	if _, err := FetchDebian(context.Background(), "m68k", t.TempDir()); err == nil {
		t.Error("no error for an unknown Debian flavour")
	}
}
