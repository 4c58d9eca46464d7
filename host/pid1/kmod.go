package pid1

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// KernelModule is one loadable kernel module found in the initramfs.
type KernelModule struct {
	Name    string   // from .modinfo name=, else the file name without .ko
	Path    string   // path inside the file system it was found in
	Depends []string // names of the modules it needs loaded first
}

// ReadModinfo reads the name and dependencies of a kernel module from its
// .modinfo section (NUL-separated key=value strings), so no modules.dep is
// needed.
func ReadModinfo(data []byte) (name string, depends []string, err error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return "", nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return "", nil, fmt.Errorf("no .modinfo section")
	}
	b, err := sec.Data()
	if err != nil {
		return "", nil, err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			name = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					depends = append(depends, d)
				}
			}
		}
	}
	return name, depends, nil
}

// FindModules lists the uncompressed kernel modules (*.ko) under dir of
// fsys with their dependencies.
func FindModules(fsys fs.FS, dir string) ([]KernelModule, error) {
	var mods []KernelModule
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name, deps, err := ReadModinfo(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if name == "" {
			name = strings.TrimSuffix(path.Base(p), ".ko")
		}
		mods = append(mods, KernelModule{Name: name, Path: p, Depends: deps})
		return nil
	})
	return mods, err
}

// OrderModules sorts modules so that each comes after the modules it
// depends on. Dependencies that are not in the list (built into the kernel,
// or simply absent) are ignored; a cycle is an error. The order is
// deterministic: ties go by name.
func OrderModules(mods []KernelModule) ([]KernelModule, error) {
	byName := map[string]KernelModule{}
	names := make([]string, 0, len(mods))
	for _, m := range mods {
		// The kernel treats - and _ alike in module names.
		n := normModName(m.Name)
		byName[n] = m
		names = append(names, n)
	}
	sort.Strings(names)
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []KernelModule
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("kernel module dependency cycle: %s", strings.Join(append(chain, n), " -> "))
		}
		state[n] = visiting
		m := byName[n]
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			d = normModName(d)
			if _, ok := byName[d]; ok {
				if err := visit(d, append(chain, n)); err != nil {
					return err
				}
			}
		}
		state[n] = done
		out = append(out, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func normModName(s string) string { return strings.ReplaceAll(s, "-", "_") }
