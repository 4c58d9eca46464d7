//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// TestPrefilter builds the module, runs it on a node, and checks it passes
// normal readings, drops outliers and garbage, and keeps its totals across a
// hot swap.
func TestPrefilter(t *testing.T) {
	ctx := context.Background()
	n, err := node.New(ctx, node.Config{DataDir: filepath.Join(t.TempDir(), "node"), NoEmbedded: true, CompileCacheDir: wasmbuild.SharedCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	clean, dropped := bus.NewInbox(1000), bus.NewInbox(1000)
	n.Bus().Subscribe(clean, "sensor/clean", false)
	n.Bus().Subscribe(dropped, "sensor/dropped", false)
	wasm := wasmbuild.Go(t, "./examples/prefilter", "")
	if _, err := n.Load(ctx, node.Manifest{Name: "prefilter"}, wasm); err != nil {
		t.Fatal(err)
	}
	readings := []string{"20.0", "20.5", "19.5", "20.2", "19.8", "20.1", "19.9", "20.3", "20.0", "95.0", "20.4", "oops", "-40", "19.7"}
	for _, r := range readings {
		if _, e := n.Bus().Publish(nil, "sensor/raw", []byte(r), abi.KindAny, time.Second); e != abi.OK {
			t.Fatal(e)
		}
	}
	next := func(in *bus.Inbox) string {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		m, err := in.Next(ctx)
		if err != nil {
			t.Fatal("timed out waiting for the prefilter")
		}
		return string(m.Data)
	}
	var got []string
	for range 11 {
		got = append(got, next(clean))
	}
	want := []string{"20.0", "20.5", "19.5", "20.2", "19.8", "20.1", "19.9", "20.3", "20.0", "20.4", "19.7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("clean = %v, want %v", got, want)
	}
	for _, wantIn := range []string{`"value":95`, `not a number`, `"value":-40`} {
		if d := next(dropped); !strings.Contains(d, wantIn) {
			t.Fatalf("dropped %s, want it to mention %s", d, wantIn)
		}
	}
	// Totals survive a hot swap (same code, different bytes).
	if _, err := n.Swap(ctx, node.Manifest{Name: "prefilter"}, append(append([]byte{}, wasm...), 0, 3, 1, 'x', 0)); err != nil {
		t.Fatal(err)
	}
	reply, err := n.Actors().Call(ctx, "prefilter", []byte("k=2.5"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Seen, Passed, Dropped, Invalid uint64
		K                              float64
	}
	if err := json.Unmarshal(reply, &st); err != nil || st.Seen != 14 || st.Passed != 11 || st.Dropped != 2 || st.Invalid != 1 || st.K != 2.5 {
		t.Fatalf("stats after swap = %s (%v)", reply, err)
	}
}
