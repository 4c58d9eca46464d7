package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// TestPolyglotGuestsOnRealHost loads the committed C, WAT, AssemblyScript,
// Zig and Rust guests (examples/polyglot/testdata; rebuilt from source by
// examples/polyglot/check-rebuild.sh in CI) into a real node and exercises
// each: message in, message out, a call, state across a hot swap.
func TestPolyglotGuestsOnRealHost(t *testing.T) {
	ctx := context.Background()
	n, err := node.New(ctx, node.Config{DataDir: t.TempDir(), NoEmbedded: true, CompileCacheDir: wasmbuild.SharedCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	root, _ := wasmbuild.Root()
	dir := os.Getenv("POLYGLOT_FIXTURES")
	if dir == "" {
		dir = filepath.Join(root, "examples", "polyglot", "testdata")
	}
	for _, lang := range []string{"c", "wat", "assemblyscript", "zig", "rust"} {
		t.Run(lang, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(dir, lang+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			out := bus.NewInbox(10)
			n.Bus().Subscribe(out, "poly/"+lang+"/out", false)
			defer n.Bus().Remove(out)
			grants := []abi.Group{abi.GroupCore, abi.GroupLog, abi.GroupBus, abi.GroupCall}
			if _, err := n.Load(ctx, node.Manifest{Name: "poly-" + lang, Grants: grants}, wasm); err != nil {
				t.Fatal(err)
			}
			recv := func(want string) {
				t.Helper()
				n.Bus().Publish(nil, "poly/"+lang+"/in", []byte("hello"), abi.KindAny, time.Second)
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				m, err := out.Next(cctx)
				if err != nil || string(m.Data) != want {
					t.Fatalf("got %q (%v), want %q", m.Data, err, want)
				}
			}
			recv(lang + ":hello:1")
			// Same code, different bytes (a custom section): a real swap
			// that must carry the counter over.
			swapped := append(append([]byte{}, wasm...), 0, 5, 3, 'p', 'k', 'x', 1)
			if _, err := n.Swap(ctx, node.Manifest{Name: "poly-" + lang}, swapped); err != nil {
				t.Fatal(err)
			}
			recv(lang + ":hello:2")
			if reply, err := n.Actors().Call(ctx, "poly-"+lang, nil, time.Second); err != nil || string(reply) != "2" {
				t.Fatalf("call = %q, %v", reply, err)
			}
			lines, _ := n.Actors().Get("poly-" + lang)
			found := false
			for _, l := range lines.Logs() {
				found = found || l.Msg == "ready"
			}
			if !found {
				t.Errorf("the guest's log(ready) did not reach the module log: %+v", lines.Logs())
			}
		})
	}
}
