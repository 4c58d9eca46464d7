package pid1

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"
)

func names(ms []KernelModule) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return s
}

func TestOrderModules(t *testing.T) {
	// The virtio network stack of Debian's cloud kernel, listed in the
	// wrong order on purpose.
	mods := []KernelModule{
		{Name: "virtio_net", Depends: []string{"net_failover", "virtio", "virtio_ring"}},
		{Name: "net_failover", Depends: []string{"failover"}},
		{Name: "virtio_pci", Depends: []string{"virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_ring"}},
		{Name: "failover"},
		{Name: "virtio_ring"},
		{Name: "virtio", Depends: []string{"builtin_thing"}},
		{Name: "virtio_pci_modern_dev"},
		{Name: "virtio-pci-legacy-dev"},
	}
	got, err := OrderModules(mods)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range got {
		pos[normModName(m.Name)] = i
	}
	if len(got) != len(mods) {
		t.Fatalf("got %d modules, want %d: %q", len(got), len(mods), names(got))
	}
	for _, m := range mods {
		for _, d := range m.Depends {
			if p, ok := pos[normModName(d)]; ok && p > pos[normModName(m.Name)] {
				t.Errorf("%s loads before its dependency %s: %q", m.Name, d, names(got))
			}
		}
	}
	rev := append([]KernelModule(nil), mods...)
	slices.Reverse(rev)
	again, _ := OrderModules(rev)
	if !reflect.DeepEqual(names(again), names(got)) {
		t.Errorf("order not deterministic")
	}
}

func TestOrderModulesCycle(t *testing.T) {
	_, err := OrderModules([]KernelModule{{Name: "a", Depends: []string{"b"}}, {Name: "b", Depends: []string{"a"}}})
	if err == nil {
		t.Fatal("no error for a cycle")
	}
}

// TestFindModules reads .modinfo from real kernel modules when the build
// machine has some (Debian's linux-image packages); it always checks that a
// file that is not ELF is reported.
func TestFindModules(t *testing.T) {
	bad := fstest.MapFS{"lib/modules/x/bad.ko": {Data: []byte("not elf")}}
	if _, err := FindModules(bad, "lib/modules"); err == nil {
		t.Error("no error for a module that is not ELF")
	}
	ms, _ := filepath.Glob("/lib/modules/*/kernel/drivers/net/virtio_net.ko")
	if len(ms) == 0 {
		t.Skip("no uncompressed virtio_net.ko on this machine")
	}
	b, err := os.ReadFile(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	name, deps, err := ReadModinfo(b)
	if err != nil || name != "virtio_net" || len(deps) == 0 {
		t.Fatalf("ReadModinfo = %q %q %v", name, deps, err)
	}
}
