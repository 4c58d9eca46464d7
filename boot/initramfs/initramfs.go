// Package initramfs writes and reads initramfs archives: the "newc" cpio
// format the Linux kernel unpacks into its first root file system
// (Documentation/driver-api/early-userspace/buffer-format.rst), usually
// gzip-compressed.
package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

const (
	magic   = "070701"
	trailer = "TRAILER!!!"
)

// Mode bits of the cpio format (those of stat(2)).
const (
	ModeDir     = 0o040000
	ModeFile    = 0o100000
	ModeSymlink = 0o120000
	ModeCharDev = 0o020000
	modeType    = 0o170000
)

// Entry is one archive member.
type Entry struct {
	Name         string // without a leading slash
	Mode         uint32 // type and permission bits, as in stat(2)
	Data         []byte // file contents or symlink target
	Major, Minor uint32 // device numbers of a device node
}

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Mode&modeType == ModeDir }

// Writer writes a newc archive. Parent directories of every entry are
// written first, once, so callers name only what they mean. All entries get
// uid 0, gid 0 and mtime 0: the same input makes the same bytes.
type Writer struct {
	w    *bufio.Writer
	off  int64
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w), dirs: map[string]bool{".": true, "": true}}
}

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

func (w *Writer) parents(name string) {
	d := path.Dir(name)
	if w.dirs[d] {
		return
	}
	w.parents(d)
	w.dirs[d] = true
	w.header(d, ModeDir|0o755, nil, 0, 0)
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	var n int
	n, w.err = w.w.Write(b)
	w.off += int64(n)
}

func (w *Writer) pad() {
	if r := w.off % 4; r != 0 {
		w.write(make([]byte, 4-r))
	}
}

func (w *Writer) header(name string, mode uint32, data []byte, major, minor uint32) {
	w.ino++
	nlink := 1
	if mode&modeType == ModeDir {
		nlink = 2
	}
	ino := w.ino
	if name == trailer {
		ino, nlink = 0, 1
	}
	h := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, ino, mode, 0, 0, nlink, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	w.write([]byte(h))
	w.write(append([]byte(name), 0))
	w.pad()
	w.write(data)
	w.pad()
}

// Add writes an entry (and any of its parent directories not written yet).
// A directory written twice is written once.
func (w *Writer) Add(e Entry) error {
	name := clean(e.Name)
	if name == "" || name == trailer {
		return fmt.Errorf("initramfs: bad name %q", e.Name)
	}
	w.parents(name)
	if e.IsDir() {
		if w.dirs[name] {
			return w.err
		}
		w.dirs[name] = true
	}
	w.header(name, e.Mode, e.Data, e.Major, e.Minor)
	return w.err
}

// File writes a regular file with permission bits perm.
func (w *Writer) File(name string, perm fs.FileMode, data []byte) error {
	return w.Add(Entry{Name: name, Mode: ModeFile | uint32(perm.Perm()), Data: data})
}

// Dir writes a directory.
func (w *Writer) Dir(name string, perm fs.FileMode) error {
	return w.Add(Entry{Name: name, Mode: ModeDir | uint32(perm.Perm())})
}

// Close writes the trailer and flushes; it does not close the underlying
// writer.
func (w *Writer) Close() error {
	w.header(trailer, 0, nil, 0, 0)
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}

// ErrFormat is returned by [Read] for bytes that are not a newc archive.
var ErrFormat = errors.New("initramfs: not a newc cpio archive")

// Read reads every entry of an uncompressed newc archive up to its trailer.
func Read(r io.Reader) ([]Entry, error) {
	br := bufio.NewReader(r)
	var off int64
	read := func(n int) ([]byte, error) {
		b := make([]byte, n)
		_, err := io.ReadFull(br, b)
		off += int64(n)
		return b, err
	}
	skipPad := func() error {
		if r := off % 4; r != 0 {
			_, err := read(int(4 - r))
			return err
		}
		return nil
	}
	var out []Entry
	for {
		h, err := read(110)
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if string(h[:6]) != magic {
			return out, ErrFormat
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return out, ErrFormat
			}
			f[i] = uint32(v)
		}
		mode, size, major, minor, namesize := f[1], f[6], f[9], f[10], f[11]
		if namesize == 0 || namesize > 4096 || size > 1<<30 {
			return out, ErrFormat
		}
		nb, err := read(int(namesize))
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		name := strings.TrimRight(string(nb), "\x00")
		if err := skipPad(); err != nil {
			return out, err
		}
		// Grow with the data actually there, not with the claimed size.
		data, err := io.ReadAll(io.LimitReader(br, int64(size)))
		off += int64(len(data))
		if err != nil || len(data) != int(size) {
			return out, fmt.Errorf("%w: entry %q truncated", ErrFormat, name)
		}
		if err := skipPad(); err != nil && name != trailer {
			return out, err
		}
		if name == trailer {
			return out, nil
		}
		out = append(out, Entry{Name: name, Mode: mode, Data: data, Major: major, Minor: minor})
	}
}
