package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/tests/testenv"
)

const echoPkg = "./tests/guests/echo"

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// collector subscribes to a topic through the API and gathers payloads.
type collector struct {
	mu   sync.Mutex
	got  []string
	more chan struct{}
}

func collect(t *testing.T, c *api.Client, topic string) *collector {
	t.Helper()
	col := &collector{more: make(chan struct{}, 1)}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Subscribe(ctx, topic, false, 0, func() { close(ready) }, func(ev api.Event) error {
		col.mu.Lock()
		col.got = append(col.got, string(ev.Payload()))
		col.mu.Unlock()
		select {
		case col.more <- struct{}{}:
		default:
		}
		return nil
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not ready")
	}
	return col
}

// wait returns once n payloads arrived.
func (c *collector) wait(t *testing.T, n int, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			out := append([]string(nil), c.got...)
			c.mu.Unlock()
			return out
		}
		have := len(c.got)
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", have, n)
		}
	}
}

func status(t *testing.T, c *api.Client) (st struct {
	Node struct {
		ID string `json:"id"`
	} `json:"node"`
	Modules []actor.Status `json:"modules"`
}) {
	t.Helper()
	raw, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func module(t *testing.T, c *api.Client, name string) actor.Status {
	t.Helper()
	for _, m := range status(t, c).Modules {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("module %s not in status", name)
	return actor.Status{}
}

func waitModule(t *testing.T, c *api.Client, name string, d time.Duration, ok func(actor.Status) bool) actor.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := module(t, c, name)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("module %s never reached the expected state: %+v", name, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd drives a node through the real binary: load a module,
// publish and receive through it, swap it while messages flow, load a
// runaway module and see it stopped while the others keep serving, unload.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	n := testenv.Start(t)
	c := n.Client()

	// status --json names the node and the embedded first-party module.
	var doc map[string]any
	if err := json.Unmarshal([]byte(n.MustCLI("status", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	vital := module(t, c, "vital")
	if vital.State != actor.StateRunning || len(vital.Version) != 64 || doc["node"].(map[string]any)["id"] == "" {
		t.Fatalf("status: vital %+v node %v", vital, doc["node"])
	}
	if out := n.MustCLI("topic", "sub", "vital/", "--prefix", "-n", "1"); !strings.Contains(out, `"modules"`) {
		t.Fatalf("vital record: %s", out)
	}

	v1 := writeFile(t, wasmbuild.Go(t, echoPkg, ""))
	v2 := writeFile(t, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("v2")))
	if out := n.MustCLI("module", "load", "echo", v1, "--budget", "300"); !strings.Contains(out, "loaded echo") {
		t.Fatalf("load: %s", out)
	}
	out := collect(t, c, "echo/out")
	n.MustCLI("topic", "pub", "echo/in", "hello")
	if got := out.wait(t, 1, 10*time.Second); got[0] != "hello" {
		t.Fatalf("echo/out got %q", got)
	}

	// Swap while messages flow.
	const flow = 300
	pubDone := make(chan error, 1)
	go func() {
		for i := range flow {
			if _, err := c.Publish(context.Background(), "echo/in", []byte(fmt.Sprint(i)), ""); err != nil {
				pubDone <- err
				return
			}
		}
		pubDone <- nil
	}()
	time.Sleep(20 * time.Millisecond)
	if sw := n.MustCLI("module", "swap", "echo", v2); !strings.Contains(sw, "swapped echo") {
		t.Fatalf("swap: %s", sw)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	got := out.wait(t, flow+1, 30*time.Second)
	for i := range flow {
		if got[i+1] != fmt.Sprint(i) {
			t.Fatalf("message %d = %q after swap", i, got[i+1])
		}
	}
	if tag := n.MustCLI("module", "call", "echo", "tag"); strings.TrimSpace(tag) != "v2" {
		t.Fatalf("after swap the module says %q", tag)
	}
	if cnt := n.MustCLI("module", "call", "echo", "count"); strings.TrimSpace(cnt) != fmt.Sprint(flow+1) {
		t.Fatalf("count carried across the swap = %q, want %d", cnt, flow+1)
	}

	// A runaway: the same guest as module "spin", told to loop forever.
	n.MustCLI("module", "load", "spin", v1, "--budget", "200")
	start := time.Now()
	n.MustCLI("topic", "pub", "spin/cmd", "spin")
	// Others keep serving while it spins and restarts.
	n.MustCLI("topic", "pub", "echo/in", "still-here")
	if got := out.wait(t, flow+2, 10*time.Second); got[flow+1] != "still-here" {
		t.Fatalf("echo during the runaway got %q", got[flow+1])
	}
	m := waitModule(t, c, "spin", 20*time.Second, func(m actor.Status) bool { return m.Restarts >= 1 && m.State == actor.StateRunning })
	if !strings.Contains(m.LastError, "budget") {
		t.Fatalf("spin last error %q", m.LastError)
	}
	t.Logf("runaway stopped and restarted in %v", time.Since(start))
	if logs := n.MustCLI("module", "logs", "spin"); !strings.Contains(logs, "budget") {
		t.Fatalf("spin logs do not explain the restart:\n%s", logs)
	}
	n.MustCLI("module", "unload", "spin")
	for _, m := range status(t, c).Modules {
		if m.Name == "spin" {
			t.Fatal("spin still listed after unload")
		}
	}
	if _, errOut, code := n.CLI("module", "call", "spin", "count"); code == 0 || !strings.Contains(errOut, "spin") {
		t.Fatalf("call to unloaded module: code %d %s", code, errOut)
	}
	if ls := n.MustCLI("module", "ls"); !strings.Contains(ls, "echo") || !strings.Contains(ls, "vital") {
		t.Fatalf("module ls:\n%s", ls)
	}
	if tl := n.MustCLI("topic", "ls"); !strings.Contains(tl, "echo/in") {
		t.Fatalf("topic ls:\n%s", tl)
	}
}

// TestSwapUnderLoad: one publisher sends N numbered messages while the
// module is swapped K times; every message arrives exactly once, in order.
func TestSwapUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	const N, K = 3000, 6
	n := testenv.Start(t)
	c := n.Client()
	ctx := context.Background()
	versions := [][]byte{wasmbuild.Go(t, echoPkg, ""), wasmbuild.Go(t, echoPkg, wasmbuild.Tag("v2"))}
	if _, err := c.Load(ctx, actor.Manifest{Name: "echo"}, versions[0]); err != nil {
		t.Fatal(err)
	}
	out := collect(t, c, "echo/out")
	pubDone := make(chan error, 1)
	go func() {
		for i := range N {
			if _, err := c.Publish(ctx, "echo/in", []byte(fmt.Sprint(i)), ""); err != nil {
				pubDone <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		pubDone <- nil
	}()
	var pauses []time.Duration
	for k := range K {
		time.Sleep(50 * time.Millisecond)
		res, err := c.Swap(ctx, actor.Manifest{Name: "echo"}, versions[(k+1)%2])
		if err != nil {
			t.Fatalf("swap %d: %v", k, err)
		}
		pauses = append(pauses, res.Pause)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	got := out.wait(t, N, 60*time.Second)
	time.Sleep(100 * time.Millisecond)
	got = out.wait(t, N, time.Second)
	if len(got) != N {
		t.Fatalf("got %d messages, want exactly %d", len(got), N)
	}
	for i, g := range got {
		if g != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: lost, duplicated or reordered", i, g)
		}
	}
	m := module(t, c, "echo")
	if m.Swaps != K || m.Dropped != 0 || m.Crashes != 0 {
		t.Fatalf("after the swaps: %+v", m)
	}
	t.Logf("%d messages, %d swaps, pauses %v", N, K, pauses)
}

// TestBadModules: each kind of bad module gets a clear error and the node
// keeps running with its modules untouched.
func TestBadModules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	n := testenv.Start(t)
	c := n.Client()
	ctx := context.Background()
	if _, err := c.Load(ctx, actor.Manifest{Name: "echo"}, wasmbuild.Go(t, echoPkg, "")); err != nil {
		t.Fatal(err)
	}
	kvPut := testenv.Import{Module: "pk", Name: "kv_put", Params: []byte{testenv.I32, testenv.I32, testenv.I32, testenv.I32}, Results: []byte{testenv.I32}}
	cases := []struct {
		name     string
		wasm     []byte
		manifest actor.Manifest
		want     []string
	}{
		{"malformed", []byte("this is not wasm"), actor.Manifest{}, []string{"malformed"}},
		{"truncated", testenv.Guest{}.Bytes()[:30], actor.Manifest{}, []string{"malformed"}},
		{"abi-v2", testenv.Guest{ABIVersion: 2 << 16}.Bytes(), actor.Manifest{}, []string{"built for pk ABI v2.0", "this host speaks v1.1"}},
		{"ungranted", testenv.Guest{Imports: []testenv.Import{kvPut}}.Bytes(), actor.Manifest{Grants: []abi.Group{abi.GroupLog}}, []string{"pk.kv_put", `group "kv"`, "does not grant"}},
		{"unknown-syscall", testenv.Guest{Imports: []testenv.Import{{Module: "pk", Name: "fork", Results: []byte{testenv.I32}}}}.Bytes(), actor.Manifest{}, []string{"pk.fork", "not a syscall"}},
		{"foreign-import", testenv.Guest{Imports: []testenv.Import{{Module: "env", Name: "abort"}}}.Bytes(), actor.Manifest{}, []string{"env.abort"}},
		{"trap-in-init", testenv.Guest{InitBody: []byte{testenv.OpUnreach}}.Bytes(), actor.Manifest{}, []string{"init", "unreachable"}},
		{"init-error", testenv.Guest{InitBody: testenv.I32Const(2)}.Bytes(), actor.Manifest{}, []string{"pk_init returned EINVAL"}},
		{"memory-too-big", testenv.Guest{MemoryPages: 100}.Bytes(), actor.Manifest{MemoryMiB: 1}, []string{"memory limit", "100", "16"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.manifest
			m.Name = "bad-" + tc.name
			_, err := c.Load(ctx, m, tc.wasm)
			if err == nil {
				t.Fatal("load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ae *api.APIError
			if !errors.As(err, &ae) || ae.Status != 422 {
				t.Errorf("HTTP status %v, want 422", err)
			}
			if reply, err := c.Call(ctx, "echo", []byte("tag"), 0); err != nil || string(reply) != "v1" {
				t.Fatalf("node stopped serving after a bad load: %q %v", reply, err)
			}
		})
	}
	for _, m := range status(t, c).Modules {
		if strings.HasPrefix(m.Name, "bad-") {
			t.Errorf("failed load left %s behind", m.Name)
		}
	}

	// A memory bomb at run time: the guest's grow fails, it crashes, the
	// supervisor restarts it; the node and its other modules are untouched.
	if _, err := c.Load(ctx, actor.Manifest{Name: "bomb", MemoryMiB: 48, BudgetMS: 20000}, wasmbuild.Go(t, echoPkg, "")); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx, "bomb/cmd", []byte("bomb"), "")
	m := waitModule(t, c, "bomb", 30*time.Second, func(m actor.Status) bool { return m.Crashes >= 1 })
	if m.MemoryLimit != 48<<20 {
		t.Errorf("memory limit %d", m.MemoryLimit)
	}
	waitModule(t, c, "bomb", 30*time.Second, func(m actor.Status) bool { return m.State == actor.StateRunning })
	if reply, err := c.Call(ctx, "bomb", []byte("tag"), 0); err != nil || string(reply) != "v1" {
		t.Fatalf("bomb after restart: %q %v", reply, err)
	}
	if reply, err := c.Call(ctx, "echo", []byte("tag"), 0); err != nil || string(reply) != "v1" {
		t.Fatalf("echo after the bomb: %q %v", reply, err)
	}
	if !strings.Contains(m.LastError, "mallocgc") {
		t.Errorf("bomb did not die allocating: %s", m.LastError)
	}

	// A crash loop is quarantined, visibly in `pkhost status`, and the node
	// goes on; a swap brings the module back.
	if _, err := c.Load(ctx, actor.Manifest{Name: "crashy"}, wasmbuild.Go(t, echoPkg, "")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for module(t, c, "crashy").State != actor.StateQuarantined {
		if time.Now().After(deadline) {
			t.Fatalf("crashy never quarantined: %+v", module(t, c, "crashy"))
		}
		if module(t, c, "crashy").State == actor.StateRunning {
			c.Publish(ctx, "crashy/cmd", []byte("exit"), "")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := n.MustCLI("status")
	if !strings.Contains(out, "quarantined") || !strings.Contains(out, "exited with code 3") {
		t.Fatalf("status does not show the quarantine:\n%s", out)
	}
	if reply, err := c.Call(ctx, "echo", []byte("tag"), 0); err != nil || string(reply) != "v1" {
		t.Fatalf("echo during the quarantine: %q %v", reply, err)
	}
	if _, err := c.Swap(ctx, actor.Manifest{Name: "crashy"}, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("fixed"))); err != nil {
		t.Fatal(err)
	}
	if reply, err := c.Call(ctx, "crashy", []byte("tag"), 0); err != nil || string(reply) != "fixed" {
		t.Fatalf("crashy after the swap: %q %v", reply, err)
	}
}

// TestRestartKeepsModulesAndState: a node stopped and started again on its
// data directory runs the same modules with their state and kv data.
func TestRestartKeepsModulesAndState(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	n := testenv.Start(t)
	c := n.Client()
	ctx := context.Background()
	if _, err := c.Load(ctx, actor.Manifest{Name: "echo"}, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("kept"))); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.Publish(ctx, "echo/in", []byte(fmt.Sprint(i)), "")
	}
	c.Publish(ctx, "echo/cmd", []byte("kv"), "")
	waitModule(t, c, "echo", 10*time.Second, func(m actor.Status) bool { return m.Events >= 7 })
	n.Stop()

	n2 := testenv.StartOn(t, n.Data)
	c2 := n2.Client()
	if reply, err := c2.Call(ctx, "echo", []byte("count"), 0); err != nil || string(reply) != "5" {
		t.Fatalf("count after restart = %q %v", reply, err)
	}
	if reply, _ := c2.Call(ctx, "echo", []byte("tag"), 0); string(reply) != "kept" {
		t.Fatalf("restarted the wrong version: %q", reply)
	}
	if module(t, c2, "vital").State != actor.StateRunning {
		t.Fatal("vital not running after restart")
	}
}
