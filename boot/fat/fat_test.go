package fat

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// memDisk is an in-memory io.WriterAt/ReaderAt.
type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if int(off)+len(p) > len(m.b) {
		return 0, fmt.Errorf("write past the end: %d+%d > %d", off, len(p), len(m.b))
	}
	return copy(m.b[off:], p), nil
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) { return copy(p, m.b[off:]), nil }

var files = map[string][]byte{
	"config.txt":                     []byte("arm_64bit=1\n"),
	"cmdline.txt":                    []byte("console=ttyS1 pk.shell=1\n"),
	"bcm2711-rpi-4-b.dtb":            bytes.Repeat([]byte{0xd0, 0x0d}, 30000),
	"bcm2710-rpi-3-b-plus.dtb":       bytes.Repeat([]byte{1}, 4000),
	"bcm2710-rpi-3-b.dtb":            bytes.Repeat([]byte{2}, 4001),
	"overlays/a very long name.dtbo": []byte("x"),
	"EMPTY":                          nil,
	"vmlinuz":                        bytes.Repeat([]byte("kernel"), 100000),
}

func build(t *testing.T) (*memDisk, []Partition) {
	t.Helper()
	const mib = 1 << 20
	disk := &memDisk{b: make([]byte, 4*mib+64*mib+40*mib)}
	parts := []Partition{
		{Type: TypeFAT32, Start: 8192, Size: 64 * mib / 512, Boot: true},
		{Type: TypeFAT32, Start: 8192 + 64*mib/512, Size: 40 * mib / 512},
	}
	if err := WriteMBR(disk, 0x504b0001, parts); err != nil {
		t.Fatal(err)
	}
	f := New()
	for n, b := range files {
		if err := f.Add(n, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Write(disk, int64(parts[0].Start)*512, int64(parts[0].Size)*512, parts[0].Start, "PKBOOT"); err != nil {
		t.Fatal(err)
	}
	if _, err := New().Write(disk, int64(parts[1].Start)*512, int64(parts[1].Size)*512, parts[1].Start, "PKDATA"); err != nil {
		t.Fatal(err)
	}
	return disk, parts
}

func TestWriteRead(t *testing.T) {
	disk, parts := build(t)
	id, got, err := ReadMBR(disk)
	if err != nil || id != 0x504b0001 || len(got) != 2 || got[0] != parts[0] || got[1] != parts[1] {
		t.Fatalf("ReadMBR = %x %+v %v", id, got, err)
	}
	r, err := Open(disk, int64(parts[0].Start)*512)
	if err != nil {
		t.Fatal(err)
	}
	if r.Label != "PKBOOT" {
		t.Errorf("label %q", r.Label)
	}
	for n, want := range files {
		b, err := r.ReadFile(n)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", n, len(b), err, len(want))
		}
	}
	ents, err := r.ReadDir("/")
	if err != nil || len(ents) != len(files) { // 7 files and the overlays dir
		t.Errorf("root: %d entries %v", len(ents), err)
	}
	if _, err := r.ReadFile("CONFIG.TXT"); err != nil {
		t.Errorf("names are not case-insensitive: %v", err)
	}
	d, err := Open(disk, int64(parts[1].Start)*512)
	if err != nil || d.Label != "PKDATA" {
		t.Fatalf("data partition: %v %q", err, d.Label)
	}
}

func TestTooSmall(t *testing.T) {
	if _, err := New().Write(&memDisk{b: make([]byte, 1<<20)}, 0, 1<<20, 0, "X"); err == nil {
		t.Fatal("no error for a 1 MiB FAT32")
	}
}

func TestShortNames(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range []struct {
		in   string
		want string
		long bool
	}{
		{"CONFIG.TXT", "CONFIG  TXT", false},
		{"config.txt", "CONFIG~1TXT", true},
		{"bcm2711-rpi-4-b.dtb", "BCM271~1DTB", true},
		{"bcm2711-rpi-400.dtb", "BCM271~2DTB", true},
	} {
		sn, long := shortName(tc.in, used)
		if string(sn[:]) != tc.want || long != tc.long {
			t.Errorf("shortName(%q) = %q %v, want %q %v", tc.in, sn[:], long, tc.want, tc.long)
		}
	}
}

// TestFsck checks the file system with the standard tools when present:
// fsck.vfat (dosfstools) and mtools' mdir.
func TestFsck(t *testing.T) {
	disk, parts := build(t)
	dir := t.TempDir()
	part := filepath.Join(dir, "boot.img")
	os.WriteFile(part, disk.b[parts[0].Start*512:(parts[0].Start+parts[0].Size)*512], 0o644)
	ran := false
	if fsck, err := exec.LookPath("fsck.vfat"); err == nil {
		ran = true
		out, err := exec.Command(fsck, "-n", part).CombinedOutput()
		if err != nil {
			t.Errorf("fsck.vfat: %v\n%s", err, out)
		}
	}
	if mdir, err := exec.LookPath("mdir"); err == nil {
		ran = true
		out, err := exec.Command(mdir, "-i", part, "::/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "bcm2711-rpi-4-b.dtb") {
			t.Errorf("mdir: %v\n%s", err, out)
		}
	}
	if !ran {
		t.Skip("neither fsck.vfat nor mdir installed")
	}
}
