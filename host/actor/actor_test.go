package actor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
	"github.com/p-kernel/p-kernel/host/syscall"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

const echoPkg = "./tests/guests/echo"

type env struct {
	sys *System
	bus *bus.Bus
	st  *store.Store
	rt  *runtime.Runtime
}

func newEnv(t *testing.T, p Policy, opts ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: wasmbuild.SharedCacheDir(), HostModules: syscall.Instantiate})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New()
	cfg := Config{NodeID: "test", Runtime: rt, Bus: b, Store: st, Policy: p}
	for _, o := range opts {
		o(&cfg)
	}
	s := New(cfg)
	t.Cleanup(func() {
		s.Close(ctx)
		rt.Close(ctx)
		st.Close()
	})
	return &env{s, b, st, rt}
}

func recv(t *testing.T, in *bus.Inbox, d time.Duration) bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := in.Next(ctx)
	if err != nil {
		t.Fatalf("no message within %v", d)
	}
	return m
}

func waitState(t *testing.T, a *Actor, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for a.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want %q (last error %q)", a.State(), want, a.Status().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEchoSwapAndState(t *testing.T) {
	e := newEnv(t, Policy{})
	ctx := context.Background()
	out := bus.NewInbox(100)
	e.bus.Subscribe(out, "echo/out", false)
	a, err := e.sys.Load(ctx, Manifest{Name: "echo"}, wasmbuild.Go(t, echoPkg, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.bus.Publish(nil, "echo/in", []byte(fmt.Sprint(i)), abi.KindAny, time.Second)
	}
	for i := range 3 {
		if m := recv(t, out, 5*time.Second); string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("got %q want %d", m.Data, i)
		}
	}
	reply, err := e.sys.Call(ctx, "echo", []byte("count"), 0)
	if err != nil || string(reply) != "3" {
		t.Fatalf("count = %q, %v", reply, err)
	}
	res, err := e.sys.Swap(ctx, Manifest{Name: "echo"}, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("v2")))
	if err != nil {
		t.Fatal(err)
	}
	if res.From == res.To || res.StateBytes != 8 {
		t.Fatalf("swap result %+v", res)
	}
	if reply, _ := e.sys.Call(ctx, "echo", []byte("tag"), 0); string(reply) != "v2" {
		t.Fatalf("tag after swap = %q", reply)
	}
	if reply, _ := e.sys.Call(ctx, "echo", []byte("count"), 0); string(reply) != "3" {
		t.Fatalf("count after swap = %q", reply)
	}
	st := a.Status()
	if st.Swaps != 1 || st.State != StateRunning || st.Version != res.To || len(st.Subscriptions) != 2 {
		t.Fatalf("status %+v", st)
	}
	// A bad new version leaves the old one running.
	if _, err := e.sys.Swap(ctx, Manifest{Name: "echo"}, []byte("\x00asm garbage")); !errors.Is(err, runtime.ErrMalformed) {
		t.Fatalf("bad swap err = %v", err)
	}
	if reply, _ := e.sys.Call(ctx, "echo", []byte("tag"), 0); string(reply) != "v2" {
		t.Fatalf("tag after failed swap = %q", reply)
	}
}

func TestCrashRestartAndQuarantine(t *testing.T) {
	e := newEnv(t, Policy{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, CrashLimit: 3})
	ctx := context.Background()
	out := bus.NewInbox(100)
	e.bus.Subscribe(out, "echo/out", false)
	a, err := e.sys.Load(ctx, Manifest{Name: "echo", BudgetMS: 100, CheckpointMS: 10}, wasmbuild.Go(t, echoPkg, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.bus.Publish(nil, "echo/in", []byte("a"), abi.KindAny, time.Second)
	recv(t, out, 5*time.Second)
	time.Sleep(50 * time.Millisecond) // let a checkpoint catch count=1
	for i, cmd := range []string{"spin", "trap"} {
		start := time.Now()
		e.bus.Publish(nil, "echo/cmd", []byte(cmd), abi.KindAny, time.Second)
		waitState(t, a, StateRestarting, 5*time.Second)
		if cmd == "spin" && time.Since(start) > 2*time.Second {
			t.Fatalf("runaway stopped only after %v", time.Since(start))
		}
		waitState(t, a, StateRunning, 5*time.Second)
		if st := a.Status(); st.Restarts != uint64(i+1) || !strings.Contains(st.LastError, map[string]string{"spin": "budget", "trap": "trap"}[cmd]) {
			t.Fatalf("after %s: %+v", cmd, st)
		}
		if reply, _ := e.sys.Call(ctx, "echo", []byte("count"), 0); string(reply) != "1" {
			t.Fatalf("count after restart = %q", reply)
		}
	}
	e.bus.Publish(nil, "echo/cmd", []byte("exit"), abi.KindAny, time.Second)
	waitState(t, a, StateQuarantined, 5*time.Second)
	if _, err := e.sys.Call(ctx, "echo", []byte("count"), 0); !errors.Is(err, abi.EUNAVAILABLE) {
		t.Fatalf("call to quarantined = %v", err)
	}
	// A swap revives it.
	if _, err := e.sys.Swap(ctx, Manifest{Name: "echo"}, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("fixed"))); err != nil {
		t.Fatal(err)
	}
	if reply, _ := e.sys.Call(ctx, "echo", []byte("count"), 0); string(reply) != "1" {
		t.Fatalf("count after revive = %q", reply)
	}
}
