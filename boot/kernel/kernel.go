// Package kernel fetches the Linux kernels of the boot images at build time.
// They are never committed: the gokrazy project publishes its kernels (and
// the Raspberry Pi firmware) as Go modules, so the Go module proxy serves
// them and `go mod download` caches and verifies them (go.sum style hashes
// in the module cache).
package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Source is one kernel package on the Go module proxy.
type Source struct {
	Module  string // module path
	Version string // pinned version (a pseudo-version); "latest" takes the newest
	Console string // the serial console device of the machine it is for
}

// Sources are the kernels by image architecture. The versions are pinned
// so that an image build is reproducible; bump them deliberately.
var Sources = map[string]Source{
	"amd64": {"github.com/gokrazy/kernel.amd64", "v0.0.0-20260705070735-de680abf072b", "ttyS0"},
	"arm64": {"github.com/gokrazy/kernel.arm64", "v0.0.0-20260705071517-37841c4d6ff1", "ttyAMA0"},
	// The Pi's GPIO 14/15 serial port is the mini UART (the PL011 serves
	// Bluetooth), which this kernel names ttyS0 (seen booting it under
	// QEMU -M raspi3b with the Pi 3 B device tree).
	"rpi": {"github.com/gokrazy/kernel.rpi", "v0.0.0-20251127164438-9778ec0261de", "ttyS0"},
}

// Firmware is the Raspberry Pi boot firmware (start*.elf, fixup*.dat,
// bootcode.bin) on the module proxy.
var Firmware = Source{Module: "github.com/gokrazy/firmware", Version: "v0.0.0-20260522070551-527ce0ed43cf"}

// Kernel is a fetched kernel.
type Kernel struct {
	Source
	Version string // the resolved module version
	Dir     string // the module's directory in the cache (read-only)
	Image   string // the kernel image (Dir/vmlinuz)
	Modules string // Dir/lib/modules, possibly empty (gokrazy builds drivers in)
	Release string // the kernel release (uname -r), for lib/modules/<release>
	Load    []File // kernel modules PID 1 loads at boot (none: drivers built in)
}

// Download fetches a module version into the Go module cache with
// `go mod download` and returns its directory and resolved version.
func Download(ctx context.Context, module, version string) (dir, resolved string, err error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: go.mod is never touched
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var res struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || runErr != nil || res.Error != "" {
		return "", "", fmt.Errorf("go mod download %s@%s: %v %s %s", module, version, runErr, res.Error, bytes.TrimSpace(errb.Bytes()))
	}
	return res.Dir, res.Version, nil
}

// Fetch downloads the kernel of an image architecture (amd64, arm64, rpi).
func Fetch(ctx context.Context, arch string) (*Kernel, error) {
	src, ok := Sources[arch]
	if !ok {
		return nil, fmt.Errorf("kernel: no kernel package for %q", arch)
	}
	dir, v, err := Download(ctx, src.Module, src.Version)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Source: src, Version: v, Dir: dir, Image: filepath.Join(dir, "vmlinuz")}
	if _, err := os.Stat(k.Image); err != nil {
		return nil, fmt.Errorf("kernel: %s@%s has no vmlinuz", src.Module, v)
	}
	if st, err := os.Stat(filepath.Join(dir, "lib", "modules")); err == nil && st.IsDir() {
		k.Modules = filepath.Join(dir, "lib", "modules")
	}
	return k, nil
}

// File is one file to put into the initramfs: Src on the build machine,
// Dst relative to lib/modules/<release>/.
type File struct{ Src, Dst string }
