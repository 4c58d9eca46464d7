// Package vol owns the p-fs volume engine: it turns chunking, erasure coding,
// placement, block stores and names into one cluster file system.
//
// The cluster comes in through two small interfaces the host implements over
// the mesh: Cluster (which nodes are live, and a block store for each) and
// Names (publishing versions and reading the index built from them). The
// engine knows nothing of QUIC, gossip or wasm.
//
// # Writing
//
// Put cuts the stream with the configured splitter and, for each chunk,
// picks a coding with the namespace's erasure.Policy for the number of live
// nodes: RS(k, m) with shard i on the i-th node of place.Rank(chunk id,
// live), or m+1 whole copies on the first m+1 ranked nodes. Hashing, coding
// and block writes run in a pipeline, a bounded number of bytes ahead of the
// reader, so coding overlaps the I/O instead of adding to it. A block whose
// ranked node refuses it falls to the next ranked live node not already
// holding a block of the chunk; a chunk that cannot place all its blocks fails
// the put with a *PlaceError that says which blocks and why. The File objects
// (object.FileBuilder) are stored as m+1 copies on place.Pick(object id).
// Only when every block is stored is the version published, so readers see
// the old version or the new one, never a mix; a failed put leaves only
// unreferenced blocks, which GC removes after a grace period.
//
// Versions are stamped by a hybrid logical clock per volume, kept above the
// latest version of the name, so a write from this volume supersedes.
//
// # Reading
//
// Every byte is verified against its id. Objects and whole-copy chunks come
// from their ranked nodes first, then from any other live node. RS chunks
// fetch k shards in parallel from their ranked nodes and more on a miss or
// a corrupt shard, searching the other live nodes for a shard that is not
// where placement says. With fewer than k good shards the read fails with a
// *MissingError naming the chunk, the counts and the nodes; it never returns
// wrong bytes. Blocks found missing or corrupt are queued for repair.
//
// # Keeping redundancy
//
// Repair walks every retained version and puts each block back on its ranked
// live node, copying whole blocks or rebuilding shards from any k good ones.
// Each node repairs the chunks and objects it is responsible for (it is first
// in place.Rank over the live nodes); RepairAll does everything. Scrub reads
// and verifies the local store, deleting corrupt blocks so repair rewrites
// them. GC marks what retained versions reach and sweeps blocks that have been
// seen unreferenced for longer than a grace period, and extra copies on nodes
// placement no longer wants once the wanted nodes hold the block.
//
// Live is the host's word on membership: a node that leaves Live has its
// blocks rebuilt elsewhere by the next Repair and, once that is done, GC
// removes the now-extra copies. The host should drop a node from Live only
// when it is declared dead, not on every missed probe, or blocks churn.
//
// Imports: pfs/* and the standard library.
package vol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
)

// Cluster is the engine's view of the nodes; the host implements it over the
// mesh.
type Cluster interface {
	// Self is this node's id.
	Self() string
	// Live returns the ids of the live nodes, Self included.
	Live() []string
	// Store returns the block store of a node: the local one for Self,
	// a remote one for the others. A dead node's store returns errors.
	Store(node string) blockstore.Store
}

// Names is where versions are published and read. The host implements it
// with gossiped cluster topics; MemNames is the in-memory one.
type Names interface {
	// Publish makes v part of the cluster's history of its name.
	Publish(ctx context.Context, v names.Version) error
	// Index is the versions this node knows of.
	Index() *names.Index
}

// MemNames is Names in memory: Publish adds to the index at once. Several
// volumes sharing one MemNames see each other's writes immediately.
type MemNames struct{ idx names.Index }

// Publish implements Names.
func (m *MemNames) Publish(_ context.Context, v names.Version) error {
	_, err := m.idx.Add(v)
	return err
}

// Index implements Names.
func (m *MemNames) Index() *names.Index { return &m.idx }

// Config sets up a Volume. Cluster and Names are required; the rest has
// defaults.
type Config struct {
	Cluster Cluster
	Names   Names

	// Policy is the coding of namespaces not in Namespaces; the zero Policy
	// adapts to the cluster size (erasure.Default).
	Policy erasure.Policy
	// Namespaces overrides Policy per namespace.
	Namespaces map[string]erasure.Policy

	// Splitter cuts files into chunks; nil means chunk.Default().
	Splitter chunk.Splitter
	// Fanout is the most entries per File object; 0 means
	// object.MaxEntries.
	Fanout int
	// InFlight bounds the chunk bytes a Put holds between reading and
	// stored; 0 means 16 MiB.
	InFlight int64
	// Retention is the version retention Repair keeps redundant (and the
	// default of GC); the zero Policy keeps every version.
	Retention names.Policy
	// Grace is how long a block must have been seen unreferenced before GC
	// deletes it, and how long a block written here is protected; 0 means
	// one hour. A negative value means no grace (tests).
	Grace time.Duration
	// RepairEvery, when positive, runs Repair in the background at that
	// interval, and repairs blocks found bad by reads as they are found.
	// Zero leaves repair to explicit calls (RepairQueued, Repair).
	RepairEvery time.Duration
	// ScrubEvery, when positive, runs Scrub in the background at that
	// interval. A scrub reads and hashes every local block, so it is kept
	// far apart from the cheap existence checks of Repair: reads find the
	// damage they touch at once, scrubs find the rest eventually.
	ScrubEvery time.Duration
	// ScrubClock, if set, remembers when the last scrub ran across
	// restarts, so that a node restarted more often than ScrubEvery still
	// scrubs: the next scrub is due ScrubEvery after that time (at once if
	// overdue). Without it the period starts over with every Open.
	ScrubClock ScrubClock
	// GCMemory, if set, keeps how long GC has seen each unreferenced block
	// across restarts, so that a node restarted more often than Grace
	// still collects. Without it the grace starts over with every Open.
	GCMemory GCMemory
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives repair and GC events; nil means slog.Default().
	Log *slog.Logger
}

// ScrubClock keeps the time of the last scrub where it outlives the
// process.
type ScrubClock interface {
	// LastScrub returns when the last scrub finished; the zero time means
	// never (the volume then counts from now).
	LastScrub() time.Time
	// Scrubbed records that a scrub finished at t.
	Scrubbed(t time.Time) error
}

// GCMemory keeps GC's count of how long each unreferenced block has been
// seen so, where it outlives the process. Ages, not times: the time a node
// is down does not count toward the grace (a put from another node may
// still be writing), and a clock that jumps (a Pi without a real-time
// clock starts in 1970) cannot age a block at once.
type GCMemory interface {
	// LoadSeen returns what SaveSeen last stored: node → block → how long
	// it had been seen unreferenced; nil if nothing.
	LoadSeen() (map[string]map[cid.ID]time.Duration, error)
	// SaveSeen replaces what is stored.
	SaveSeen(map[string]map[cid.ID]time.Duration) error
}

// Volume is the file system engine of one node. It is safe for concurrent
// use.
type Volume struct {
	cfg   Config
	c     Cluster
	names Names
	log   *slog.Logger

	clockMu sync.Mutex
	clock   names.Time

	recentMu sync.Mutex
	recent   map[cid.ID]time.Time // blocks written by this volume's puts

	gcMu      sync.Mutex
	gcSeen    map[string]map[cid.ID]time.Time // node → block → first seen unreferenced
	savedNone bool                            // GCMemory holds no ages (gcMu)
	queueMu   sync.Mutex
	queue     map[cid.ID]queued // repair queue, by chunk or object id
	queueKick chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// ErrConfig is returned by Open for a config that cannot work.
var ErrConfig = errors.New("vol: bad config")

// Open returns the volume for cfg and, with RepairEvery or ScrubEvery set,
// starts its background repair and scrub. Close stops them.
func Open(cfg Config) (*Volume, error) {
	if cfg.Cluster == nil || cfg.Names == nil {
		return nil, fmt.Errorf("%w: Cluster and Names are required", ErrConfig)
	}
	if err := names.ValidNode(cfg.Cluster.Self()); err != nil {
		return nil, fmt.Errorf("%w: self: %v", ErrConfig, err)
	}
	if cfg.Splitter == nil {
		cfg.Splitter = chunk.Default()
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 16 << 20
	}
	if cfg.InFlight < int64(cfg.Splitter.MaxSize()) {
		cfg.InFlight = int64(cfg.Splitter.MaxSize())
	}
	if cfg.Grace == 0 {
		cfg.Grace = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	v := &Volume{
		cfg: cfg, c: cfg.Cluster, names: cfg.Names, log: cfg.Log,
		recent:    map[cid.ID]time.Time{},
		gcSeen:    map[string]map[cid.ID]time.Time{},
		queue:     map[cid.ID]queued{},
		queueKick: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if cfg.GCMemory != nil {
		seen, err := cfg.GCMemory.LoadSeen()
		if err != nil {
			v.log.Warn("p-fs gc: the ages of unreferenced blocks are lost; their grace starts over", "err", err)
		}
		now := cfg.Now()
		for node, blocks := range seen {
			m := make(map[cid.ID]time.Time, len(blocks))
			for id, age := range blocks {
				m[id] = now.Add(-max(age, 0))
			}
			v.gcSeen[node] = m
		}
	}
	if cfg.RepairEvery > 0 || cfg.ScrubEvery > 0 {
		v.wg.Add(1)
		go v.background()
	}
	return v, nil
}

// Close stops background work. It does not close the cluster's stores.
func (v *Volume) Close() error {
	select {
	case <-v.stop:
	default:
		close(v.stop)
	}
	v.wg.Wait()
	return nil
}

// Self is this node's id.
func (v *Volume) Self() string { return v.c.Self() }

// policy returns the coding policy of ns.
func (v *Volume) policy(ns string) erasure.Policy {
	if p, ok := v.cfg.Namespaces[ns]; ok {
		return p
	}
	return v.cfg.Policy
}

// copies is how many copies of an object block ns wants on n live nodes:
// the policy's m+1, at most n.
func (v *Volume) copies(ns string, n int) int {
	p := v.policy(ns)
	if p.K == 0 && p.M == 0 {
		p = erasure.Default(n)
	}
	return max(1, min(p.M+1, n))
}

// grace is the configured grace, 0 when disabled.
func (v *Volume) grace() time.Duration { return max(v.cfg.Grace, 0) }

// stamp returns the next hybrid logical clock time for a write of ns/name:
// after every stamp this volume gave and after the name's latest version.
func (v *Volume) stamp(ns, name string) names.Time {
	floor := names.Time{}
	if h := v.names.Index().History(ns, name); len(h) > 0 {
		for _, x := range h {
			if x.Time.Compare(floor) > 0 {
				floor = x.Time
			}
		}
	}
	v.clockMu.Lock()
	defer v.clockMu.Unlock()
	if v.clock.Compare(floor) > 0 {
		floor = v.clock
	}
	now := v.cfg.Now().UnixNano()
	t := names.Time{Wall: now}
	if now <= floor.Wall {
		t = names.Time{Wall: floor.Wall, Logical: floor.Logical + 1}
	}
	v.clock = t
	return t
}

// wrote records that this volume just wrote (or found present) block id,
// so GC leaves it alone for the grace period.
func (v *Volume) wrote(ids ...cid.ID) {
	now := v.cfg.Now()
	v.recentMu.Lock()
	for _, id := range ids {
		v.recent[id] = now
	}
	v.recentMu.Unlock()
}

// isRecent reports whether this volume wrote id within the grace period,
// dropping expired entries as it goes.
func (v *Volume) isRecent(id cid.ID, now time.Time) bool {
	v.recentMu.Lock()
	defer v.recentMu.Unlock()
	t, ok := v.recent[id]
	if ok && now.Sub(t) >= v.grace() {
		delete(v.recent, id)
		return false
	}
	return ok
}

// liveSet returns the live nodes as a slice and a set.
func (v *Volume) liveSet() ([]string, map[string]bool) {
	live := v.c.Live()
	set := make(map[string]bool, len(live))
	for _, n := range live {
		set[n] = true
	}
	return live, set
}
