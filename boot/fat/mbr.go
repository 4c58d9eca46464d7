package fat

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Partition is one MBR partition table entry.
type Partition struct {
	Type  byte   // 0x0C FAT32 (LBA), 0x83 Linux
	Start uint32 // first sector
	Size  uint32 // sectors
	Boot  bool
}

// Partition types.
const (
	TypeFAT32 = 0x0C
	TypeLinux = 0x83
)

// WriteMBR writes a DOS partition table (up to four primary partitions)
// with the disk signature id into the first sector of w.
func WriteMBR(w io.WriterAt, id uint32, parts []Partition) error {
	if len(parts) > 4 {
		return fmt.Errorf("fat: %d partitions, MBR holds 4", len(parts))
	}
	b := make([]byte, sector)
	binary.LittleEndian.PutUint32(b[440:], id)
	for i, p := range parts {
		e := b[446+16*i:]
		if p.Boot {
			e[0] = 0x80
		}
		// CHS fields are obsolete; the all-ones value says "use LBA".
		copy(e[1:4], []byte{0xFE, 0xFF, 0xFF})
		e[4] = p.Type
		copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
		binary.LittleEndian.PutUint32(e[8:], p.Start)
		binary.LittleEndian.PutUint32(e[12:], p.Size)
	}
	b[510], b[511] = 0x55, 0xAA
	_, err := w.WriteAt(b, 0)
	return err
}

// ReadMBR reads the partition table of a disk image and its disk signature.
func ReadMBR(r io.ReaderAt) (id uint32, parts []Partition, err error) {
	b := make([]byte, sector)
	if _, err := r.ReadAt(b, 0); err != nil {
		return 0, nil, err
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return 0, nil, fmt.Errorf("fat: no MBR signature")
	}
	for i := 0; i < 4; i++ {
		e := b[446+16*i:]
		if e[4] == 0 {
			continue
		}
		parts = append(parts, Partition{Type: e[4], Boot: e[0] == 0x80,
			Start: binary.LittleEndian.Uint32(e[8:]), Size: binary.LittleEndian.Uint32(e[12:])})
	}
	return binary.LittleEndian.Uint32(b[440:]), parts, nil
}
