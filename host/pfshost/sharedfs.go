package pfshost

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	wsys "github.com/tetratelabs/wazero/sys"

	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

// SharedNamespace is the p-fs namespace modules see as /shared.
const SharedNamespace = "shared"

// opTimeout bounds one file system operation of a guest. It runs inside
// the guest's event, so the event's budget bounds it too.
const opTimeout = 30 * time.Second

// SharedFS is a p-fs namespace as a writable WASI file system, mounted into
// modules at /shared. Files are names: reading opens the latest version;
// a file opened for writing is spooled to a temporary file on the host and
// becomes a new version when the guest closes it (or syncs it), so other
// modules and nodes see whole versions only. Directories are implied by
// the names under them ("a/b" makes "a" a directory); an empty directory
// made with mkdir lives only in this mount until a file is written in it.
// Removing a file writes a removal version: its history stays.
type SharedFS struct {
	experimentalsys.UnimplementedFS
	src   func() *vol.Volume // nil until p-fs is up
	ns    string
	spool string // directory for files being written

	mu   sync.Mutex
	dirs map[string]bool // made with mkdir, still empty
}

// NewSharedFS returns namespace ns of the volume src returns as a file
// system; files being written are spooled in spool. Until src returns a
// volume (p-fs starts after the modules a node restores), every operation
// fails with EAGAIN.
func NewSharedFS(src func() *vol.Volume, ns, spool string) *SharedFS {
	return &SharedFS{src: src, ns: ns, spool: spool, dirs: map[string]bool{}}
}

// vol returns the volume; callers checked ready first.
func (s *SharedFS) vol() *vol.Volume { return s.src() }

// ready reports EAGAIN while p-fs is not up.
func (s *SharedFS) ready() experimentalsys.Errno {
	if s.src() == nil {
		return experimentalsys.EAGAIN
	}
	return 0
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// clean turns a guest path into a name ("" is the root); it fails while
// p-fs is not up.
func (s *SharedFS) clean(p string) (string, experimentalsys.Errno) {
	if e := s.ready(); e != 0 {
		return "", e
	}
	p = path.Clean("/" + p)[1:]
	if p == "" {
		return "", 0
	}
	if names.ValidName(p) != nil {
		return "", experimentalsys.EINVAL
	}
	return p, 0
}

// errno maps p-fs errors to file system errors.
func errno(err error) experimentalsys.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fs.ErrNotExist):
		return experimentalsys.ENOENT
	case errors.Is(err, names.ErrInvalid):
		return experimentalsys.EINVAL
	case errors.Is(err, vol.ErrMissing), errors.Is(err, context.DeadlineExceeded):
		return experimentalsys.EIO
	}
	return experimentalsys.EIO
}

// kind says whether name is a file (with its latest version), a directory,
// or nothing.
func (s *SharedFS) kind(name string) (file bool, v names.Version, dir bool) {
	if name == "" {
		return false, v, true
	}
	for _, x := range s.vol().List(s.ns, name) {
		if x.Name == name {
			file, v = true, x
		} else if strings.HasPrefix(x.Name, name+"/") {
			dir = true
		}
		if file && dir {
			break
		}
	}
	if !dir {
		s.mu.Lock()
		dir = s.dirs[name]
		s.mu.Unlock()
	}
	return file, v, dir
}

func fileStat(v names.Version) wsys.Stat_t {
	t := wsys.EpochNanos(v.Time.Wall)
	return wsys.Stat_t{Mode: 0o644, Nlink: 1, Size: int64(v.Size), Atim: t, Mtim: t, Ctim: t}
}

func dirStat() wsys.Stat_t { return wsys.Stat_t{Mode: fs.ModeDir | 0o755, Nlink: 2} }

// Stat implements experimentalsys.FS.
func (s *SharedFS) Stat(p string) (wsys.Stat_t, experimentalsys.Errno) {
	name, e := s.clean(p)
	if e != 0 {
		return wsys.Stat_t{}, e
	}
	file, v, dir := s.kind(name)
	switch {
	case file:
		return fileStat(v), 0
	case dir:
		return dirStat(), 0
	}
	return wsys.Stat_t{}, experimentalsys.ENOENT
}

// Lstat implements experimentalsys.FS (there are no links).
func (s *SharedFS) Lstat(p string) (wsys.Stat_t, experimentalsys.Errno) { return s.Stat(p) }

// Mkdir implements experimentalsys.FS.
func (s *SharedFS) Mkdir(p string, _ fs.FileMode) experimentalsys.Errno {
	name, e := s.clean(p)
	if e != 0 {
		return e
	}
	if file, _, dir := s.kind(name); file || dir {
		return experimentalsys.EEXIST
	}
	s.mu.Lock()
	s.dirs[name] = true
	s.mu.Unlock()
	return 0
}

// Rmdir implements experimentalsys.FS.
func (s *SharedFS) Rmdir(p string) experimentalsys.Errno {
	name, e := s.clean(p)
	if e != 0 || name == "" {
		return experimentalsys.EINVAL
	}
	file, _, dir := s.kind(name)
	switch {
	case file:
		return experimentalsys.ENOTDIR
	case !dir:
		return experimentalsys.ENOENT
	}
	if len(s.vol().List(s.ns, name+"/")) > 0 {
		return experimentalsys.ENOTEMPTY
	}
	s.mu.Lock()
	delete(s.dirs, name)
	s.mu.Unlock()
	return 0
}

// Unlink implements experimentalsys.FS: a removal version.
func (s *SharedFS) Unlink(p string) experimentalsys.Errno {
	name, e := s.clean(p)
	if e != 0 {
		return e
	}
	file, _, dir := s.kind(name)
	if !file {
		if dir {
			return experimentalsys.EISDIR
		}
		return experimentalsys.ENOENT
	}
	c, cancel := ctx()
	defer cancel()
	_, err := s.vol().Remove(c, s.ns, name)
	return errno(err)
}

// Rename implements experimentalsys.FS for files: the content becomes a
// new version of the new name, then the old name is removed (two versions,
// not an atomic step).
func (s *SharedFS) Rename(from, to string) experimentalsys.Errno {
	src, e := s.clean(from)
	if e != 0 {
		return e
	}
	dst, e := s.clean(to)
	if e != 0 || dst == "" {
		return experimentalsys.EINVAL
	}
	if file, _, _ := s.kind(src); !file {
		return experimentalsys.ENOENT
	}
	if _, _, dir := s.kind(dst); dir {
		return experimentalsys.EISDIR
	}
	c, cancel := ctx()
	defer cancel()
	f, err := s.vol().Open(c, s.ns, src)
	if err != nil {
		return errno(err)
	}
	defer f.Close()
	if _, err := s.vol().Put(c, s.ns, dst, f, nil); err != nil {
		return errno(err)
	}
	_, err = s.vol().Remove(c, s.ns, src)
	return errno(err)
}

// Utimens implements experimentalsys.FS: times are the versions' own, so
// this is accepted and ignored.
func (s *SharedFS) Utimens(string, int64, int64) experimentalsys.Errno { return 0 }

// OpenFile implements experimentalsys.FS.
func (s *SharedFS) OpenFile(p string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	name, e := s.clean(p)
	if e != 0 {
		return nil, e
	}
	file, _, dir := s.kind(name)
	writing := flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) != 0 ||
		flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_APPEND) != 0
	switch {
	case dir && (writing || file):
		if writing {
			return nil, experimentalsys.EISDIR
		}
		fallthrough
	case dir:
		return s.openRead(name, experimentalsys.O_DIRECTORY)
	case flag&experimentalsys.O_DIRECTORY != 0:
		if file {
			return nil, experimentalsys.ENOTDIR
		}
		return nil, experimentalsys.ENOENT
	case file && flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case !file && flag&experimentalsys.O_CREAT == 0:
		return nil, experimentalsys.ENOENT
	case !writing:
		return s.openRead(name, 0)
	}
	return s.openWriter(name, flag, file)
}

// openRead opens a file or directory for reading through wazero's own
// adapter of an io/fs file system (seeks, positional reads, stat and
// directory rewinds are its job).
func (s *SharedFS) openRead(name string, flag experimentalsys.Oflag) (experimentalsys.File, experimentalsys.Errno) {
	if name == "" {
		name = "."
	}
	return (&sysfs.AdaptFS{FS: view{s}}).OpenFile(name, experimentalsys.O_RDONLY|flag, 0)
}

func (s *SharedFS) openWriter(name string, flag experimentalsys.Oflag, exists bool) (experimentalsys.File, experimentalsys.Errno) {
	if err := os.MkdirAll(s.spool, 0o700); err != nil {
		return nil, experimentalsys.EIO
	}
	tmp, err := os.CreateTemp(s.spool, "shared-*.spool")
	if err != nil {
		return nil, experimentalsys.EIO
	}
	if exists && flag&experimentalsys.O_TRUNC == 0 {
		// Keep the old content: the guest may write into the middle or
		// append.
		c, cancel := ctx()
		f, err := s.vol().Open(c, s.ns, name)
		if err == nil {
			_, err = io.Copy(tmp, f)
			f.Close()
		}
		cancel()
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return nil, errno(err)
		}
	}
	tmp.Close()
	f, e := sysfs.DirFS(s.spool).OpenFile(filepath.Base(tmp.Name()), experimentalsys.O_RDWR|flag&experimentalsys.O_APPEND, 0)
	if e != 0 {
		os.Remove(tmp.Name())
		return nil, e
	}
	// A new file, or a truncated one, is a new version even if nothing is
	// written.
	dirty := !exists || flag&experimentalsys.O_TRUNC != 0
	return &sharedWriter{File: f, fs: s, name: name, path: tmp.Name(), dirty: dirty,
		readable: flag&experimentalsys.O_RDWR != 0}, 0
}

// sharedWriter is a file open for writing, spooled on the host until it
// is closed or synced. The spool file is wazero's own host file; this type
// only tracks changes and publishes them.
type sharedWriter struct {
	experimentalsys.File
	fs       *SharedFS
	name     string
	path     string // of the spool file
	dirty    bool
	readable bool
	closed   bool
}

func (w *sharedWriter) Write(b []byte) (int, experimentalsys.Errno) {
	n, e := w.File.Write(b)
	w.dirty = w.dirty || n > 0
	return n, e
}

func (w *sharedWriter) Pwrite(b []byte, off int64) (int, experimentalsys.Errno) {
	n, e := w.File.Pwrite(b, off)
	w.dirty = w.dirty || n > 0
	return n, e
}

func (w *sharedWriter) Truncate(size int64) experimentalsys.Errno {
	e := w.File.Truncate(size)
	w.dirty = w.dirty || e == 0
	return e
}

func (w *sharedWriter) Read(b []byte) (int, experimentalsys.Errno) {
	if !w.readable {
		return 0, experimentalsys.EBADF
	}
	return w.File.Read(b)
}

func (w *sharedWriter) Pread(b []byte, off int64) (int, experimentalsys.Errno) {
	if !w.readable {
		return 0, experimentalsys.EBADF
	}
	return w.File.Pread(b, off)
}

// Sync publishes what was written so far as a version.
func (w *sharedWriter) Sync() experimentalsys.Errno {
	if w.closed {
		return experimentalsys.EBADF
	}
	return w.publish()
}

func (w *sharedWriter) Datasync() experimentalsys.Errno { return w.Sync() }

func (w *sharedWriter) publish() experimentalsys.Errno {
	if !w.dirty {
		return 0
	}
	f, err := os.Open(w.path)
	if err != nil {
		return experimentalsys.EIO
	}
	defer f.Close()
	c, cancel := ctx()
	defer cancel()
	if _, err := w.fs.vol().Put(c, w.fs.ns, w.name, f, nil); err != nil {
		return errno(err)
	}
	w.dirty = false
	w.fs.mu.Lock()
	for d := path.Dir(w.name); d != "."; d = path.Dir(d) {
		delete(w.fs.dirs, d)
	}
	w.fs.mu.Unlock()
	return 0
}

// Close publishes the file as a new version (when anything changed).
func (w *sharedWriter) Close() experimentalsys.Errno {
	if w.closed {
		return 0
	}
	w.closed = true
	e := w.publish()
	w.File.Close()
	os.Remove(w.path)
	return e
}

// view is the namespace as a read-only io/fs file system: names are files,
// directories are implied by the names under them.
type view struct{ s *SharedFS }

func (v view) Open(name string) (fs.File, error) {
	n := name
	if n == "." {
		n = ""
	}
	file, ver, dir := v.s.kind(n)
	switch {
	case dir:
		return &dirFile{s: v.s, name: n}, nil
	case file:
		// The file keeps this context for its reads, which run as long
		// as the guest keeps it open: no deadline here (the guest's
		// event budget bounds each read).
		f, err := v.s.vol().OpenVersion(context.Background(), ver)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return versionFile{f, ver}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// versionFile is one open version (reads, seeks and positional reads come
// from vol.File).
type versionFile struct {
	*vol.File
	v names.Version
}

func (f versionFile) Stat() (fs.FileInfo, error) {
	return entryInfo{name: path.Base(f.v.Name), size: int64(f.v.Size), mtime: f.v.Time.Wall}, nil
}

// entryInfo describes a file (mode 0) or an implied directory.
type entryInfo struct {
	name  string
	mode  fs.FileMode
	size  int64
	mtime int64
}

func (i entryInfo) Name() string { return i.name }
func (i entryInfo) Size() int64  { return i.size }
func (i entryInfo) Mode() fs.FileMode {
	if i.mode.IsDir() {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i entryInfo) ModTime() time.Time { return time.Unix(0, i.mtime) }
func (i entryInfo) IsDir() bool        { return i.mode.IsDir() }
func (i entryInfo) Sys() any           { return nil }

// dirFile is an open directory: its entries are listed when first read.
type dirFile struct {
	s       *SharedFS
	name    string
	entries []fs.DirEntry
	read    bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) {
	return entryInfo{name: path.Base("/" + d.name), mode: fs.ModeDir}, nil
}
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

// ReadDir lists the files and directories right under d.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.read = true
		d.entries = d.s.list(d.name)
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

// list returns the entries right under directory dir, sorted.
func (s *SharedFS) list(dir string) []fs.DirEntry {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	seen := map[string]fs.FileMode{}
	for _, v := range s.vol().List(s.ns, prefix) {
		rest := strings.TrimPrefix(v.Name, prefix)
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seen[rest[:i]] = fs.ModeDir
		} else if _, ok := seen[rest]; !ok {
			seen[rest] = 0
		}
	}
	s.mu.Lock()
	for made := range s.dirs {
		if path.Dir("/" + made)[1:] == dir {
			seen[path.Base(made)] = fs.ModeDir
		}
	}
	s.mu.Unlock()
	out := make([]fs.DirEntry, 0, len(seen))
	for name, mode := range seen {
		out = append(out, fs.FileInfoToDirEntry(entryInfo{name: name, mode: mode}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
