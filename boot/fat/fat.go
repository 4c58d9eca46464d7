// Package fat writes and reads FAT32 file systems and MBR partition tables,
// in pure Go, for the Raspberry Pi SD-card image: the Pi's firmware boots
// from a FAT partition. The writer lays out a whole file system at once
// (files are added, then Write places them in consecutive clusters); long
// names are stored as VFAT long-name entries. Timestamps are fixed, so the
// same files make the same bytes.
package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
)

const sector = 512

// FS is a FAT32 file system being built.
type FS struct {
	root *node
}

type node struct {
	name     string
	dir      bool
	data     []byte
	kids     map[string]*node
	cluster  uint32
	clusters uint32
	entries  []byte // directory contents, once laid out
}

// New returns an empty file system.
func New() *FS { return &FS{root: &node{dir: true, kids: map[string]*node{}}} }

func (f *FS) mkdir(p string) (*node, error) {
	n := f.root
	if p == "." || p == "" {
		return n, nil
	}
	for _, part := range strings.Split(p, "/") {
		k := n.kids[strings.ToUpper(part)]
		if k == nil {
			k = &node{name: part, dir: true, kids: map[string]*node{}}
			n.kids[strings.ToUpper(part)] = k
		} else if !k.dir {
			return nil, fmt.Errorf("fat: %s is a file", part)
		}
		n = k
	}
	return n, nil
}

// Add adds a file (slash-separated path; parent directories are made).
// Names are case-insensitive, as FAT's are.
func (f *FS) Add(name string, data []byte) error {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return fmt.Errorf("fat: empty name")
	}
	d, err := f.mkdir(path.Dir(name))
	if err != nil {
		return err
	}
	base := path.Base(name)
	if len(base) > 255 {
		return fmt.Errorf("fat: name %q too long", base)
	}
	if k := d.kids[strings.ToUpper(base)]; k != nil && k.dir {
		return fmt.Errorf("fat: %s is a directory", name)
	}
	d.kids[strings.ToUpper(base)] = &node{name: base, data: data}
	return nil
}

// Mkdir adds an empty directory.
func (f *FS) Mkdir(name string) error {
	_, err := f.mkdir(strings.TrimPrefix(path.Clean("/"+name), "/"))
	return err
}

func (n *node) sorted() []*node {
	out := make([]*node, 0, len(n.kids))
	for _, k := range n.kids {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Fixed timestamp: 2000-01-01 00:00.
const (
	fatDate = (20 << 9) | (1 << 5) | 1
	fatTime = 0
)

// shortName returns the 8.3 name of long (and whether long needs VFAT
// long-name entries), unique among used.
func shortName(long string, used map[string]bool) ([11]byte, bool) {
	var sn [11]byte
	for i := range sn {
		sn[i] = ' '
	}
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			switch {
			case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("$%'-_@~`!(){}^#&", r):
				b.WriteRune(r)
			case r == ' ' || r == '.':
			default:
				b.WriteRune('_')
			}
		}
		return b.String()
	}
	base, ext := long, ""
	if i := strings.LastIndexByte(long, '.'); i > 0 {
		base, ext = long[:i], long[i+1:]
	}
	cb, ce := clean(base), clean(ext)
	if len(ce) > 3 {
		ce = ce[:3]
	}
	fits := cb == base && ce == ext && len(cb) <= 8 && len(cb) > 0 && !strings.Contains(base, ".")
	if fits && !used[cb+"."+ce] {
		copy(sn[:], cb)
		copy(sn[8:], ce)
		used[cb+"."+ce] = true
		return sn, false
	}
	for i := 1; ; i++ {
		tail := fmt.Sprintf("~%d", i)
		b := cb
		if len(b) > 8-len(tail) {
			b = b[:8-len(tail)]
		}
		b += tail
		if !used[b+"."+ce] {
			used[b+"."+ce] = true
			copy(sn[:], b)
			copy(sn[8:], ce)
			return sn, true
		}
	}
}

func lfnChecksum(sn [11]byte) byte {
	var s byte
	for _, c := range sn {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

func dirEntry(sn [11]byte, attr byte, cluster, size uint32) []byte {
	e := make([]byte, 32)
	copy(e, sn[:])
	e[11] = attr
	binary.LittleEndian.PutUint16(e[14:], fatTime)
	binary.LittleEndian.PutUint16(e[16:], fatDate)
	binary.LittleEndian.PutUint16(e[18:], fatDate)
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
	binary.LittleEndian.PutUint16(e[22:], fatTime)
	binary.LittleEndian.PutUint16(e[24:], fatDate)
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

// lfnEntries are the VFAT long-name entries of name, in on-disk order.
func lfnEntries(name string, sum byte) []byte {
	u := utf16.Encode([]rune(name))
	n := (len(u) + 12) / 13
	padded := make([]uint16, n*13)
	for i := range padded {
		switch {
		case i < len(u):
			padded[i] = u[i]
		case i == len(u):
			padded[i] = 0
		default:
			padded[i] = 0xFFFF
		}
	}
	var out []byte
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11] = 0x0F
		e[13] = sum
		chars := padded[(seq-1)*13 : seq*13]
		offs := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
		for i, o := range offs {
			binary.LittleEndian.PutUint16(e[o:], chars[i])
		}
		out = append(out, e...)
	}
	return out
}

// Geometry is the layout of a written file system.
type Geometry struct {
	Sectors           uint32 // total
	SectorsPerCluster uint32
	Reserved          uint32
	FATSectors        uint32
	Clusters          uint32
}

func geometry(size int64) (Geometry, error) {
	total := uint32(size / sector)
	g := Geometry{Sectors: total, Reserved: 32}
	switch {
	case size < 33<<20:
		return g, fmt.Errorf("fat: %d bytes is too small for FAT32 (at least 33 MiB)", size)
	case size <= 260<<20:
		g.SectorsPerCluster = 1
	case size <= 8<<30:
		g.SectorsPerCluster = 8
	default:
		g.SectorsPerCluster = 32
	}
	g.FATSectors = ((total-g.Reserved)/g.SectorsPerCluster + 2 + 127) / 128
	g.Clusters = (total - g.Reserved - 2*g.FATSectors) / g.SectorsPerCluster
	if g.Clusters < 65525 {
		return g, fmt.Errorf("fat: %d clusters is too few for FAT32", g.Clusters)
	}
	return g, nil
}

// Write writes the file system, size bytes long, at offset off of w (a
// partition of a disk image). hidden is the partition's first sector
// (recorded in the boot sector); label is the volume label (11 bytes max).
func (f *FS) Write(w io.WriterAt, off, size int64, hidden uint32, label string) (Geometry, error) {
	g, err := geometry(size)
	if err != nil {
		return g, err
	}
	csize := g.SectorsPerCluster * sector
	next := uint32(2)
	fat := make([]uint32, g.Clusters+2)
	fat[0], fat[1] = 0x0FFFFFF8, 0x0FFFFFFF
	alloc := func(bytes int) (uint32, uint32, error) {
		n := uint32((bytes + int(csize) - 1) / int(csize))
		if n == 0 {
			return 0, 0, nil
		}
		if next+n > g.Clusters+2 {
			return 0, 0, fmt.Errorf("fat: file system of %d bytes is full", size)
		}
		first := next
		for i := uint32(0); i < n; i++ {
			fat[first+i] = first + i + 1
		}
		fat[first+n-1] = 0x0FFFFFFF
		next += n
		return first, n, nil
	}
	// Directory sizes do not depend on clusters: count entries, allocate
	// every directory and file, then fill the entries in.
	var layout func(n *node, isRoot bool) error
	entryCount := func(n *node) int {
		c := 0
		if isRoot := n == f.root; isRoot {
			c++ // volume label
		} else {
			c += 2 // . and ..
		}
		used := map[string]bool{}
		for _, k := range n.sorted() {
			_, long := shortName(k.name, used)
			c++
			if long {
				c += (len(utf16.Encode([]rune(k.name))) + 12) / 13
			}
		}
		return c
	}
	layout = func(n *node, isRoot bool) error {
		var err error
		if n.dir {
			n.cluster, n.clusters, err = alloc(entryCount(n) * 32)
		} else {
			n.cluster, n.clusters, err = alloc(len(n.data))
		}
		if err != nil || !n.dir {
			return err
		}
		for _, k := range n.sorted() {
			if err := layout(k, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := layout(f.root, true); err != nil {
		return g, err
	}
	dataStart := off + int64(g.Reserved+2*g.FATSectors)*sector
	clusterOff := func(c uint32) int64 { return dataStart + int64(c-2)*int64(csize) }
	var lbl [11]byte
	copy(lbl[:], strings.ToUpper(label)+"           ")
	var fill func(n, parent *node) error
	fill = func(n, parent *node) error {
		if !n.dir {
			if len(n.data) == 0 {
				return nil // no cluster
			}
			_, err := w.WriteAt(n.data, clusterOff(n.cluster))
			return err
		}
		var b []byte
		if n == f.root {
			b = append(b, dirEntry(lbl, 0x08, 0, 0)...)
		} else {
			dot := [11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
			b = append(b, dirEntry(dot, 0x10, n.cluster, 0)...)
			dot[1] = '.'
			pc := parent.cluster
			if parent == f.root {
				pc = 0
			}
			b = append(b, dirEntry(dot, 0x10, pc, 0)...)
		}
		used := map[string]bool{}
		for _, k := range n.sorted() {
			sn, long := shortName(k.name, used)
			if long {
				b = append(b, lfnEntries(k.name, lfnChecksum(sn))...)
			}
			if k.dir {
				b = append(b, dirEntry(sn, 0x10, k.cluster, 0)...)
			} else {
				b = append(b, dirEntry(sn, 0x20, k.cluster, uint32(len(k.data)))...)
			}
		}
		// Zero the rest of the directory's clusters: it ends at a zero entry.
		full := make([]byte, int(n.clusters)*int(csize))
		copy(full, b)
		if _, err := w.WriteAt(full, clusterOff(n.cluster)); err != nil {
			return err
		}
		for _, k := range n.sorted() {
			if err := fill(k, n); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill(f.root, nil); err != nil {
		return g, err
	}
	// Boot sector, FSInfo, their backups, and the two FATs.
	bs := make([]byte, sector)
	copy(bs, []byte{0xEB, 0x58, 0x90})
	copy(bs[3:], "PKERNEL ")
	le16 := binary.LittleEndian.PutUint16
	le32 := binary.LittleEndian.PutUint32
	le16(bs[11:], sector)
	bs[13] = byte(g.SectorsPerCluster)
	le16(bs[14:], uint16(g.Reserved))
	bs[16] = 2
	bs[21] = 0xF8
	le16(bs[24:], 63)
	le16(bs[26:], 255)
	le32(bs[28:], hidden)
	le32(bs[32:], g.Sectors)
	le32(bs[36:], g.FATSectors)
	le32(bs[44:], 2)
	le16(bs[48:], 1)
	le16(bs[50:], 6)
	bs[64] = 0x80
	bs[66] = 0x29
	le32(bs[67:], 0x504B0001^hidden)
	copy(bs[71:82], lbl[:])
	copy(bs[82:], "FAT32   ")
	bs[510], bs[511] = 0x55, 0xAA
	info := make([]byte, sector)
	le32(info[0:], 0x41615252)
	le32(info[484:], 0x61417272)
	le32(info[488:], g.Clusters+2-next)
	le32(info[492:], next)
	le32(info[508:], 0xAA550000)
	reserved := make([]byte, g.Reserved*sector)
	copy(reserved[0:], bs)
	copy(reserved[sector:], info)
	copy(reserved[6*sector:], bs)
	copy(reserved[7*sector:], info)
	if _, err := w.WriteAt(reserved, off); err != nil {
		return g, err
	}
	fb := make([]byte, g.FATSectors*sector)
	for i, v := range fat {
		le32(fb[4*i:], v)
	}
	for i := int64(0); i < 2; i++ {
		if _, err := w.WriteAt(fb, off+int64(g.Reserved)*sector+i*int64(len(fb))); err != nil {
			return g, err
		}
	}
	return g, nil
}
