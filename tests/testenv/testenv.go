// Package testenv runs real pkhost processes for the end-to-end and fault
// tests: it builds the binary (with the first-party modules embedded) once
// per test process, starts nodes in temp directories, drives them through
// the CLI and the control API, and fails a test whose node logged a panic or
// a data race. Only tests import it.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/host/embed"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/tests/syncbuf"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a pkhost built from this tree. The embedded
// first-party modules are built first if missing (as `make modules` does).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := wasmbuild.Root()
		if err != nil {
			buildErr = err
			return
		}
		for _, m := range embed.Expected() {
			out := filepath.Join(root, "host", "embed", "wasm", m+".wasm")
			if _, err := os.Stat(out); err == nil {
				continue
			}
			tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
			if err := wasmbuild.Build(context.Background(), "./modules/"+m, "", tmp); err != nil {
				buildErr = err
				return
			}
			os.Rename(tmp, out)
		}
		dir, err := os.MkdirTemp("", "pkhost-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pkhost")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./host/cmd/pkhost")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build pkhost: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Node is a running pkhost process.
type Node struct {
	t      testing.TB
	Data   string
	faults string
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	done   chan struct{}
	err    error
}

// Start runs `pkhost run` on a new data directory and waits until its API
// answers. The node is stopped (SIGINT) at cleanup.
func Start(t testing.TB, extra ...string) *Node {
	t.Helper()
	return StartOn(t, filepath.Join(t.TempDir(), "data"), extra...)
}

// StartOn is Start on a given data directory (to restart a node).
func StartOn(t testing.TB, data string, extra ...string) *Node {
	t.Helper()
	bin := Binary(t)
	n := &Node{t: t, Data: data, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	args := []string{"run", "--data", data, "--log-level", "debug"}
	if !slices.Contains(extra, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	n.cmd = exec.Command(bin, append(args, extra...)...)
	n.faults = data + ".faults"
	n.cmd.Env = append(os.Environ(), "PKHOST_COMPILE_CACHE="+wasmbuild.SharedCacheDir(), "PKHOST_FAST_CLUSTER=1",
		"PKHOST_FAULT_FILE="+n.faults)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	os.Remove(filepath.Join(data, "api"))
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.Stop() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		if c, err := api.Dial(data); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			_, err = c.Status(ctx)
			cancel()
			if err == nil {
				return n
			}
		}
		select {
		case <-n.done:
			t.Fatalf("pkhost exited before serving: %v\n%s", n.err, n.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pkhost did not start within 90s\n%s", n.log)
		}
	}
}

// Client returns a control API client for the node.
func (n *Node) Client() *api.Client {
	n.t.Helper()
	c, err := api.Dial(n.Data)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// Log is what the node printed so far.
func (n *Node) Log() string { return n.log.String() }

// CLI runs a pkhost command against the node and returns its output and
// exit code.
func (n *Node) CLI(args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(Binary(n.t), append(args, "--data", n.Data)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		n.t.Fatalf("pkhost %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// MustCLI is CLI that fails the test on a non-zero exit.
func (n *Node) MustCLI(args ...string) string {
	n.t.Helper()
	out, errOut, code := n.CLI(args...)
	if code != 0 {
		n.t.Fatalf("pkhost %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// Stop interrupts the node, waits for a clean exit, and checks its log.
func (n *Node) Stop() {
	select {
	case <-n.done:
	default:
		n.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-n.done:
		case <-time.After(30 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
			n.t.Errorf("pkhost did not stop within 30s of SIGINT\n%s", n.log)
		}
	}
	n.checkLog()
}

// Kill stops the node with SIGKILL (no clean shutdown).
func (n *Node) Kill() {
	n.cmd.Process.Kill()
	<-n.done
}

// checkLog fails the test if the host (not a guest: guest output is
// tagged stream=stdout|stderr) panicked or raced.
func (n *Node) checkLog() {
	lines := strings.Split(n.log.String(), "\n")
	for i, line := range lines {
		if strings.Contains(line, "stream=std") {
			continue
		}
		for _, bad := range []string{"panic:", "DATA RACE", "fatal error:"} {
			if strings.Contains(line, bad) {
				n.t.Errorf("node log contains %q:\n%s", bad, strings.Join(lines[i:min(i+40, len(lines))], "\n"))
				return
			}
		}
	}
}

// MeshAddr is the node's cluster mesh address (from its status).
func (n *Node) MeshAddr() string {
	n.t.Helper()
	ci, err := n.Client().Nodes(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return ci.Addr
}

// Exited reports whether the process has ended, and its error.
func (n *Node) Exited() (bool, error) {
	select {
	case <-n.done:
		return true, n.err
	default:
		return false, nil
	}
}

// Run runs `pkhost run` expecting it to fail, and returns its output.
func RunFailing(t testing.TB, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "PKHOST_COMPILE_CACHE="+wasmbuild.SharedCacheDir(), "PKHOST_FAST_CLUSTER=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Block makes the node drop all mesh traffic to and from the given mesh
// addresses (a network partition, as far as it can tell); Block() heals.
func (n *Node) Block(addrs ...string) {
	n.t.Helper()
	if err := os.WriteFile(n.faults, []byte(strings.Join(addrs, "\n")+"\n"), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// Topic returns the current value of a latest-value topic on the node.
func (n *Node) Topic(topic string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var v string
	n.Client().Subscribe(ctx, topic, false, 1, nil, func(ev api.Event) error { v = string(ev.Payload()); return nil })
	return v
}
