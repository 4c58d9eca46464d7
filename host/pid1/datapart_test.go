package pid1

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func ext4Image(label string) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b[1024+56:], 0xEF53)
	copy(b[1024+120:], label)
	return b
}

func fat32Image(label string) []byte {
	b := make([]byte, 4096)
	copy(b[71:82], label+"           ")
	copy(b[82:90], "FAT32   ")
	b[510], b[511] = 0x55, 0xAA
	return b
}

func TestProbeFS(t *testing.T) {
	for _, tc := range []struct {
		img        []byte
		typ, label string
	}{
		{ext4Image("pkdata"), "ext4", "pkdata"},
		{fat32Image("PKDATA"), "vfat", "PKDATA"},
		{make([]byte, 4096), "", ""},
		{[]byte("short"), "", ""},
	} {
		typ, label := ProbeFS(bytes.NewReader(tc.img))
		if typ != tc.typ || label != tc.label {
			t.Errorf("ProbeFS = %q %q, want %q %q", typ, label, tc.typ, tc.label)
		}
	}
}

func TestFindDataPartition(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	for name, img := range map[string][]byte{"vda": make([]byte, 4096), "vda1": ext4Image("other"), "vdb1": ext4Image("pkdata"), "loop0": ext4Image("pkdata")} {
		os.Mkdir(filepath.Join(sys, name), 0o755)
		os.WriteFile(filepath.Join(dev, name), img, 0o644)
	}
	d, typ := FindDataPartition(sys, dev)
	if d != filepath.Join(dev, "vdb1") || typ != "ext4" {
		t.Fatalf("FindDataPartition = %q %q", d, typ)
	}
}
