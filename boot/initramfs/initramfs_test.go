package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.File("init", 0o755, []byte("#!/bin/true\n")))
	must(w.Add(Entry{Name: "dev/console", Mode: ModeCharDev | 0o600, Major: 5, Minor: 1}))
	must(w.Dir("proc", 0o755))
	must(w.Dir("/proc", 0o755)) // twice: written once
	must(w.File("lib/modules/6.1/kernel/a.ko", 0o644, []byte("odd")))
	must(w.Add(Entry{Name: "bin/sh", Mode: ModeSymlink | 0o777, Data: []byte("/init")}))
	must(w.Close())
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	if len(b)%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", len(b))
	}
	es, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	want := []string{"init", "dev", "dev/console", "proc", "lib", "lib/modules", "lib/modules/6.1", "lib/modules/6.1/kernel", "lib/modules/6.1/kernel/a.ko", "bin", "bin/sh"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	if e := es[2]; e.Major != 5 || e.Minor != 1 || e.Mode != ModeCharDev|0o600 {
		t.Errorf("console %+v", e)
	}
	if e := es[8]; string(e.Data) != "odd" || e.Mode != ModeFile|0o644 {
		t.Errorf("module %+v", e)
	}
	if !bytes.Equal(b, sample(t)) {
		t.Error("the same input made different bytes")
	}
}

// TestCpioReads checks the archive with GNU cpio when it is installed: the
// format is what the kernel and the standard tool read.
func TestCpioReads(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(sample(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "lib/modules/6.1/kernel/a.ko"))
	if err != nil || string(b) != "odd" {
		t.Fatalf("extracted %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "/init" {
		t.Fatalf("symlink %q %v", l, err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(bytes.NewReader(b)) // must not panic or allocate without bound
	})
}
