package vol

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/object"
	"github.com/p-kernel/p-kernel/pfs/place"
)

// Remove publishes a tombstone for ns/name: Open then reports
// fs.ErrNotExist, and the history stays readable.
func (v *Volume) Remove(ctx context.Context, ns, name string) (names.Version, error) {
	if _, ok := v.names.Index().Latest(ns, name); !ok {
		return names.Version{}, &fs.PathError{Op: "remove", Path: ns + "/" + name, Err: fs.ErrNotExist}
	}
	ver := names.Version{Namespace: ns, Name: name, Time: v.stamp(ns, name), Node: v.c.Self()}
	if err := v.names.Publish(ctx, ver); err != nil {
		return names.Version{}, fmt.Errorf("vol: remove %s/%s: %w", ns, name, err)
	}
	return ver, nil
}

// History returns every version of ns/name, oldest first, tombstones
// included.
func (v *Volume) History(ns, name string) []names.Version { return v.names.Index().History(ns, name) }

// List returns the latest version of every live name in ns starting with
// prefix, sorted by name.
func (v *Volume) List(ns, prefix string) []names.Version { return v.names.Index().List(ns, prefix) }

// Usage is what the volume holds.
type Usage struct {
	Nodes      map[string]blockstore.Usage // blocks and bytes per live node
	NodeErrors map[string]error            // nodes whose store could not be walked
	Namespaces int
	Files      int // live names
	Versions   int // versions of every name, tombstones included
}

// Stat walks every live node's store and counts names and versions.
func (v *Volume) Stat(ctx context.Context) (Usage, error) {
	u := Usage{Nodes: map[string]blockstore.Usage{}, NodeErrors: map[string]error{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range v.c.Live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var nu blockstore.Usage
			err := v.c.Store(node).Walk(ctx, func(_ cid.ID, size int64) error {
				nu.Blocks++
				nu.Bytes += size
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				u.NodeErrors[node] = err
				return
			}
			u.Nodes[node] = nu
		}()
	}
	wg.Wait()
	idx := v.names.Index()
	for _, ns := range idx.Namespaces() {
		u.Namespaces++
		u.Files += len(idx.List(ns, ""))
		for _, name := range idx.Names(ns) {
			u.Versions += len(idx.History(ns, name))
		}
	}
	return u, ctx.Err()
}

// BlockCopies says where the good copies of one block of a chunk are.
type BlockCopies struct {
	Index   int
	ID      cid.ID
	Want    string   // the node placement ranks for it among the live nodes
	Nodes   []string // live nodes holding it good, sorted
	Corrupt []string // live nodes holding it corrupt, sorted
}

// ChunkRedundancy is the state of one chunk of a file.
type ChunkRedundancy struct {
	Offset   uint64
	Chunk    object.Chunk
	Blocks   []BlockCopies // one per shard; for whole copies one entry per copy wanted, all the same id
	Expected int           // blocks the coding wants: k+m shards or m+1 copies
	Good     int           // distinct shards with a good copy on some live node; for whole copies, live nodes with a good copy
	Placed   int           // blocks good on their ranked live node
	Need     int           // good blocks needed to read: k, or 1
}

// Redundancy reads every block of every chunk of file id from every live
// node and says where the good ones are.
func (v *Volume) Redundancy(ctx context.Context, id cid.ID) ([]ChunkRedundancy, error) {
	live := v.c.Live()
	get := v.objectGetter(v.copies("", len(live)))
	root, err := object.LoadFile(ctx, get, id)
	if err != nil {
		return nil, err
	}
	var out []ChunkRedundancy
	err = walkFile(ctx, get, root, 0, func(off uint64, c object.Chunk) error {
		it := chunkItem(c)
		targets, err := place.Shards(c.ID, live, len(it.ids), true)
		if err != nil {
			return err
		}
		r := ChunkRedundancy{Offset: off, Chunk: c, Expected: len(it.ids), Need: max(it.k, 1)}
		holders := map[cid.ID]*BlockCopies{}
		for i, bid := range it.ids {
			bc := BlockCopies{Index: i, ID: bid, Want: targets[i]}
			if h, ok := holders[bid]; ok {
				bc.Nodes, bc.Corrupt = h.Nodes, h.Corrupt
			} else {
				for _, node := range live {
					_, err := v.c.Store(node).Get(ctx, bid)
					switch {
					case err == nil:
						bc.Nodes = append(bc.Nodes, node)
					case errors.Is(err, blockstore.ErrCorrupt):
						bc.Corrupt = append(bc.Corrupt, node)
					}
				}
				sort.Strings(bc.Nodes)
				sort.Strings(bc.Corrupt)
				holders[bid] = &bc
			}
			for _, n := range bc.Nodes {
				if n == targets[i] {
					r.Placed++
				}
			}
			r.Blocks = append(r.Blocks, bc)
		}
		if it.k <= 1 {
			r.Good = len(r.Blocks[0].Nodes)
		} else {
			for _, b := range r.Blocks {
				if len(b.Nodes) > 0 {
					r.Good++
				}
			}
		}
		out = append(out, r)
		return ctx.Err()
	})
	return out, err
}
