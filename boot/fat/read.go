package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf16"
)

// Reader reads a FAT32 file system (tests, and checking an image before
// it is written to a card). It reads what Write writes and what mkfs.vfat
// makes; it does not repair or write.
type Reader struct {
	r        io.ReaderAt
	off      int64
	csize    int64
	dataOff  int64
	fat      []uint32
	rootClus uint32
	Label    string
}

// Open reads the boot sector and FAT of the file system at off in r.
func Open(r io.ReaderAt, off int64) (*Reader, error) {
	bs := make([]byte, sector)
	if _, err := r.ReadAt(bs, off); err != nil {
		return nil, err
	}
	if bs[510] != 0x55 || bs[511] != 0xAA || string(bs[82:87]) != "FAT32" {
		return nil, fmt.Errorf("fat: not a FAT32 file system")
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:]))
	spc := int64(bs[13])
	res := int64(binary.LittleEndian.Uint16(bs[14:]))
	nfat := int64(bs[16])
	fsz := int64(binary.LittleEndian.Uint32(bs[36:]))
	if bps != sector || spc == 0 || nfat == 0 || fsz == 0 || fsz > 1<<22 {
		return nil, fmt.Errorf("fat: unsupported geometry")
	}
	fb := make([]byte, fsz*bps)
	if _, err := r.ReadAt(fb, off+res*bps); err != nil {
		return nil, err
	}
	fat := make([]uint32, len(fb)/4)
	for i := range fat {
		fat[i] = binary.LittleEndian.Uint32(fb[4*i:]) & 0x0FFFFFFF
	}
	return &Reader{r: r, off: off, csize: spc * bps, dataOff: off + (res+nfat*fsz)*bps, fat: fat,
		rootClus: binary.LittleEndian.Uint32(bs[44:]), Label: strings.TrimSpace(string(bs[71:82]))}, nil
}

func (f *Reader) chain(c uint32, size int64) ([]byte, error) {
	var out []byte
	for n := 0; c >= 2 && c < 0x0FFFFFF8; n++ {
		if int(c) >= len(f.fat) || n > len(f.fat) {
			return nil, fmt.Errorf("fat: bad cluster chain")
		}
		b := make([]byte, f.csize)
		if _, err := f.r.ReadAt(b, f.dataOff+int64(c-2)*f.csize); err != nil {
			return nil, err
		}
		out = append(out, b...)
		if size >= 0 && int64(len(out)) >= size {
			return out[:size], nil
		}
		c = f.fat[c]
	}
	if size >= 0 && int64(len(out)) < size {
		return nil, fmt.Errorf("fat: chain shorter than the file")
	}
	return out, nil
}

// Entry is a directory entry.
type Entry struct {
	Name    string
	Dir     bool
	Size    int64
	cluster uint32
}

func (f *Reader) list(c uint32) ([]Entry, error) {
	b, err := f.chain(c, -1)
	if err != nil {
		return nil, err
	}
	var out []Entry
	var lfn []uint16
	for i := 0; i+32 <= len(b); i += 32 {
		e := b[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 {
			lfn = nil
			continue
		}
		if e[11] == 0x0F {
			var part []uint16
			for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part = append(part, binary.LittleEndian.Uint16(e[o:]))
			}
			lfn = append(part, lfn...) // entries come last part first
			continue
		}
		if e[11]&0x08 != 0 {
			lfn = nil
			continue
		}
		name := strings.TrimSpace(string(e[0:8]))
		if ext := strings.TrimSpace(string(e[8:11])); ext != "" {
			name += "." + ext
		}
		if lfn != nil {
			for j, u := range lfn {
				if u == 0 {
					lfn = lfn[:j]
					break
				}
			}
			name = string(utf16.Decode(lfn))
			lfn = nil
		}
		if name == "." || name == ".." {
			continue
		}
		cl := uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
		out = append(out, Entry{Name: name, Dir: e[11]&0x10 != 0, Size: int64(binary.LittleEndian.Uint32(e[28:])), cluster: cl})
	}
	return out, nil
}

func (f *Reader) lookup(name string) (Entry, error) {
	e := Entry{Dir: true, cluster: f.rootClus}
	name = strings.Trim(path.Clean("/"+name), "/")
	if name == "" {
		return e, nil
	}
	for _, part := range strings.Split(name, "/") {
		ents, err := f.list(e.cluster)
		if err != nil {
			return e, err
		}
		found := false
		for _, k := range ents {
			if strings.EqualFold(k.Name, part) {
				e, found = k, true
				break
			}
		}
		if !found {
			return e, fmt.Errorf("fat: %s: not found", name)
		}
	}
	return e, nil
}

// ReadDir lists a directory ("" or "/" is the root).
func (f *Reader) ReadDir(name string) ([]Entry, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !e.Dir {
		return nil, fmt.Errorf("fat: %s: not a directory", name)
	}
	return f.list(e.cluster)
}

// ReadFile reads a whole file.
func (f *Reader) ReadFile(name string) ([]byte, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if e.Dir {
		return nil, fmt.Errorf("fat: %s: is a directory", name)
	}
	return f.chain(e.cluster, e.Size)
}
