package boot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/boot/image"
	"github.com/p-kernel/p-kernel/boot/initramfs"
)

// need skips or fails a test that needs the boot test setup: opted in with
// PK_BOOT_TESTS=1 and the QEMU binary for arch installed. Under CI a
// missing tool is a failure, never a silent pass.
func need(t *testing.T, qemu string) {
	t.Helper()
	if os.Getenv("PK_BOOT_TESTS") == "" {
		t.Skip("boot tests boot QEMU for minutes: set PK_BOOT_TESTS=1 (.ci/run does)")
	}
	if _, err := exec.LookPath(qemu); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (apt-get install qemu-system-x86 qemu-system-arm)", qemu)
		}
		t.Skipf("%s is not installed (apt-get install qemu-system-x86 qemu-system-arm)", qemu)
	}
}

var (
	imgMu  sync.Mutex
	images = map[string]*image.Image{}
)

// buildImage builds the image of arch once per test binary.
func buildImage(t *testing.T, arch string) *image.Image {
	t.Helper()
	imgMu.Lock()
	defer imgMu.Unlock()
	if img := images[arch]; img != nil {
		return img
	}
	dir := filepath.Join(os.TempDir(), "pk-boot-test-"+arch)
	start := time.Now()
	img, err := image.Build(context.Background(), image.Options{Arch: arch, Out: dir, Root: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the %s image in %s (%s)", arch, time.Since(start).Round(time.Second), img.KernelPkg)
	images[arch] = img
	return img
}

// withFiles returns an initrd that is img's initramfs followed by a second
// archive holding files: the kernel unpacks concatenated archives in turn.
func withFiles(t *testing.T, img *image.Image, files map[string][]byte) string {
	t.Helper()
	base, err := os.ReadFile(img.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(base)
	zw := gzip.NewWriter(&buf)
	w := initramfs.NewWriter(zw)
	for name, b := range files {
		if err := w.File(name, 0o644, b); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "initrd.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// VM is one QEMU machine with its serial console on stdin/stdout.
type VM struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	start time.Time

	mu    sync.Mutex
	lines []string
	at    []time.Duration // when each line arrived, since start
	more  chan struct{}
	done  chan struct{}
	err   error
}

// Boot starts a VM of img with the extra kernel command line and QEMU
// arguments. The VM is killed at the end of the test; its console is logged
// if the test failed.
func Boot(t *testing.T, name string, img *image.Image, initrd, cmdline string, qemuArgs ...string) *VM {
	t.Helper()
	if initrd == "" {
		initrd = img.Initramfs
	}
	args := image.QEMU(img.Arch, img.Kernel, initrd, img.Cmdline+" "+cmdline)
	// The console on stdio without the monitor: the test writes commands.
	for i, a := range args {
		if a == "-nographic" {
			args = append(args[:i:i], append([]string{"-display", "none", "-serial", "stdio", "-monitor", "none"}, args[i+1:]...)...)
			break
		}
		if a == "mon:stdio" { // the Pi's second serial port
			args[i] = "stdio"
			args = append(args, "-monitor", "none")
			break
		}
	}
	// -reboot: the machine restarts on reboot (QEMU's default) instead of
	// exiting; the update test needs that.
	if len(qemuArgs) > 0 && qemuArgs[0] == "-reboot" {
		qemuArgs = qemuArgs[1:]
		for i, a := range args {
			if a == "-no-reboot" {
				args = append(args[:i:i], args[i+1:]...)
				break
			}
		}
	}
	args = append(args, qemuArgs...)
	return start(t, name, args)
}

// start starts QEMU with args (args[0] is the binary).
func start(t *testing.T, name string, args []string) *VM {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	vm := &VM{t: t, name: name, cmd: cmd, in: in, more: make(chan struct{}), done: make(chan struct{})}
	vm.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			vm.mu.Lock()
			vm.lines = append(vm.lines, line)
			vm.at = append(vm.at, time.Since(vm.start))
			close(vm.more)
			vm.more = make(chan struct{})
			vm.mu.Unlock()
		}
		vm.err = cmd.Wait()
		close(vm.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-vm.done
		if t.Failed() || os.Getenv("PK_BOOT_VERBOSE") != "" {
			vm.mu.Lock()
			// Each line with the wall-clock seconds since QEMU started:
			// under emulation the guest's own clock says little about
			// where the time went.
			var b strings.Builder
			for i, l := range vm.lines {
				fmt.Fprintf(&b, "%7.1f %s\n", vm.at[i].Seconds(), l)
			}
			t.Logf("=== console of %s (wall-clock seconds since QEMU started):\n%s", name, b.String())
			vm.mu.Unlock()
		}
	})
	return vm
}

// Wait waits for a console line matching re after line from (an index into
// the console lines) and returns the line and its index.
func (vm *VM) Wait(from int, re string, timeout time.Duration) (string, int) {
	vm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	for i := from; ; {
		vm.mu.Lock()
		for ; i < len(vm.lines); i++ {
			if rx.MatchString(vm.lines[i]) {
				l := vm.lines[i]
				vm.mu.Unlock()
				return l, i
			}
		}
		more := vm.more
		vm.mu.Unlock()
		select {
		case <-more:
		case <-vm.done:
			vm.mu.Lock()
			n := len(vm.lines)
			vm.mu.Unlock()
			if i >= n {
				vm.t.Fatalf("%s: QEMU exited (%v) before a line matching %q", vm.name, vm.err, re)
			}
		case <-deadline:
			vm.t.Fatalf("%s: no console line matching %q within %s", vm.name, re, timeout)
		}
	}
}

// Lines is the number of console lines so far.
func (vm *VM) Lines() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return len(vm.lines)
}

// Send types a command on the console (pk.shell=1).
func (vm *VM) Send(cmd string) int {
	n := vm.Lines()
	fmt.Fprintf(vm.in, "%s\n", cmd)
	return n
}

// Run types a pkhost command and waits for its exit line; it returns the
// console lines in between.
func (vm *VM) Run(cmd string, timeout time.Duration) (string, int) {
	vm.t.Helper()
	from := vm.Send(cmd)
	_, end := vm.Wait(from, `^pk\$ `+regexp.QuoteMeta(cmd)+`: exit (\d+)`, timeout)
	vm.mu.Lock()
	defer vm.mu.Unlock()
	out := strings.Join(vm.lines[from:end+1], "\n")
	code := 0
	fmt.Sscanf(vm.lines[end][strings.LastIndex(vm.lines[end], "exit ")+5:], "%d", &code)
	return out, code
}

// Exited waits for QEMU to exit and returns its error.
func (vm *VM) Exited(timeout time.Duration) error {
	vm.t.Helper()
	select {
	case <-vm.done:
		return vm.err
	case <-time.After(timeout):
		vm.t.Fatalf("%s: QEMU still running after %s", vm.name, timeout)
		return nil
	}
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PowerOff types poweroff on the console and waits for the node to stop
// and QEMU to exit cleanly.
func (vm *VM) PowerOff() {
	vm.t.Helper()
	from := vm.Send("poweroff")
	vm.Wait(from, `pid1: node stopped`, time.Minute)
	if err := vm.Exited(time.Minute); err != nil {
		vm.t.Fatalf("%s: QEMU: %v", vm.name, err)
	}
}
