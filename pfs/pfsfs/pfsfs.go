// Package pfsfs owns the io/fs view of a p-fs tree and the importer that
// makes such a tree from any fs.FS.
//
// [FS] reads a tree of object.Dir and object.File manifests from a root Dir
// id through a [Source]; every object and chunk it reads is verified
// against its id. Files implement io.ReaderAt and io.Seeker, and reading at
// an offset descends the file's tree to the one chunk it needs. The view is
// read-only and immutable (a root id names one version), so an FS is safe
// for concurrent use; each opened file is not.
//
// fs.FS methods take no context: the view uses context.Background, and a
// Source that talks to the network should apply its own deadlines.
//
// Imports: pfs/object, pfs/chunk, pfs/blockstore, pfs/cid and the standard
// library.
package pfsfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/object"
)

// Source is where the view gets its bytes.
type Source struct {
	// Object returns an object's bytes (they are verified here).
	Object object.GetFunc
	// Chunk returns a chunk's plain bytes, erasure-decoding it if K >= 2
	// (they are verified here). Nil means Object(ctx, c.ID), which is
	// right for replicated (K == 1) chunks stored as blocks.
	Chunk func(ctx context.Context, c object.Chunk) ([]byte, error)
}

// FS is a read-only fs.FS over one root Dir.
type FS struct {
	src  Source
	root cid.ID
}

var (
	_ fs.ReadDirFS = (*FS)(nil)
	_ fs.StatFS    = (*FS)(nil)
)

// New returns the view of the tree whose root Dir object is root.
func New(src Source, root cid.ID) *FS { return &FS{src: src, root: root} }

func (f *FS) chunk(ctx context.Context, c object.Chunk) ([]byte, error) {
	var b []byte
	var err error
	if f.src.Chunk != nil {
		b, err = f.src.Chunk(ctx, c)
	} else {
		b, err = f.src.Object(ctx, c.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := cid.Verify(c.ID, b); err != nil {
		return nil, err
	}
	if len(b) != int(c.Size) {
		return nil, fmt.Errorf("%w: chunk %s is %d bytes, manifest says %d", object.ErrInvalid, c.ID.Short(), len(b), c.Size)
	}
	return b, nil
}

// lookup resolves name to its entry, loading one Dir per path element.
func (f *FS) lookup(ctx context.Context, op, name string) (object.Entry, error) {
	if !fs.ValidPath(name) {
		return object.Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e := object.Entry{Name: ".", Kind: object.KindDir, ID: f.root, Mode: 0o555}
	if name == "." {
		return e, nil
	}
	for elem := range strings.SplitSeq(name, "/") {
		if e.Kind != object.KindDir {
			return object.Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		d, err := object.LoadDir(ctx, f.src.Object, e.ID)
		if err != nil {
			return object.Entry{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		var ok bool
		if e, ok = d.Lookup(elem); !ok {
			return object.Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return e, nil
}

// Open implements fs.FS.
func (f *FS) Open(name string) (fs.File, error) {
	ctx := context.Background()
	e, err := f.lookup(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	if e.Kind == object.KindDir {
		d, err := object.LoadDir(ctx, f.src.Object, e.ID)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if name == "." {
			for _, c := range d.Entries {
				e.Size += c.Size
			}
		}
		return &dir{info: info{e}, entries: d.Entries}, nil
	}
	m, err := object.LoadFile(ctx, f.src.Object, e.ID)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if m.Size != e.Size {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: file is %d bytes, its directory says %d", object.ErrInvalid, m.Size, e.Size)}
	}
	return &File{fsys: f, name: name, info: info{e}, m: m,
		r: object.NewReader(m, f.src.Object, func(ctx context.Context, c object.Chunk, _ uint64) ([]byte, error) {
			return f.chunk(ctx, c)
		})}, nil
}

// Stat implements fs.StatFS.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if name == "." {
		fi, err := f.Open(name) // the root's size is the sum of its entries
		if err != nil {
			return nil, err
		}
		return fi.Stat()
	}
	e, err := f.lookup(context.Background(), "stat", name)
	if err != nil {
		return nil, err
	}
	return info{e}, nil
}

// ReadDir implements fs.ReadDirFS: entries sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ctx := context.Background()
	e, err := f.lookup(ctx, "readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Kind != object.KindDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	d, err := object.LoadDir(ctx, f.src.Object, e.ID)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(d.Entries))
	for i, c := range d.Entries {
		out[i] = info{c}
	}
	return out, nil
}

// info is both the fs.FileInfo and the fs.DirEntry of an entry.
type info struct{ e object.Entry }

func (i info) Name() string { return path.Base(i.e.Name) }
func (i info) Size() int64  { return int64(i.e.Size) }
func (i info) Mode() fs.FileMode {
	m := i.e.Mode
	if i.e.Kind == object.KindDir {
		m |= fs.ModeDir
	}
	return m
}
func (i info) ModTime() time.Time {
	if i.e.MTime == 0 {
		return time.Time{}
	}
	return time.Unix(0, i.e.MTime)
}
func (i info) IsDir() bool                { return i.e.Kind == object.KindDir }
func (i info) Sys() any                   { return nil }
func (i info) Type() fs.FileMode          { return i.Mode().Type() }
func (i info) Info() (fs.FileInfo, error) { return i, nil }
func (i info) String() string             { return fs.FormatDirEntry(i) }

// dir is an open directory.
type dir struct {
	info    info
	entries []object.Entry
	pos     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.e.Name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.pos:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	out := make([]fs.DirEntry, len(rest))
	for i, e := range rest {
		out[i] = info{e}
	}
	d.pos += len(rest)
	return out, nil
}

// File is an open regular file of an FS. It implements io.ReaderAt and
// io.Seeker and keeps the last chunk it read, so sequential reads fetch
// each chunk once.
type File struct {
	fsys *FS
	name string
	info info
	m    *object.File
	r    *object.Reader
	off  int64
}

var (
	_ io.ReaderAt = (*File)(nil)
	_ io.Seeker   = (*File)(nil)
)

// Stat implements fs.File.
func (f *File) Stat() (fs.FileInfo, error) { return f.info, nil }

// Close implements fs.File.
func (f *File) Close() error { f.r.Release(); return nil }

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(context.Background(), p, off)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	return n, err
}

// Seek implements io.Seeker.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	off, err := object.Seek(f.off, int64(f.m.Size), offset, whence)
	if err != nil {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: err}
	}
	f.off = off
	return off, nil
}
