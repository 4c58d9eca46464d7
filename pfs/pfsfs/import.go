package pfsfs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/object"
)

// ImportOptions tune Import; the zero value is valid.
type ImportOptions struct {
	// Splitter cuts files into chunks; nil means chunk.Default().
	Splitter chunk.Splitter
	// Fanout is the most chunks or parts per File object; 0 means
	// object.MaxEntries. Tests set it small to make trees.
	Fanout int
	// Replicas is recorded as M of every (K == 1) chunk: how many extra
	// copies placement should keep. Import itself stores one.
	Replicas uint8
	// ModTimes records modification times. Off by default so that the
	// same content always gets the same root id.
	ModTimes bool
}

// Import stores the tree fsys (from its root ".") into store as chunks and
// objects and returns the root Dir's id. Only directories and regular
// files are allowed; anything else (symlinks, devices) is an error rather
// than silently left out.
func Import(ctx context.Context, store blockstore.Store, fsys fs.FS, opts *ImportOptions) (cid.ID, error) {
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	if o.Splitter == nil {
		o.Splitter = chunk.Default()
	}
	im := importer{ctx: ctx, store: store, fsys: fsys, opts: o}
	id, _, err := im.dir(".")
	return id, err
}

type importer struct {
	ctx   context.Context
	store blockstore.Store
	fsys  fs.FS
	opts  ImportOptions
}

func (im *importer) put(id cid.ID, b []byte) error { return im.store.Put(im.ctx, id, b) }

// dir imports directory name and returns its id and total size.
func (im *importer) dir(name string) (cid.ID, uint64, error) {
	ents, err := fs.ReadDir(im.fsys, name)
	if err != nil {
		return cid.Undef, 0, err
	}
	d := &object.Dir{Entries: make([]object.Entry, 0, len(ents))}
	var total uint64
	for _, de := range ents {
		if err := im.ctx.Err(); err != nil {
			return cid.Undef, 0, err
		}
		p := path.Join(name, de.Name())
		fi, err := de.Info()
		if err != nil {
			return cid.Undef, 0, err
		}
		e := object.Entry{Name: de.Name(), Mode: fi.Mode().Perm()}
		if im.opts.ModTimes {
			e.MTime = fi.ModTime().UnixNano()
		}
		switch {
		case fi.IsDir():
			e.Kind = object.KindDir
			e.ID, e.Size, err = im.dir(p)
		case fi.Mode().IsRegular():
			e.Kind = object.KindFile
			e.ID, e.Size, err = im.file(p)
		default:
			err = fmt.Errorf("pfsfs: import %s: unsupported file type %v", p, fi.Mode().Type())
		}
		if err != nil {
			return cid.Undef, 0, err
		}
		total += e.Size
		d.Entries = append(d.Entries, e)
	}
	// fs.ReadDir sorts by name, which is the byte order Dir requires.
	id, enc, err := object.Sum(d)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("pfsfs: import %s: %w", name, err)
	}
	return id, total, im.put(id, enc)
}

// file imports one regular file: chunks as K=1 blocks, then its File tree.
func (im *importer) file(name string) (cid.ID, uint64, error) {
	f, err := im.fsys.Open(name)
	if err != nil {
		return cid.Undef, 0, err
	}
	defer f.Close()
	b := object.NewFileBuilder(im.put, im.opts.Fanout)
	c := im.opts.Splitter.New(f)
	for {
		data, err := c.Next()
		if err != nil {
			if err == io.EOF {
				break
			}
			return cid.Undef, 0, fmt.Errorf("pfsfs: import %s: %w", name, err)
		}
		id := cid.Sum(data)
		if err := im.put(id, data); err != nil {
			return cid.Undef, 0, err
		}
		if err := b.Add(object.Chunk{ID: id, Size: uint32(len(data)), K: 1, M: im.opts.Replicas}); err != nil {
			return cid.Undef, 0, err
		}
	}
	return b.Finish()
}
