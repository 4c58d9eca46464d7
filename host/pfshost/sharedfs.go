package pfshost

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
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
	file, v, dir := s.kind(name)
	writing := flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) != 0 ||
		flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_APPEND) != 0
	switch {
	case dir && (writing || file):
		if writing {
			return nil, experimentalsys.EISDIR
		}
		fallthrough
	case dir:
		return &sharedDir{fs: s, name: name}, 0
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
		// The file keeps this context for its reads, which run as long
		// as the guest keeps it open: no deadline here (the guest's
		// event budget bounds each read).
		f, err := s.vol().OpenVersion(context.Background(), v)
		if err != nil {
			return nil, errno(err)
		}
		return &sharedReader{f: f, v: v}, 0
	}
	return s.openWriter(name, flag, file)
}

func (s *SharedFS) openWriter(name string, flag experimentalsys.Oflag, exists bool) (experimentalsys.File, experimentalsys.Errno) {
	if err := os.MkdirAll(s.spool, 0o700); err != nil {
		return nil, experimentalsys.EIO
	}
	tmp, err := os.CreateTemp(s.spool, "shared-*.spool")
	if err != nil {
		return nil, experimentalsys.EIO
	}
	w := &sharedWriter{fs: s, name: name, tmp: tmp, dirty: !exists,
		readable: flag&experimentalsys.O_RDWR != 0, appendMode: flag&experimentalsys.O_APPEND != 0}
	if exists && flag&experimentalsys.O_TRUNC == 0 {
		// Keep the old content: the guest may write into the middle or
		// append.
		c, cancel := ctx()
		defer cancel()
		f, err := s.vol().Open(c, s.ns, name)
		if err == nil {
			_, err = io.Copy(tmp, f)
			f.Close()
		}
		if err != nil {
			w.discard()
			return nil, errno(err)
		}
	} else if exists {
		w.dirty = true // truncated: an empty new version even if nothing is written
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		w.discard()
		return nil, experimentalsys.EIO
	}
	return w, 0
}

// sharedReader is a file open for reading: one version, verified reads.
type sharedReader struct {
	experimentalsys.UnimplementedFile
	f      *vol.File
	v      names.Version
	closed bool
}

func (r *sharedReader) IsDir() (bool, experimentalsys.Errno)       { return false, 0 }
func (r *sharedReader) Stat() (wsys.Stat_t, experimentalsys.Errno) { return fileStat(r.v), 0 }

func (r *sharedReader) Read(b []byte) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := r.f.Read(b)
	if err == io.EOF {
		err = nil
	}
	return n, errno(err)
}

func (r *sharedReader) Pread(b []byte, off int64) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := r.f.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	return n, errno(err)
}

func (r *sharedReader) Seek(off int64, whence int) (int64, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := r.f.Seek(off, whence)
	if err != nil {
		return 0, experimentalsys.EINVAL
	}
	return n, 0
}

func (r *sharedReader) Close() experimentalsys.Errno {
	if !r.closed {
		r.closed = true
		r.f.Close()
	}
	return 0
}

// sharedWriter is a file open for writing, spooled on the host until it
// is closed or synced.
type sharedWriter struct {
	experimentalsys.UnimplementedFile
	fs         *SharedFS
	name       string
	tmp        *os.File
	dirty      bool
	readable   bool
	appendMode bool
	closed     bool
}

func (w *sharedWriter) discard() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

func (w *sharedWriter) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (w *sharedWriter) IsAppend() bool                       { return w.appendMode }

func (w *sharedWriter) SetAppend(on bool) experimentalsys.Errno {
	w.appendMode = on
	return 0
}

func (w *sharedWriter) Stat() (wsys.Stat_t, experimentalsys.Errno) {
	st, err := w.tmp.Stat()
	if err != nil {
		return wsys.Stat_t{}, experimentalsys.EIO
	}
	t := wsys.EpochNanos(time.Now().UnixNano())
	return wsys.Stat_t{Mode: 0o644, Nlink: 1, Size: st.Size(), Atim: t, Mtim: t, Ctim: t}, 0
}

func (w *sharedWriter) Write(b []byte) (int, experimentalsys.Errno) {
	if w.closed {
		return 0, experimentalsys.EBADF
	}
	if w.appendMode {
		if _, err := w.tmp.Seek(0, io.SeekEnd); err != nil {
			return 0, experimentalsys.EIO
		}
	}
	n, err := w.tmp.Write(b)
	w.dirty = w.dirty || n > 0
	if err != nil {
		return n, experimentalsys.EIO
	}
	return n, 0
}

func (w *sharedWriter) Pwrite(b []byte, off int64) (int, experimentalsys.Errno) {
	if w.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := w.tmp.WriteAt(b, off)
	w.dirty = w.dirty || n > 0
	if err != nil {
		return n, experimentalsys.EIO
	}
	return n, 0
}

func (w *sharedWriter) Read(b []byte) (int, experimentalsys.Errno) {
	if w.closed || !w.readable {
		return 0, experimentalsys.EBADF
	}
	n, err := w.tmp.Read(b)
	if err != nil && err != io.EOF {
		return n, experimentalsys.EIO
	}
	return n, 0
}

func (w *sharedWriter) Pread(b []byte, off int64) (int, experimentalsys.Errno) {
	if w.closed || !w.readable {
		return 0, experimentalsys.EBADF
	}
	n, err := w.tmp.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return n, experimentalsys.EIO
	}
	return n, 0
}

func (w *sharedWriter) Seek(off int64, whence int) (int64, experimentalsys.Errno) {
	if w.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := w.tmp.Seek(off, whence)
	if err != nil {
		return 0, experimentalsys.EINVAL
	}
	return n, 0
}

func (w *sharedWriter) Truncate(size int64) experimentalsys.Errno {
	if w.closed {
		return experimentalsys.EBADF
	}
	if err := w.tmp.Truncate(size); err != nil {
		return experimentalsys.EINVAL
	}
	w.dirty = true
	return 0
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
	pos, err := w.tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return experimentalsys.EIO
	}
	if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
		return experimentalsys.EIO
	}
	c, cancel := ctx()
	defer cancel()
	_, perr := w.fs.vol().Put(c, w.fs.ns, w.name, w.tmp, nil)
	w.tmp.Seek(pos, io.SeekStart)
	if perr != nil {
		return errno(perr)
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
	w.discard()
	return e
}

// sharedDir is an open directory.
type sharedDir struct {
	experimentalsys.UnimplementedFile
	fs      *SharedFS
	name    string
	entries []experimentalsys.Dirent
	read    bool
	closed  bool
}

func (d *sharedDir) IsDir() (bool, experimentalsys.Errno)           { return true, 0 }
func (d *sharedDir) Stat() (wsys.Stat_t, experimentalsys.Errno)     { return dirStat(), 0 }
func (d *sharedDir) Close() experimentalsys.Errno                   { d.closed = true; return 0 }
func (d *sharedDir) Seek(int64, int) (int64, experimentalsys.Errno) { d.read = false; return 0, 0 }

// Readdir lists the files and directories right under d.
func (d *sharedDir) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if d.closed {
		return nil, experimentalsys.EBADF
	}
	if !d.read {
		d.read = true
		prefix := ""
		if d.name != "" {
			prefix = d.name + "/"
		}
		seen := map[string]fs.FileMode{}
		for _, v := range d.fs.vol().List(d.fs.ns, prefix) {
			rest := strings.TrimPrefix(v.Name, prefix)
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				seen[rest[:i]] = fs.ModeDir
			} else if _, ok := seen[rest]; !ok {
				seen[rest] = 0
			}
		}
		d.fs.mu.Lock()
		for dir := range d.fs.dirs {
			if path.Dir("/" + dir)[1:] == d.name {
				seen[path.Base(dir)] = fs.ModeDir
			}
		}
		d.fs.mu.Unlock()
		d.entries = d.entries[:0]
		for name, mode := range seen {
			d.entries = append(d.entries, experimentalsys.Dirent{Name: name, Type: mode})
		}
		sort.Slice(d.entries, func(i, j int) bool { return d.entries[i].Name < d.entries[j].Name })
	}
	if n <= 0 || n > len(d.entries) {
		n = len(d.entries)
	}
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, 0
}
