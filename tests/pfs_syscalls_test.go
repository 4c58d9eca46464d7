package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/tests/testenv"
)

// TestPFSSyscalls: on two pkhost processes, a module granted fs writes a
// file through the fs syscalls, reads, stats and lists it; people see the
// same file with `pkhost fs cat --ns shared` on the other node, and a module
// there reads it back. A module not granted fs does not load, and the error
// names the syscall (abi/README.md § fs, § p-fs).
func TestPFSSyscalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 2)
	ctx := context.Background()
	wasm := wasmbuild.Go(t, "./tests/guests/fsprobe", "")
	m := actor.Manifest{Name: "fsp", Grants: append(abi.DefaultGrants(), abi.GroupFS), BudgetMS: 10000}
	for _, n := range nodes {
		if _, err := n.Client().Load(ctx, m, wasm); err != nil {
			t.Fatal(err)
		}
	}
	call := func(n *testenv.Node, req string) string {
		t.Helper()
		reply, err := n.Client().Call(ctx, "fsp", []byte(req), 15*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		return string(reply)
	}
	put := call(nodes[0], "put notes/hello.txt hello+from+a+module")
	id, ok := strings.CutPrefix(put, "OK ")
	if !ok {
		t.Fatalf("put = %q", put)
	}
	for req, want := range map[string]string{
		"read notes/hello.txt 0 100": "OK hello from a module",
		"read notes/hello.txt 6 4":   "OK from",
		"stat notes/hello.txt":       "OK 19 " + id + " 1 true",
		"list notes/":                "OK notes/hello.txt",
		"read " + id + " 11 100":     "OK a module",
	} {
		if got := call(nodes[0], req); got != want {
			t.Errorf("%s = %q, want %q", req, got, want)
		}
	}
	// The name reaches the other node by gossip.
	deadline := time.Now().Add(30 * time.Second)
	for got := ""; got != "OK hello from a module"; got = call(nodes[1], "read notes/hello.txt 0 100") {
		if time.Now().After(deadline) {
			t.Fatalf("node 2 reads %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := nodes[1].MustCLI("fs", "cat", "--ns", "shared", "notes/hello.txt"); out != "hello from a module" {
		t.Errorf("pkhost fs cat --ns shared = %q", out)
	}
	if out := nodes[1].MustCLI("fs", "cat", id); out != "hello from a module" {
		t.Errorf("pkhost fs cat ID = %q", out)
	}
	if got := call(nodes[1], "rm notes/hello.txt"); got != "OK" {
		t.Errorf("rm = %q", got)
	}
	if _, errOut, code := nodes[1].CLI("fs", "cat", "--ns", "shared", "notes/hello.txt"); code == 0 {
		t.Errorf("cat after rm succeeded (%s)", errOut)
	}

	m.Name, m.Grants = "nofs", nil
	_, err := nodes[0].Client().Load(ctx, m, wasm)
	if err == nil || !strings.Contains(err.Error(), "pk.fs_") || !strings.Contains(err.Error(), `group "fs"`) {
		t.Fatalf("load without the fs grant: %v", err)
	}
}
