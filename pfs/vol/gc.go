package vol

import (
	"context"
	"slices"
	"time"

	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/place"
)

// heldGood reports whether every node holds block id and it verifies.
func (v *Volume) heldGood(ctx context.Context, id cid.ID, nodes []string) bool {
	for _, n := range nodes {
		if _, err := v.c.Store(n).Get(ctx, id); err != nil {
			return false
		}
	}
	return true
}

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
	Misplaced  int            // referenced copies deleted from nodes placement does not want them on
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
// can lose blocks. How long each block has been seen unreferenced is kept
// in memory and, with Config.GCMemory, across restarts; without it a
// restart only delays collection. If anything reachable cannot be read the
// mark is incomplete and GC deletes nothing.
func (v *Volume) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	rep := GCReport{PerNode: map[string]int{}}
	idx := v.names.Index()
	now := v.cfg.Now()
	for _, ns := range idx.Namespaces() {
		keep, drop := idx.Retention(ns, opts.Retention, now.UnixNano())
		rep.Versions += len(keep)
		rep.Expired += len(drop)
	}
	live := v.c.Live()
	marked := map[cid.ID][]string{} // block → the live nodes placement wants it on
	err := v.reachable(ctx, opts.Retention, func(it item) error {
		targets, err := place.Shards(it.key, live, len(it.ids), true)
		if err != nil {
			return err
		}
		for i, id := range it.ids {
			if !slices.Contains(marked[id], targets[i]) {
				marked[id] = append(marked[id], targets[i])
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Marked = len(marked)

	nodes := []string{v.c.Self()}
	if opts.AllNodes {
		nodes = live
	}
	grace := v.grace()
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	defer v.saveSeen(now)
	for _, node := range nodes {
		st := v.c.Store(node)
		old := v.gcSeen[node]
		seen := map[cid.ID]time.Time{}
		type cand struct {
			id   cid.ID
			size int64
		}
		var del, misplaced []cand
		err := st.Walk(ctx, func(id cid.ID, size int64) error {
			rep.Scanned++
			if want, ok := marked[id]; ok {
				if !slices.Contains(want, node) {
					misplaced = append(misplaced, cand{id, size})
				}
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
		// A referenced copy on a node placement does not want (left by a
		// put's fallback or by repair after membership changed) goes once
		// every wanted node holds the block good.
		for _, c := range misplaced {
			if !v.heldGood(ctx, c.id, marked[c.id]) {
				continue
			}
			if err := st.Delete(ctx, c.id); err != nil {
				return rep, err
			}
			rep.Misplaced++
			rep.BytesFreed += c.size
			rep.PerNode[node]++
		}
	}
	return rep, nil
}

// saveSeen hands the ages of the unreferenced blocks to Config.GCMemory;
// the caller holds gcMu. A failure costs only grace, so it is logged.
func (v *Volume) saveSeen(now time.Time) {
	if v.cfg.GCMemory == nil {
		return
	}
	// Only live nodes' ages are kept: a node gone for good would otherwise
	// stay in the file forever, and one that comes back only waits again.
	live := v.c.Live()
	ages := make(map[string]map[cid.ID]time.Duration, len(v.gcSeen))
	for node, blocks := range v.gcSeen {
		if len(blocks) == 0 || node != v.c.Self() && !slices.Contains(live, node) {
			continue
		}
		m := make(map[cid.ID]time.Duration, len(blocks))
		for id, first := range blocks {
			m[id] = now.Sub(first)
		}
		ages[node] = m
	}
	// The usual case is nothing unreferenced, GC after GC: write that
	// once, not every ten minutes (an SD card's write cycles are few).
	if len(ages) == 0 && v.savedNone {
		return
	}
	if err := v.cfg.GCMemory.SaveSeen(ages); err != nil {
		v.log.Warn("p-fs gc: saving the ages of unreferenced blocks", "err", err)
		return
	}
	v.savedNone = len(ages) == 0
}
