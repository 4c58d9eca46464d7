// Package blockstore owns the interface every p-fs block store satisfies
// (local disk, memory, and remote peers the host implements) and the
// in-memory store.
//
// A block is at most MaxBlockSize bytes stored under its BLAKE3 id. Stores
// verify on the way in (Put refuses bytes that do not match the id) and on
// the way out (Get never returns bytes that do not match), so a caller
// holding an id can trust whatever a store hands back.
//
// Imports: pfs/cid and the standard library.
package blockstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// MaxBlockSize bounds a block: a chunk (at most 16 MiB, see pfs/object) or
// an object. Bigger blocks are refused with ErrTooLarge.
const MaxBlockSize = 16 << 20

// Errors stores return, tested with errors.Is.
var (
	ErrNotFound = errors.New("blockstore: block not found")
	ErrCorrupt  = errors.New("blockstore: stored block is corrupt")
	ErrTooLarge = errors.New("blockstore: block too large")
)

// Store is a set of blocks addressed by content. Implementations are safe
// for concurrent use.
type Store interface {
	// Put stores data under id. It fails with an error wrapping
	// cid.ErrMismatch if cid.Sum(data) != id, and ErrTooLarge past
	// MaxBlockSize. Putting a block already there is a cheap no-op. The
	// store does not keep data after Put returns.
	Put(ctx context.Context, id cid.ID, data []byte) error
	// Get returns the block id, verified: ErrNotFound if it is absent, an
	// error wrapping ErrCorrupt and cid.ErrMismatch if the stored bytes
	// do not match. The caller owns the returned slice.
	Get(ctx context.Context, id cid.ID) ([]byte, error)
	// Has reports whether id is stored, without reading or verifying it.
	Has(ctx context.Context, id cid.ID) (bool, error)
	// Delete removes id; a missing block is not an error.
	Delete(ctx context.Context, id cid.ID) error
	// Walk calls fn for each stored block with its size, in no particular
	// order, stopping at fn's first error and returning it. Blocks put or
	// deleted during a Walk may or may not be seen.
	Walk(ctx context.Context, fn func(id cid.ID, size int64) error) error
}

// Usage is what a store holds.
type Usage struct {
	Blocks int64
	Bytes  int64
}

// CorruptError reports a stored block whose bytes do not match its id. It
// matches ErrCorrupt and unwraps to the verification error.
type CorruptError struct {
	ID   cid.ID
	Path string // where the bad bytes were (or were moved to); may be empty
	Err  error
}

func (e *CorruptError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("blockstore: block %s corrupt at %s: %v", e.ID.Short(), e.Path, e.Err)
	}
	return fmt.Sprintf("blockstore: block %s corrupt: %v", e.ID.Short(), e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func (e *CorruptError) Unwrap() error { return e.Err }

// CheckPut is the argument check every Put starts with.
func CheckPut(id cid.ID, data []byte) error {
	if err := CheckSize(data); err != nil {
		return err
	}
	return cid.Verify(id, data)
}

// CheckSize is CheckPut without the hash, for a store that passes the
// block to one that verifies it.
func CheckSize(data []byte) error {
	if len(data) > MaxBlockSize {
		return fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), MaxBlockSize)
	}
	return nil
}

// Mem is a Store in memory, for tests and caches.
type Mem struct {
	mu     sync.RWMutex
	blocks map[cid.ID][]byte
}

// NewMem returns an empty memory store.
func NewMem() *Mem { return &Mem{blocks: map[cid.ID][]byte{}} }

// Put implements Store.
func (m *Mem) Put(_ context.Context, id cid.ID, data []byte) error {
	if err := CheckPut(id, data); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.blocks[id]; !ok || cid.Verify(id, old) != nil {
		m.blocks[id] = append([]byte{}, data...)
	}
	return nil
}

// Get implements Store. It verifies even memory: a Corrupt call, or a bug
// that writes into a stored slice, must not go unseen.
func (m *Mem) Get(_ context.Context, id cid.ID) ([]byte, error) {
	m.mu.RLock()
	b, ok := m.blocks[id]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id.Short())
	}
	if err := cid.Verify(id, b); err != nil {
		return nil, &CorruptError{ID: id, Err: err}
	}
	return append([]byte{}, b...), nil
}

// Has implements Store.
func (m *Mem) Has(_ context.Context, id cid.ID) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blocks[id]
	return ok, nil
}

// Delete implements Store.
func (m *Mem) Delete(_ context.Context, id cid.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blocks, id)
	return nil
}

// Walk implements Store. It walks a snapshot of the ids, so fn may call
// the store.
func (m *Mem) Walk(ctx context.Context, fn func(cid.ID, int64) error) error {
	type ent struct {
		id   cid.ID
		size int64
	}
	m.mu.RLock()
	all := make([]ent, 0, len(m.blocks))
	for id, b := range m.blocks {
		all = append(all, ent{id, int64(len(b))})
	}
	m.mu.RUnlock()
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.id, e.size); err != nil {
			return err
		}
	}
	return nil
}

// Stat returns how many blocks and bytes m holds.
func (m *Mem) Stat(context.Context) (Usage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u := Usage{Blocks: int64(len(m.blocks))}
	for _, b := range m.blocks {
		u.Bytes += int64(len(b))
	}
	return u, nil
}

// Corrupt flips a bit of the stored block id, for conformance tests of
// corruption detection (storetest.Corrupter).
func (m *Mem) Corrupt(id cid.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blocks[id]
	if !ok {
		return ErrNotFound
	}
	if len(b) == 0 {
		m.blocks[id] = []byte{0}
		return nil
	}
	// A changed copy, not a write into the stored slice: Get reads
	// stored slices outside the lock, so they never change in place.
	c := append([]byte{}, b...)
	c[0] ^= 1
	m.blocks[id] = c
	return nil
}
