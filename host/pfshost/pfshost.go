// Package pfshost runs p-fs on a node: the local block store on disk, the
// block service other nodes read and write over the mesh, names carried by
// gossiped cluster topics, and the volume engine (pfs/vol) with its
// background repair.
//
// Names travel as cluster topics, one topic per version (names.Key), so
// that concurrent writers on two sides of a partition both keep their
// version: the topics' last-writer-wins never has two writers of one key.
// Cluster topics are kept on each node's disk (host/cluster), so names
// survive a restart of the whole cluster.
//
// Imports: host/cluster, host/blocknet, pfs.
package pfshost

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/host/blocknet"
	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/disk"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

// TopicPrefix is the prefix of the cluster topics that carry name versions.
const TopicPrefix = "pfs/v/"

// Config sets up p-fs on a node.
type Config struct {
	// Dir holds the block store.
	Dir     string
	Cluster *cluster.Cluster
	Log     *slog.Logger
	// RepairEvery is the period of the background repair (default 1
	// minute); a negative value turns automatic repair off (periodic,
	// after reads that found damage, after membership changes), for tests
	// that need damage to stay until they repair explicitly.
	RepairEvery time.Duration
	// ScrubEvery is the period of the background scrub, which reads and
	// hashes every local block (default 24 hours, like a daily light
	// scrub; negative: off). Reads catch the damage they touch at once.
	ScrubEvery time.Duration
	// Grace protects unreferenced blocks from GC (default 1 hour; see
	// vol.Config).
	Grace time.Duration
	// GCEvery is the period of the background collection of this node's
	// store (default 10 minutes). It keeps every version, so it removes
	// only blocks no version reaches: the leftovers of failed puts.
	// Collecting old versions is asked for explicitly (pkhost fs gc).
	GCEvery time.Duration
}

// Service is p-fs on one node.
type Service struct {
	cfg   Config
	c     *cluster.Cluster
	local *disk.Store
	idx   names.Index
	vol   *vol.Volume
	log   *slog.Logger
	stop  chan struct{}
	done  chan struct{}
	kick  chan struct{} // membership changed: repair soon
}

// Open starts p-fs on the node: it serves the local store to the cluster
// and loads the names it already knows.
func Open(cfg Config) (*Service, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("pfshost: a cluster is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RepairEvery == 0 {
		cfg.RepairEvery = time.Minute
	}
	if cfg.ScrubEvery == 0 {
		cfg.ScrubEvery = 24 * time.Hour
	}
	if cfg.GCEvery == 0 {
		cfg.GCEvery = 10 * time.Minute
	}
	local, err := disk.Open(filepath.Join(cfg.Dir, "blocks"))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, c: cfg.Cluster, local: local, log: cfg.Log, stop: make(chan struct{}), done: make(chan struct{}),
		kick: make(chan struct{}, 1)}
	for _, e := range s.c.TopicsWithPrefix(TopicPrefix) {
		s.TopicChanged(e.Topic, e.Value, false)
	}
	s.c.Handle(cluster.ProtoBlocks, func(conn net.Conn) {
		blocknet.Serve(context.Background(), conn, s.local, s.log)
	})
	s.vol, err = vol.Open(vol.Config{Cluster: (*clusterView)(s), Names: (*gossipNames)(s),
		RepairEvery: max(cfg.RepairEvery, 0), ScrubEvery: max(cfg.ScrubEvery, 0),
		ScrubClock: scrubClock{path: filepath.Join(cfg.Dir, "last-scrub"), now: time.Now},
		GCMemory:   gcMemory{path: filepath.Join(cfg.Dir, "gc-seen")}, Grace: cfg.Grace, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	go s.collect()
	return s, nil
}

// MembersChanged tells p-fs that membership changed. When a node is gone
// its shards must be rebuilt elsewhere: a repair runs once the picture has
// held still for a few seconds, rather than at the next periodic one.
func (s *Service) MembersChanged() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// settle is how long membership must hold still before a repair it asked
// for runs (a flapping node must not make every node shuffle shards).
const settle = 5 * time.Second

// collect runs the background GC of the local store, and the repairs that
// membership changes ask for.
func (s *Service) collect() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.GCEvery)
	defer t.Stop()
	var repairAt <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
			if s.cfg.RepairEvery > 0 {
				repairAt = time.After(settle)
			}
			continue
		case <-repairAt:
			repairAt = nil
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			rep, err := s.vol.Repair(ctx)
			cancel()
			if err != nil {
				s.log.Warn("p-fs repair after a membership change", "err", err)
			} else if rep.Copied+rep.Rebuilt+rep.Failed > 0 {
				s.log.Info("p-fs repair after a membership change", "copied", rep.Copied, "rebuilt", rep.Rebuilt, "failed", rep.Failed)
			}
			continue
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.GCEvery)
		rep, err := s.vol.GC(ctx, vol.GCOptions{})
		cancel()
		if err != nil {
			s.log.Warn("p-fs gc", "err", err)
		} else if rep.Deleted+rep.Misplaced > 0 {
			s.log.Info("p-fs gc", "deleted", rep.Deleted, "misplaced", rep.Misplaced, "freed", rep.BytesFreed)
		}
	}
}

// Volume is the node's p-fs volume.
func (s *Service) Volume() *vol.Volume { return s.vol }

// Local is the node's own block store.
func (s *Service) Local() blockstore.Store { return s.local }

// Index is the names this node knows.
func (s *Service) Index() *names.Index { return &s.idx }

// Close stops the background work.
func (s *Service) Close() error {
	close(s.stop)
	<-s.done
	return s.vol.Close()
}

// IsNameTopic reports whether a cluster topic carries a p-fs name version.
func IsNameTopic(topic string) bool { return strings.HasPrefix(topic, TopicPrefix) }

// TopicChanged takes a name version that arrived as a cluster topic. The
// node calls it for every changed topic under TopicPrefix.
func (s *Service) TopicChanged(topic string, value []byte, deleted bool) {
	if deleted || !IsNameTopic(topic) {
		return
	}
	v, err := names.Unmarshal(value)
	if err == nil && names.Key(v) != topic {
		err = errors.New("the version does not belong under its topic")
	}
	if err == nil {
		_, err = s.idx.Add(v)
	}
	if err != nil {
		s.log.Warn("p-fs name version rejected", "topic", topic, "err", err)
	}
}

// gossipNames implements vol.Names over cluster topics.
type gossipNames Service

func (g *gossipNames) Publish(_ context.Context, v names.Version) error {
	b, err := v.MarshalBinary()
	if err != nil {
		return err
	}
	if err := g.c.WriteTopic(names.Key(v), b); err != nil {
		return err
	}
	_, err = g.idx.Add(v)
	return err
}

func (g *gossipNames) Index() *names.Index { return &g.idx }

// clusterView implements vol.Cluster over the cluster's membership and
// mesh.
type clusterView Service

func (v *clusterView) Self() string { return v.c.ID() }

func (v *clusterView) Live() []string {
	var out []string
	for _, m := range v.c.Members() {
		if m.State == "alive" {
			out = append(out, m.ID)
		}
	}
	if !slices.Contains(out, v.c.ID()) {
		out = append(out, v.c.ID())
	}
	return out
}

func (v *clusterView) Store(node string) blockstore.Store {
	if node == v.c.ID() {
		return v.local
	}
	return &blocknet.Remote{Node: node, Dial: func(ctx context.Context) (net.Conn, error) {
		for _, m := range v.c.Members() {
			if m.ID == node && m.Address != "" {
				return v.c.Dial(ctx, m.Address, cluster.ProtoBlocks)
			}
		}
		return nil, errors.New("not a known member")
	}}
}
