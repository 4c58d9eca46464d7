// Package disk owns the on-disk block store: one file per block under a
// directory, written atomically and verified on every read.
//
// Layout: <dir>/blocks/<first 2 hex digits>/<64 hex digits>, so no
// directory holds more than 1/256 of the blocks. A block is written to a
// temp file in its final directory, fsynced, renamed into place and the
// directory fsynced, so after a crash a block is either whole or absent;
// leftover temp files are removed by Open. A block whose bytes no longer
// match its name is moved to <dir>/quarantine/ on Get (for inspection) and
// reported as blockstore.ErrCorrupt, so a later Put can write it afresh.
//
// A Store is safe for concurrent use, also by several Stores on one
// directory in one or more processes: every change is a rename.
//
// Imports: pfs/blockstore, pfs/cid, pfs/durable and the standard library.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/durable"
)

const tmpPrefix = ".tmp-"

// Store is a block store in a directory.
type Store struct {
	blocks     string
	quarantine string
}

var _ blockstore.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir and removes temp files
// left by interrupted writes. A fan-out directory is made by the first Put
// into it: making all 256 up front cost 27 s on a first boot with the data
// on FAT over an emulated SD card, where every mkdir is a synced write.
func Open(dir string) (*Store, error) {
	s := &Store{blocks: filepath.Join(dir, "blocks"), quarantine: filepath.Join(dir, "quarantine")}
	for _, d := range []string{s.blocks, s.quarantine} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for i := range 256 {
		fan := s.fan(i)
		ents, err := os.ReadDir(fan)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.Remove(filepath.Join(fan, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
			}
		}
	}
	return s, nil
}

// fan is the i-th fan-out directory.
func (s *Store) fan(i int) string { return filepath.Join(s.blocks, fmt.Sprintf("%02x", i)) }

// Path returns the file that holds (or would hold) id.
func (s *Store) Path(id cid.ID) string {
	h := id.String()
	return filepath.Join(s.blocks, h[:2], h)
}

// Put implements blockstore.Store.
func (s *Store) Put(ctx context.Context, id cid.ID, data []byte) error {
	if err := blockstore.CheckPut(id, data); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.Path(id)
	// Same size as a verified write means it is there. A same-size but
	// damaged file is caught (and moved aside) by Get, after which Put
	// writes again.
	if fi, err := os.Stat(p); err == nil && fi.Size() == int64(len(data)) {
		return nil
	}
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, tmpPrefix)
	if errors.Is(err, fs.ErrNotExist) {
		// The first block of this fan-out directory: make it, durably.
		if err = os.Mkdir(dir, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			if err = durable.SyncDir(s.blocks); err == nil {
				f, err = os.CreateTemp(dir, tmpPrefix)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("disk: put %s: %w", id.Short(), err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o444)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("disk: put %s: %w", id.Short(), err)
	}
	return durable.SyncDir(dir)
}

// Get implements blockstore.Store.
func (s *Store) Get(ctx context.Context, id cid.ID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := s.Path(id)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", blockstore.ErrNotFound, id.Short())
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > blockstore.MaxBlockSize {
		return nil, s.corrupt(id, p, fmt.Errorf("%w: file is %d bytes > %d", cid.ErrMismatch, fi.Size(), blockstore.MaxBlockSize))
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, s.corrupt(id, p, fmt.Errorf("%w: %v", cid.ErrMismatch, err))
	}
	if err := cid.Verify(id, b); err != nil {
		return nil, s.corrupt(id, p, err)
	}
	return b, nil
}

// corrupt moves a bad file to the quarantine directory and describes it.
func (s *Store) corrupt(id cid.ID, p string, err error) error {
	q := filepath.Join(s.quarantine, filepath.Base(p))
	if os.Rename(p, q) == nil {
		p = q
	}
	return &blockstore.CorruptError{ID: id, Path: p, Err: err}
}

// Has implements blockstore.Store.
func (s *Store) Has(_ context.Context, id cid.ID) (bool, error) {
	_, err := os.Stat(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements blockstore.Store.
func (s *Store) Delete(_ context.Context, id cid.ID) error {
	if err := os.Remove(s.Path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Walk implements blockstore.Store, one fan-out directory at a time.
func (s *Store) Walk(ctx context.Context, fn func(cid.ID, int64) error) error {
	for i := range 256 {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(s.fan(i))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no block there yet
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			id, err := cid.Parse(e.Name())
			if err != nil || !e.Type().IsRegular() {
				continue // temp files and strangers
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if err := fn(id, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stat returns how many blocks and bytes s holds, by walking it.
func (s *Store) Stat(ctx context.Context) (blockstore.Usage, error) {
	var u blockstore.Usage
	err := s.Walk(ctx, func(_ cid.ID, n int64) error {
		u.Blocks++
		u.Bytes += n
		return nil
	})
	return u, err
}
