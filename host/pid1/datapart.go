package pid1

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DataLabel is the file system label of the persistent data partition:
// `mkfs.ext4 -L pkdata`, or a vfat file system labelled PKDATA.
const DataLabel = "pkdata"

// ProbeFS reads the start of a block device or image and returns its file
// system type ("ext4" for ext2/3/4, "vfat") and label, or "" if it knows
// neither.
func ProbeFS(r io.ReaderAt) (fstype, label string) {
	b := make([]byte, 2048)
	n, _ := r.ReadAt(b, 0)
	b = b[:n]
	if len(b) >= 1024+136 && binary.LittleEndian.Uint16(b[1024+56:]) == 0xEF53 {
		return "ext4", cstr(b[1024+120 : 1024+136])
	}
	if len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA {
		switch {
		case string(b[82:87]) == "FAT32":
			return "vfat", strings.TrimSpace(string(b[71:82]))
		case string(b[54:59]) == "FAT16" || string(b[54:59]) == "FAT12":
			return "vfat", strings.TrimSpace(string(b[43:54]))
		}
	}
	return "", ""
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func probeFS(dev string) string {
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	t, _ := ProbeFS(f)
	return t
}

// FindDataPartition looks through the block devices listed in sysDir
// (/sys/class/block) for a file system labelled [DataLabel] (any case) and
// returns its device node under devDir and its type.
func FindDataPartition(sysDir, devDir string) (dev, fstype string) {
	ents, _ := os.ReadDir(sysDir)
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(devDir, n)
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		t, label := ProbeFS(f)
		f.Close()
		if t != "" && strings.EqualFold(label, DataLabel) {
			return p, t
		}
	}
	return "", ""
}
