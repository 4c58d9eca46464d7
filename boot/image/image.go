// Package image builds the boot images of p-kernel: a kernel plus an
// initramfs in which pkhost is PID 1 (host/pid1), the QEMU command line to
// boot them, an ISO for PCs (grub-mkrescue) and an SD-card image for the
// Raspberry Pi (see sdcard.go).
package image

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/p-kernel/p-kernel/boot/initramfs"
	"github.com/p-kernel/p-kernel/boot/kernel"
)

// Arches are the image architectures.
var Arches = []string{"amd64", "386", "arm64", "rpi"}

// Options say what to build.
type Options struct {
	Arch    string            // amd64, 386, arm64 or rpi
	Out     string            // output directory
	Root    string            // the p-kernel source tree (default: the module of the working directory)
	Version string            // pkhost version stamped into the binary (default: git describe)
	Cmdline string            // extra kernel command line words (pk.*, see host/pid1)
	Extra   map[string]string // more files for the initramfs: path inside -> path on the build machine
	Log     io.Writer         // progress (nil: none)
}

// Image is what Build made.
type Image struct {
	Arch      string
	Dir       string
	Kernel    string // path of the kernel image
	Initramfs string // path of initramfs.gz
	Cmdline   string // the kernel command line
	KernelPkg string // module@version the kernel came from
	KernelDir string // the kernel package's directory (device trees, overlays)
	Pkhost    string // the pkhost binary put in as /init
}

// GoArch is the GOARCH of pkhost for an image architecture.
func GoArch(arch string) string {
	if arch == "rpi" {
		return "arm64"
	}
	return arch
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// ModuleRoot returns the directory of the main module of dir.
func ModuleRoot(dir string) (string, error) {
	cmd := exec.Command("go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("image: %s is not inside the p-kernel module", dir)
	}
	return filepath.Dir(gomod), nil
}

// Build builds the kernel and initramfs of an image into o.Out.
func Build(ctx context.Context, o Options) (*Image, error) {
	if o.Root == "" {
		r, err := ModuleRoot(".")
		if err != nil {
			return nil, err
		}
		o.Root = r
	}
	if o.Version == "" {
		out, err := exec.Command("git", "-C", o.Root, "describe", "--always", "--dirty").Output()
		o.Version = strings.TrimSpace(string(out))
		if err != nil || o.Version == "" {
			o.Version = "dev"
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	img := &Image{Arch: o.Arch, Dir: o.Out}
	k, err := fetchKernel(ctx, &o)
	if err != nil {
		return nil, err
	}
	img.KernelPkg = k.Module + "@" + k.Version
	img.KernelDir = k.Dir
	o.logf("kernel %s", img.KernelPkg)
	img.Kernel = filepath.Join(o.Out, "vmlinuz")
	if err := copyFile(k.Image, img.Kernel); err != nil {
		return nil, err
	}
	if err := buildModules(ctx, &o); err != nil {
		return nil, err
	}
	img.Pkhost = filepath.Join(o.Out, "pkhost")
	if err := buildPkhost(ctx, &o, img.Pkhost); err != nil {
		return nil, err
	}
	img.Initramfs = filepath.Join(o.Out, "initramfs.gz")
	if err := writeInitramfs(img.Initramfs, img.Pkhost, k, o.Extra); err != nil {
		return nil, err
	}
	console := "console=" + k.Console
	if o.Arch == "rpi" {
		// The screen, then the serial port on GPIO 14/15: the last console
		// is /dev/console, where pkhost logs.
		console = "console=tty1 console=" + k.Console + ",115200"
	}
	img.Cmdline = strings.TrimSpace(console + " panic=10 oops=panic " + o.Cmdline)
	if err := os.WriteFile(filepath.Join(o.Out, "cmdline.txt"), []byte(img.Cmdline+"\n"), 0o644); err != nil {
		return nil, err
	}
	if o.Arch == "rpi" {
		// QEMU boots the kernel directly, without the Pi's firmware, so
		// it needs the device tree next to the kernel.
		if err := copyFile(filepath.Join(k.Dir, RPiQEMUDTB), filepath.Join(o.Out, RPiQEMUDTB)); err != nil {
			return nil, err
		}
	}
	{
		args := QEMU(o.Arch, img.Kernel, img.Initramfs, img.Cmdline)
		args = append(args, "-netdev", "user,id=net0,restrict=off", "-device", QEMUNIC(o.Arch)+",netdev=net0")
		sh := "#!/bin/sh\n# Boots this image under QEMU; Ctrl-A X quits. Extra arguments go to QEMU.\ncd \"$(dirname \"$0\")\"\nexec " + shellQuote(args) + " \"$@\"\n"
		sh = strings.ReplaceAll(sh, o.Out+"/", "")
		if err := os.WriteFile(filepath.Join(o.Out, "qemu.sh"), []byte(sh), 0o755); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func fetchKernel(ctx context.Context, o *Options) (*kernel.Kernel, error) {
	if o.Arch == "386" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		return kernel.FetchDebian(ctx, "686", filepath.Join(cache, "p-kernel", "debian"))
	}
	return kernel.Fetch(ctx, o.Arch)
}

// RPiQEMUDTB is the device tree an rpi image boots with under QEMU
// (-M raspi3b, a Raspberry Pi 3 B); on a Pi the firmware picks its own.
const RPiQEMUDTB = "bcm2710-rpi-3-b.dtb"

// QEMUNIC is the QEMU network device of an image: virtio, or on the
// emulated Pi 3 a USB network adapter, which the kernel names usb0.
func QEMUNIC(arch string) string {
	if arch == "rpi" {
		return "usb-net"
	}
	return "virtio-net-pci"
}

// QEMU is the machine part of the QEMU command line for an image (no
// network devices): serial console on stdio, no graphics, no reboot. An
// rpi image boots as a Raspberry Pi 3 B (-M raspi3b); an SD card for it
// must be a power of two in size (QEMU's rule), so a copy of sd.img
// grown to 2 GiB is what goes in as -drive if=sd.
func QEMU(arch, kernelPath, initrd, cmdline string) []string {
	var a []string
	switch arch {
	case "amd64":
		a = []string{"qemu-system-x86_64", "-M", "q35"}
	case "386":
		a = []string{"qemu-system-i386", "-M", "pc", "-cpu", "pentium3"}
	case "arm64":
		a = []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"}
	case "rpi":
		// The serial console is the mini UART, QEMU's second serial port;
		// the first (the PL011) goes nowhere. Ctrl-A X still quits.
		//
		// One TCG thread for the four emulated cores: with a thread per
		// core (QEMU 7.2's default), the kernel's early ftrace patching
		// (69,404 call sites, each followed by a cache flush) took 31-48 s
		// on a 2-core host, and over 3 minutes on a loaded CI machine,
		// before the kernel printed anything; with one thread it takes
		// 3 s, and boot to ready went from 88 s to 49 s.
		a = []string{"qemu-system-aarch64", "-M", "raspi3b", "-accel", "tcg,thread=single",
			"-dtb", filepath.Join(filepath.Dir(kernelPath), RPiQEMUDTB),
			"-m", "1G", "-display", "none", "-serial", "null", "-serial", "mon:stdio"}
	}
	if arch != "rpi" {
		a = append(a, "-m", "1024", "-nographic")
	}
	a = append(a, "-no-reboot", "-kernel", kernelPath, "-initrd", initrd, "-append", cmdline)
	switch arch {
	case "amd64":
		// One CPU: under software emulation (QEMU 7.2 TCG) the gokrazy
		// kernel sometimes panics in the idle loop of a second CPU early in
		// boot ("Fatal exception in interrupt", sched_clock); with KVM, add
		// -smp 2 or more.
		a = append(a, "-smp", "1")
	case "386", "arm64":
		a = append(a, "-smp", "2")
	}
	return a
}

func shellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// buildModules compiles the first-party modules that pkhost embeds, as
// `make modules` does.
func buildModules(ctx context.Context, o *Options) error {
	ents, err := os.ReadDir(filepath.Join(o.Root, "modules"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		out := filepath.Join(o.Root, "host", "embed", "wasm", e.Name()+".wasm")
		cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./modules/"+e.Name())
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building module %s: %v\n%s", e.Name(), err, b)
		}
	}
	return nil
}

func buildPkhost(ctx context.Context, o *Options, out string) error {
	o.logf("pkhost %s for linux/%s", o.Version, GoArch(o.Arch))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/p-kernel/p-kernel/host/node.Version="+o.Version,
		"-o", out, "./host/cmd/pkhost")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+GoArch(o.Arch), "CGO_ENABLED=0")
	if o.Arch == "386" {
		cmd.Env = append(cmd.Env, "GO386=softfloat") // old x86 CPUs have no SSE2
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building pkhost: %v\n%s", err, b)
	}
	return nil
}

// writeInitramfs writes the gzip-compressed initramfs: pkhost as /init, the
// console device node, the mount points, the kernel modules to load and any
// extra files.
func writeInitramfs(path, pkhost string, k *kernel.Kernel, extra map[string]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	w := initramfs.NewWriter(zw)
	bin, err := os.ReadFile(pkhost)
	if err != nil {
		return err
	}
	if err := w.File("init", 0o755, bin); err != nil {
		return err
	}
	w.Add(initramfs.Entry{Name: "bin/pkhost", Mode: initramfs.ModeSymlink | 0o777, Data: []byte("/init")})
	w.Add(initramfs.Entry{Name: "dev/console", Mode: initramfs.ModeCharDev | 0o600, Major: 5, Minor: 1})
	w.Add(initramfs.Entry{Name: "dev/null", Mode: initramfs.ModeCharDev | 0o666, Major: 1, Minor: 3})
	for _, d := range []string{"proc", "sys", "tmp", "run", "perm", "etc"} {
		w.Dir(d, 0o755)
	}
	// Only what pkhost itself needs from /etc: name resolution for hosts.
	w.File("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	for _, m := range k.Load {
		b, err := os.ReadFile(m.Src)
		if err != nil {
			return err
		}
		if err := w.File("lib/modules/"+k.Release+"/"+m.Dst, 0o644, b); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(extra))
	for dst := range extra {
		keys = append(keys, dst)
	}
	sort.Strings(keys)
	for _, dst := range keys {
		b, err := os.ReadFile(extra[dst])
		if err != nil {
			return err
		}
		if err := w.File(dst, 0o644, b); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
