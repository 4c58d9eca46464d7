package vol

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/object"
	"github.com/p-kernel/p-kernel/pfs/place"
)

// queued is an item waiting for repair: a chunk (chunk.ID set) or an object
// (copies set).
type queued struct {
	id     cid.ID
	chunk  object.Chunk
	copies int
	deep   bool // verify the blocks on their nodes, not just ask Has
}

// item is one thing that repair keeps redundant: a chunk or an object,
// with its block ids in placement order.
type item struct {
	what  string
	key   cid.ID
	ids   []cid.ID
	k, m  int
	chunk object.Chunk // for RS rebuilds
}

func chunkItem(c object.Chunk) item {
	if c.K <= 1 {
		return copiesItem("chunk", c.ID, int(c.M)+1)
	}
	return item{what: "chunk", key: c.ID, ids: c.Shards, k: int(c.K), m: int(c.M), chunk: c}
}

func copiesItem(what string, id cid.ID, n int) item {
	ids := make([]cid.ID, n)
	for i := range ids {
		ids[i] = id
	}
	return item{what: what, key: id, ids: ids, k: 1, m: n - 1}
}

func (q queued) item() item {
	if q.copies > 0 {
		return copiesItem("object", q.id, q.copies)
	}
	return chunkItem(q.chunk)
}

// RepairReport counts what a repair did. Blocks are shards or copies.
type RepairReport struct {
	Chunks, Objects int   // items checked
	Skipped         int   // items another node is responsible for
	Blocks          int   // blocks checked on their ranked nodes
	Missing         int   // blocks not on their ranked node
	Corrupt         int   // blocks on their ranked node that did not verify
	Copied          int   // blocks restored by copying a good block
	Rebuilt         int   // shards restored by Reed-Solomon reconstruction
	Failed          int   // blocks that could not be restored
	BytesMoved      int64 // bytes written to nodes
	Errors          []error
}

func (r *RepairReport) add(o RepairReport) {
	r.Chunks += o.Chunks
	r.Objects += o.Objects
	r.Skipped += o.Skipped
	r.Blocks += o.Blocks
	r.Missing += o.Missing
	r.Corrupt += o.Corrupt
	r.Copied += o.Copied
	r.Rebuilt += o.Rebuilt
	r.Failed += o.Failed
	r.BytesMoved += o.BytesMoved
	if len(r.Errors) < maxErrors {
		r.Errors = append(r.Errors, o.Errors[:min(len(o.Errors), maxErrors-len(r.Errors))]...)
	}
}

const maxErrors = 20

func (r *RepairReport) fail(err error) {
	r.Failed++
	if len(r.Errors) < maxErrors {
		r.Errors = append(r.Errors, err)
	}
}

// enqueue adds a chunk or object found bad by a read to the repair queue.
func (v *Volume) enqueue(q queued) {
	v.queueMu.Lock()
	if old, ok := v.queue[q.id]; ok {
		q.deep = q.deep || old.deep
	}
	v.queue[q.id] = q
	v.queueMu.Unlock()
	select {
	case v.queueKick <- struct{}{}:
	default:
	}
}

// Queued is how many items wait in the repair queue.
func (v *Volume) Queued() int {
	v.queueMu.Lock()
	defer v.queueMu.Unlock()
	return len(v.queue)
}

// RepairQueued repairs what reads reported bad since the last call,
// whichever node is responsible for it: the reader holds the evidence.
func (v *Volume) RepairQueued(ctx context.Context) RepairReport {
	v.queueMu.Lock()
	q := v.queue
	v.queue = map[cid.ID]queued{}
	v.queueMu.Unlock()
	var rep RepairReport
	for _, it := range q {
		rep.add(v.repairItem(ctx, it.item(), it.deep))
	}
	return rep
}

// Repair makes sure every chunk and object reachable from the versions kept
// by Config.Retention that this node is responsible for (it ranks first
// among the live nodes for it) has each block on its ranked live node.
// Presence is checked with Has; Scrub and reads find corruption. It does not
// re-code chunks when the cluster has grown: a chunk keeps the coding it was
// written with.
func (v *Volume) Repair(ctx context.Context) (RepairReport, error) {
	return v.repair(ctx, false, false)
}

// RepairAll is Repair for every item, whoever is responsible, optionally
// reading and verifying every block (deep).
func (v *Volume) RepairAll(ctx context.Context, deep bool) (RepairReport, error) {
	return v.repair(ctx, true, deep)
}

// repairWorkers is how many items a repair works on at once: each item is
// a few round trips to other nodes, mostly waiting.
const repairWorkers = 8

func (v *Volume) repair(ctx context.Context, all, deep bool) (RepairReport, error) {
	var (
		rep  RepairReport
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, repairWorkers)
		self = v.c.Self()
	)
	err := v.reachable(ctx, v.cfg.Retention, func(it item) error {
		if !all {
			if r := place.Rank(it.key, v.c.Live()); len(r) > 0 && r[0] != self {
				mu.Lock()
				rep.Skipped++
				mu.Unlock()
				return nil
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := v.repairItem(ctx, it, deep)
			mu.Lock()
			rep.add(r)
			mu.Unlock()
		}()
		return nil
	})
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return rep, err
}

// reachable calls fn once for every object and chunk reachable from the
// versions p retains in every namespace, objects before what they reach.
func (v *Volume) reachable(ctx context.Context, p names.Policy, fn func(item) error) error {
	idx := v.names.Index()
	now := v.cfg.Now().UnixNano()
	n := len(v.c.Live())
	seen := map[cid.ID]bool{}
	for _, ns := range idx.Namespaces() {
		copies := v.copies(ns, n)
		get := v.objectGetter(copies)
		onObject := func(id cid.ID) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			return fn(copiesItem("object", id, copies))
		}
		for _, ver := range idx.Retained(ns, p, now) {
			if ver.Removed() || seen[ver.Object] {
				continue
			}
			if err := onObject(ver.Object); err != nil {
				return err
			}
			root, err := object.LoadFile(ctx, get, ver.Object)
			if err != nil {
				return fmt.Errorf("vol: %s/%s: %w", ns, ver.Name, err)
			}
			err = walkTree(ctx, get, root, 0, 0, onObject, func(_ uint64, c object.Chunk) error {
				if seen[c.ID] {
					return nil
				}
				seen[c.ID] = true
				return fn(chunkItem(c))
			})
			if err != nil {
				return fmt.Errorf("vol: %s/%s: %w", ns, ver.Name, err)
			}
		}
	}
	return nil
}

// repairItem puts every block of it on its ranked live node.
func (v *Volume) repairItem(ctx context.Context, it item, deep bool) RepairReport {
	var rep RepairReport
	if it.what == "object" {
		rep.Objects++
	} else {
		rep.Chunks++
	}
	live := v.c.Live()
	if len(live) == 0 {
		rep.fail(erasure.ErrNoNodes)
		return rep
	}
	targets, err := place.Shards(it.key, live, len(it.ids), true)
	if err != nil {
		rep.fail(err)
		return rep
	}
	rep.Blocks += len(it.ids)
	// Every target is asked at once: a round trip each, not one after
	// another.
	oks := make([]bool, len(it.ids))
	errs := make([]error, len(it.ids))
	parallel(len(it.ids), func(i int) {
		st := v.c.Store(targets[i])
		if deep {
			_, errs[i] = st.Get(ctx, it.ids[i])
			oks[i] = errs[i] == nil
		} else {
			oks[i], errs[i] = st.Has(ctx, it.ids[i])
		}
	})
	bad := map[int]bool{}
	corrupt := map[int]bool{}
	for i := range it.ids {
		switch {
		case oks[i]:
			continue
		case errors.Is(errs[i], blockstore.ErrCorrupt):
			corrupt[i] = true
			rep.Corrupt++
		default:
			rep.Missing++
		}
		bad[i] = true
	}
	if len(bad) == 0 {
		return rep
	}
	blocks := make([][]byte, len(it.ids))
	// A good copy of a bad block anywhere (misplaced by a put's fallback, or
	// a whole copy) is copied.
	rank := place.Rank(it.key, live)
	badList := make([]int, 0, len(bad))
	for i := range bad {
		badList = append(badList, i)
	}
	parallel(len(badList), func(j int) { // each writes only its own blocks[i]
		i := badList[j]
		blocks[i], _ = v.findCopy(ctx, it.ids[i], without(rank, targets[i]))
	})
	var want []int
	for i := range bad {
		if blocks[i] == nil {
			want = append(want, i)
		}
	}
	if len(want) > 0 && it.k >= 2 {
		if err := v.rebuild(ctx, it, targets, rank, bad, blocks, want); err != nil {
			for range want {
				rep.fail(fmt.Errorf("vol: repair %s %s: %w", it.what, it.key.Short(), err))
			}
		}
	} else if len(want) > 0 {
		for range want {
			rep.fail(fmt.Errorf("vol: repair %s %s: no good copy on any live node", it.what, it.key.Short()))
		}
	}
	for i := range bad {
		if blocks[i] == nil {
			continue
		}
		st := v.c.Store(targets[i])
		if corrupt[i] {
			_ = st.Delete(ctx, it.ids[i]) // a store may keep a corrupt block and make Put a no-op
		}
		v.wrote(it.ids[i])
		if err := st.Put(ctx, it.ids[i], blocks[i]); err != nil {
			rep.fail(fmt.Errorf("vol: repair %s %s: block %d to %s: %w", it.what, it.key.Short(), i, targets[i], err))
			continue
		}
		rep.BytesMoved += int64(len(blocks[i]))
		if contains(want, i) {
			rep.Rebuilt++
		} else {
			rep.Copied++
		}
	}
	if rep.Failed == 0 {
		v.log.Debug("pfs repair", "what", it.what, "id", it.key.Short(), "restored", len(bad))
	}
	return rep
}

// rebuild reconstructs the shards at want from k good ones found anywhere:
// it fetches just enough of the others (each from its ranked node first),
// and more only if some of those fail.
func (v *Volume) rebuild(ctx context.Context, it item, targets, rank []string, bad map[int]bool, blocks [][]byte, want []int) error {
	shards := make([][]byte, len(it.ids))
	present := 0
	var candidates []int
	for i := range it.ids {
		switch {
		case blocks[i] != nil:
			shards[i] = blocks[i]
			present++
		case !bad[i]:
			candidates = append(candidates, i)
		}
	}
	for present < it.k && len(candidates) > 0 {
		round := candidates[:min(it.k-present, len(candidates))]
		candidates = candidates[len(round):]
		got := make([][]byte, len(round))
		parallel(len(round), func(j int) {
			i := round[j]
			order := append([]string{targets[i]}, without(rank, targets[i])...)
			got[j], _, _ = v.fetchWhole(ctx, it.ids[i], order, 0)
		})
		for j, b := range got {
			if b != nil {
				shards[round[j]] = b
				present++
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if _, err := erasure.Reconstruct(shards, it.ids, it.k, it.m, want); err != nil {
		return err
	}
	for _, i := range want {
		blocks[i] = shards[i]
	}
	return nil
}

// findCopy looks for a good copy of block id on nodes (a block misplaced
// by a put's fallback, or a whole copy): it asks them all whether they
// have it at once and reads it from the first, in order, that does.
func (v *Volume) findCopy(ctx context.Context, id cid.ID, nodes []string) ([]byte, error) {
	has := make([]bool, len(nodes))
	parallel(len(nodes), func(i int) {
		has[i], _ = v.c.Store(nodes[i]).Has(ctx, id)
	})
	var holders []string
	for i, ok := range has {
		if ok {
			holders = append(holders, nodes[i])
		}
	}
	if len(holders) == 0 {
		return nil, ErrMissing
	}
	b, _, err := v.fetchWhole(ctx, id, holders, 0)
	return b, err
}

// parallel calls fn(0) … fn(n-1) at once and waits for them all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

func without(nodes []string, drop string) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ScrubReport counts what a Scrub found in the local store.
type ScrubReport struct {
	Blocks  int
	Bytes   int64
	Corrupt int // blocks that did not verify, now deleted so repair rewrites them
}

// Scrub reads and verifies every block of the local store, deleting the
// corrupt ones: the node responsible for their chunk finds them missing at
// its next Repair and rewrites them.
func (v *Volume) Scrub(ctx context.Context) (ScrubReport, error) {
	var rep ScrubReport
	st := v.c.Store(v.c.Self())
	err := st.Walk(ctx, func(id cid.ID, size int64) error {
		rep.Blocks++
		rep.Bytes += size
		if _, err := st.Get(ctx, id); errors.Is(err, blockstore.ErrCorrupt) {
			rep.Corrupt++
			v.log.Warn("pfs scrub: corrupt block", "id", id.Short(), "err", err)
			return st.Delete(ctx, id)
		} else if err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			return err
		}
		return ctx.Err()
	})
	return rep, err
}

// background runs queued repairs as they come and Repair every
// RepairEvery (when set), and Scrub every ScrubEvery (when set).
func (v *Volume) background() {
	defer v.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-v.stop; cancel() }()
	var repairTick, scrubTick <-chan time.Time
	queueKick := v.queueKick
	if v.cfg.RepairEvery > 0 {
		t := time.NewTicker(v.cfg.RepairEvery)
		defer t.Stop()
		repairTick = t.C
	} else {
		queueKick = nil // explicit RepairQueued calls drain the queue
	}
	var scrubTimer *time.Timer
	if v.cfg.ScrubEvery > 0 {
		scrubTimer = time.NewTimer(v.firstScrub())
		defer scrubTimer.Stop()
		scrubTick = scrubTimer.C
	}
	for {
		select {
		case <-v.stop:
			return
		case <-queueKick:
			v.RepairQueued(ctx)
		case <-scrubTick:
			rep, err := v.Scrub(ctx)
			if err != nil || rep.Corrupt > 0 {
				v.log.Warn("pfs scrub", "blocks", rep.Blocks, "corrupt", rep.Corrupt, "err", err)
			}
			if err == nil && v.cfg.ScrubClock != nil {
				if err := v.cfg.ScrubClock.Scrubbed(v.cfg.Now()); err != nil {
					v.log.Warn("pfs scrub: recording its time", "err", err)
				}
			}
			scrubTimer.Reset(v.cfg.ScrubEvery)
			if rep.Corrupt > 0 && v.cfg.RepairEvery > 0 {
				v.repairLogged(ctx) // rewrite now what the scrub deleted from chunks this node answers for
			}
		case <-repairTick:
			v.repairLogged(ctx)
		}
	}
}

// firstScrub is how long after Open the first background scrub runs:
// ScrubEvery after the last one the ScrubClock remembers (at once if that is
// past), or ScrubEvery from now.
func (v *Volume) firstScrub() time.Duration {
	if v.cfg.ScrubClock == nil {
		return v.cfg.ScrubEvery
	}
	last := v.cfg.ScrubClock.LastScrub()
	if last.IsZero() {
		return v.cfg.ScrubEvery
	}
	return min(max(v.cfg.ScrubEvery-v.cfg.Now().Sub(last), 0), v.cfg.ScrubEvery)
}

func (v *Volume) repairLogged(ctx context.Context) {
	if rep, err := v.Repair(ctx); err != nil || rep.Failed > 0 {
		v.log.Warn("pfs repair", "chunks", rep.Chunks, "failed", rep.Failed, "err", err)
	}
}
