package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/p-kernel/p-kernel/host/pid1"
)

// DebianModules are the drivers a Debian kernel needs loaded for a
// QEMU or PC node: virtio network and disk, Intel e1000 NICs, ext4 for the
// data partition, vfat. Their dependencies come along (read from
// .modinfo).
var DebianModules = []string{"virtio_net", "virtio_pci", "virtio_blk", "e1000", "e1000e", "ext4", "vfat"}

// FetchDebian fetches the newest Debian linux-image package of a flavour
// (686 for the 386 image: i386 kernels, so dpkg must know the i386
// architecture: dpkg --add-architecture i386 && apt-get update) with
// apt-get download into dir, unpacks it with dpkg-deb and picks the
// kernel image and DebianModules with their dependencies.
func FetchDebian(ctx context.Context, flavour, dir string) (*Kernel, error) {
	arch := map[string]string{"686": "i386", "686-pae": "i386", "amd64": "amd64", "cloud-amd64": "amd64", "arm64": "arm64"}[flavour]
	if arch == "" {
		return nil, fmt.Errorf("kernel: unknown Debian flavour %q", flavour)
	}
	meta := "linux-image-" + flavour + ":" + arch
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).CombinedOutput()
	m := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s:]*)`).FindSubmatch(out)
	if err != nil || m == nil {
		return nil, fmt.Errorf("kernel: apt-cache depends %s: %v %s (for i386: dpkg --add-architecture i386 && apt-get update)", meta, err, strings.TrimSpace(string(out)))
	}
	pkg := string(m[1])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) == 0 {
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg+":"+arch)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kernel: apt-get download %s: %v\n%s", pkg, err, b)
		}
		debs, _ = filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	}
	if len(debs) != 1 {
		return nil, fmt.Errorf("kernel: %d packages %s in %s", len(debs), pkg, dir)
	}
	root := filepath.Join(dir, pkg)
	if _, err := os.Stat(root); err != nil {
		if b, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kernel: dpkg-deb -x: %v\n%s", err, b)
		}
	}
	release := strings.TrimPrefix(pkg, "linux-image-")
	k := &Kernel{Source: Source{Module: "debian/" + pkg, Console: "ttyS0"}, Version: filepath.Base(debs[0]),
		Dir: root, Image: filepath.Join(root, "boot", "vmlinuz-"+release), Release: release}
	k.Modules = filepath.Join(root, "lib", "modules", release)
	mods, err := pid1.FindModules(os.DirFS(k.Modules), "kernel")
	if err != nil {
		return nil, err
	}
	by := map[string]pid1.KernelModule{}
	for _, m := range mods {
		by[strings.ReplaceAll(m.Name, "-", "_")] = m
	}
	seen := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		name = strings.ReplaceAll(name, "-", "_")
		if seen[name] {
			return nil
		}
		seen[name] = true
		m, ok := by[name]
		if !ok {
			return nil // built in
		}
		for _, d := range m.Depends {
			if err := add(d); err != nil {
				return err
			}
		}
		k.Load = append(k.Load, File{Src: filepath.Join(k.Modules, m.Path), Dst: m.Path})
		return nil
	}
	for _, n := range DebianModules {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	return k, nil
}
