package vol

import (
	"context"
	"time"

	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/names"
)

// GCOptions tune one GC.
type GCOptions struct {
	// Retention says which versions stay; the zero Policy keeps every
	// version, so GC then removes only blocks no version reaches (the
	// leftovers of failed puts).
	Retention names.Policy
	// AllNodes sweeps every live node's store, not only the local one.
	AllNodes bool
}

// GCReport counts what a GC did.
type GCReport struct {
	Versions   int            // versions retained (tombstones included)
	Expired    int            // versions let go by the retention policy
	Marked     int            // distinct blocks reachable from retained versions
	Scanned    int            // blocks looked at in the swept stores
	Deferred   int            // unreferenced blocks kept for now (grace period)
	Deleted    int            // blocks deleted
	BytesFreed int64          // bytes of the deleted blocks
	PerNode    map[string]int // deleted blocks by node
}

// GC marks every block reachable from the versions opts.Retention keeps in
// every namespace and sweeps the local store (every live node's with
// AllNodes), deleting unmarked blocks.
//
// A block is deleted only when this volume has seen it unreferenced, in
// earlier GCs, for at least the grace period, and did not itself write it
// within the grace period; a put that takes longer than the grace period
// can lose blocks. The first-seen times are kept in memory, so a restart
// only delays collection. If anything reachable cannot be read the mark is
// incomplete and GC deletes nothing.
func (v *Volume) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	rep := GCReport{PerNode: map[string]int{}}
	idx := v.names.Index()
	now := v.cfg.Now()
	for _, ns := range idx.Namespaces() {
		keep, drop := idx.Retention(ns, opts.Retention, now.UnixNano())
		rep.Versions += len(keep)
		rep.Expired += len(drop)
	}
	marked := map[cid.ID]bool{}
	err := v.reachable(ctx, opts.Retention, func(it item) error {
		for _, id := range it.ids {
			marked[id] = true
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Marked = len(marked)

	nodes := []string{v.c.Self()}
	if opts.AllNodes {
		nodes = v.c.Live()
	}
	grace := v.grace()
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	for _, node := range nodes {
		st := v.c.Store(node)
		old := v.gcSeen[node]
		seen := map[cid.ID]time.Time{}
		type cand struct {
			id   cid.ID
			size int64
		}
		var del []cand
		err := st.Walk(ctx, func(id cid.ID, size int64) error {
			rep.Scanned++
			if marked[id] {
				return nil
			}
			first, ok := old[id]
			if !ok {
				first = now
			}
			if now.Sub(first) >= grace && !v.isRecent(id, now) {
				del = append(del, cand{id, size})
				return nil
			}
			seen[id] = first
			rep.Deferred++
			return nil
		})
		if err != nil {
			return rep, err
		}
		for _, c := range del {
			if err := st.Delete(ctx, c.id); err != nil {
				return rep, err
			}
			rep.Deleted++
			rep.BytesFreed += c.size
			rep.PerNode[node]++
		}
		v.gcSeen[node] = seen
	}
	return rep, nil
}
