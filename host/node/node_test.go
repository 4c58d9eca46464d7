package node

import (
	"context"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// TestNodeRemembersModules: load, swap and unload are remembered across a
// restart of the node on the same data directory, with the module's state.
func TestNodeRemembersModules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NoEmbedded: true, CompileCacheDir: wasmbuild.SharedCacheDir()}
	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := n.ID()
	v1 := wasmbuild.Go(t, "./tests/guests/echo", "")
	v2 := wasmbuild.Go(t, "./tests/guests/echo", wasmbuild.Tag("v2"))
	if _, err := n.Load(ctx, actor.Manifest{Name: "keep", BudgetMS: 500}, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Load(ctx, actor.Manifest{Name: "gone"}, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Swap(ctx, actor.Manifest{Name: "keep"}, v2); err != nil {
		t.Fatal(err)
	}
	n.Bus().Publish(nil, "keep/in", []byte("x"), 0, time.Second)
	time.Sleep(100 * time.Millisecond)
	if err := n.Unload(ctx, "gone", true); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, cfg); err == nil {
		t.Fatal("a second node opened the same data directory")
	}
	n.Close(ctx)

	n, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if n.ID() != id {
		t.Fatalf("identity changed: %s -> %s", id, n.ID())
	}
	mods := n.Actors().Statuses()
	if len(mods) != 1 || mods[0].Name != "keep" {
		t.Fatalf("after restart: %+v", mods)
	}
	for req, want := range map[string]string{"tag": "v2", "count": "1"} {
		if reply, err := n.Actors().Call(ctx, "keep", []byte(req), time.Second); err != nil || string(reply) != want {
			t.Fatalf("%s = %q %v, want %q", req, reply, err, want)
		}
	}
	// The swap kept the manifest given at load (fields it left zero).
	if m := n.records()["keep"].Manifest; m.BudgetMS != 500 {
		t.Fatalf("after swap and restart the budget is %d ms, want the 500 given at load", m.BudgetMS)
	}
}
