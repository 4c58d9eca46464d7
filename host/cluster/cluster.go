package cluster

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p-kernel/p-kernel/host/consensus"
	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/host/replica"
	"github.com/zeebo/blake3"
)

// Config configures a node's membership in a cluster.
type Config struct {
	DataDir  string
	Listen   string   // UDP address of the mesh
	Join     []string // seeds; empty = start a new cluster (or resume one)
	Token    string   // join token (required with Join on a new data directory)
	Identity ed25519.PrivateKey
	Meta     member.Meta
	Logger   *slog.Logger
	// Fetch returns module bytes this node holds, by hash (for peers).
	Fetch func(hash string) ([]byte, error)
	// Applied is called after each manifest change (raft's goroutine).
	Applied func(index uint64, c manifest.Command, err error)
	// MembersChanged is called after membership changes.
	MembersChanged func()
	MaxVoters      int
	Fast           bool // short timeouts (tests)
	// Filter, if set, drops traffic to and from addresses (tests: cut
	// links, simulate partitions). See mesh.Config.Filter.
	Filter func(net.Addr) bool
	// TopicChanged is called when a cluster topic changed because of
	// another node (its value, or deleted).
	TopicChanged func(topic string, value []byte, deleted bool)
	// ReformAfter is how long a stable set of survivors without quorum
	// waits before re-forming consensus (default 10 s; 3 s with Fast).
	ReformAfter time.Duration
}

// Cluster is this node's part of the collective.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	secret  []byte
	mesh    *mesh.Mesh
	members *member.List
	cons    *consensus.Consensus

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup

	topics      *replica.Locked
	topicsDB    *topicsDB
	topicKick   chan struct{} // a local write: gossip now
	advertise   string        // the mesh address peers dial (see advertised)
	cid         string
	relayed     atomic.Int64
	reformAfter time.Duration
	lastMeta    member.Meta              // watch goroutine only
	roles       atomic.Pointer[[]string] // SetRoles; nil: cfg.Meta.Roles

	mu            sync.Mutex
	known         map[string]string // every member ever seen: id -> address
	aliveSig      string
	stableSince   time.Time
	noLeaderSince time.Time
	reforms       int
	lastReform    time.Time
	lastCatchUp   time.Time
	losingSince   time.Time
	losingTo      string
	pendingMerge  []byte // encoded OpMerge to hand the winning side
}

var errNoLeader = errors.New("no leader (election in progress, or quorum lost)")

// ErrOtherCluster means the data directory belongs to another cluster.
var ErrOtherCluster = errors.New("this data directory belongs to another cluster")

// Open starts the mesh, membership and consensus, and joins the seeds.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), topicKick: make(chan struct{}, 1), known: map[string]string{}, reformAfter: cfg.ReformAfter}
	if c.reformAfter <= 0 {
		c.reformAfter = 10 * time.Second
		if cfg.Fast {
			c.reformAfter = 3 * time.Second
		}
	}
	secret, fresh, err := loadSecret(cfg.DataDir, cfg.Token, len(cfg.Join) > 0)
	if err != nil {
		return nil, err
	}
	c.secret = secret
	store, err := replica.NewStore(replica.Config{Node: mesh.NodeID(cfg.Identity.Public().(ed25519.PublicKey))})
	if err != nil {
		return nil, err
	}
	c.topics = replica.NewLocked(store)
	if c.topicsDB, err = openTopicsDB(cfg.DataDir); err != nil {
		return nil, err
	}
	restored := c.restoreTopics()
	c.mesh, err = mesh.Listen(ctx, mesh.Config{Listen: cfg.Listen, Identity: cfg.Identity, Secret: secret, Logger: cfg.Logger, Filter: cfg.Filter})
	if err != nil {
		c.topicsDB.close()
		return nil, err
	}
	c.mesh.Handle(protoRPC, c.serveRPC)
	c.mesh.Handle(protoReplica, c.serveTopics)
	c.mesh.Handle(protoRelay, c.serveRelay)
	id := c.mesh.ID()
	c.advertise = advertised(c.mesh.Addr(), cfg.Join)
	addr := c.advertise
	c.members, err = member.Start(member.Config{ID: id, Network: memberNet{c.mesh, c}, Meta: cfg.Meta,
		Changed: cfg.MembersChanged, Logger: cfg.Logger, Fast: cfg.Fast})
	if err != nil {
		c.mesh.Close()
		c.topicsDB.close()
		return nil, err
	}
	c.cons, err = consensus.Open(consensus.Config{
		ID: id, Addr: addr, Dir: filepath.Join(cfg.DataDir, "raft"),
		Layer: func() (consensus.StreamLayer, error) {
			return raftLayer{Listener: c.mesh.Listener(protoRaft), m: c.mesh, c: c}, nil
		},
		Bootstrap: len(cfg.Join) == 0, MaxVoters: cfg.MaxVoters,
		Alive: c.members.Alive, Addresses: c.liveAddresses, Applied: cfg.Applied, Logger: cfg.Logger, Fast: cfg.Fast,
	})
	if err != nil {
		c.members.Shutdown()
		c.mesh.Close()
		c.topicsDB.close()
		return nil, err
	}
	c.loadCID(len(cfg.Join) == 0)
	switch {
	case len(cfg.Join) > 0 && fresh:
		if err := c.join(ctx, fresh); err != nil {
			c.Close()
			return nil, err
		}
	case len(cfg.Join) > 0:
		// A restart: the node is already a member; the seeds may be gone.
		// Knock on them in the background; the quorum guard also knocks on
		// every peer it knows.
		go c.members.Join(cfg.Join...)
	}
	interval := time.Second
	if cfg.Fast {
		interval = 200 * time.Millisecond
	}
	if c.cfg.TopicChanged != nil {
		for _, e := range restored {
			c.cfg.TopicChanged(e.Topic, e.Value, e.Deleted)
		}
	}
	c.wg.Add(2)
	go c.watch()
	go c.gossipTopics(interval)
	return c, nil
}

// restoreTopics merges the cluster topics kept on disk back into the store
// and returns the live ones (for delivery once the node is up).
func (c *Cluster) restoreTopics() []replica.Entry {
	es, bad, err := c.topicsDB.load()
	if err != nil {
		c.log.Error("read stored cluster topics", "err", err)
	}
	for _, b := range bad {
		c.log.Warn("stored cluster topic unreadable; a peer will send it again", "topic", b)
	}
	var live []replica.Entry
	for _, e := range es {
		if ok, err := c.topics.Merge(e); err != nil {
			c.log.Warn("stored cluster topic rejected", "topic", e.Topic, "err", err)
		} else if ok && !e.Deleted {
			live = append(live, e)
		}
	}
	if len(es) > 0 {
		c.log.Info("cluster topics restored from disk", "topics", len(live), "entries", len(es))
	}
	return live
}

// loadSecret reads the cluster secret of the data directory, takes it from
// the token, or makes a new one for a first node.
func loadSecret(dir, token string, joining bool) (secret []byte, fresh bool, err error) {
	path := filepath.Join(dir, "cluster.secret")
	have, rerr := os.ReadFile(path)
	var fromToken []byte
	if token != "" {
		if fromToken, err = mesh.ParseToken(token); err != nil {
			return nil, false, fmt.Errorf("join token: %w", err)
		}
	}
	switch {
	case rerr == nil && fromToken != nil && !bytes.Equal(have, fromToken):
		return nil, false, fmt.Errorf("%w (the token is for a different cluster; use a fresh --data directory)", ErrOtherCluster)
	case rerr == nil:
		return have, false, nil
	case !errors.Is(rerr, os.ErrNotExist):
		return nil, false, rerr
	case fromToken != nil:
		secret = fromToken
	case joining:
		return nil, false, errors.New("joining a cluster needs its token (pkhost token on a member prints it)")
	default:
		secret = mesh.NewSecret()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	if err := atomicfile.Write(path, secret, 0o600); err != nil {
		return nil, false, err
	}
	return secret, true, nil
}

// join enters the membership through the seeds, then asks the leader (via
// any seed) for a place in raft as a non-voter.
func (c *Cluster) join(ctx context.Context, fresh bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		var err error
		if err = c.members.Join(c.cfg.Join...); err == nil {
			req := rpcRequest{Method: "join", ID: c.mesh.ID(), Addr: c.advertise}
			for _, seed := range c.cfg.Join {
				if _, err = c.call(ctx, seed, req, nil); err == nil {
					c.adoptCID(ctx)
					c.log.Info("joined the cluster", "seed", seed, "fresh", fresh, "cid", c.CID())
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %v: %w", c.cfg.Join, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// liveAddresses maps each live member to its current mesh address.
func (c *Cluster) liveAddresses() map[string]string {
	out := map[string]string{}
	for _, m := range c.members.Members() {
		if m.State == "alive" {
			out[m.ID] = m.Address
		}
	}
	return out
}

// Close leaves the cluster quietly (others notice the silence).
func (c *Cluster) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		c.wg.Wait()
		err = errors.Join(c.cons.Close(), c.members.Leave(time.Second), c.mesh.Close(), c.topicsDB.close())
	})
	return err
}

// Token is the join token of this cluster.
func (c *Cluster) Token() string { return mesh.Token(c.secret) }

// ID is the node id; Addr its mesh address.
func (c *Cluster) ID() string   { return c.mesh.ID() }
func (c *Cluster) Addr() string { return c.advertise }

// Manifest returns a copy of the cluster manifest.
func (c *Cluster) Manifest() *manifest.State { return c.cons.Manifest() }

// Members lists the members.
func (c *Cluster) Members() []member.Member { return c.members.Members() }

// Alive returns the live member ids.
func (c *Cluster) Alive() map[string]bool { return c.members.Alive() }

// Propose applies a manifest change through the leader, wherever it is,
// retrying while there is no leader (an election, or lost quorum) until ctx
// ends.
func (c *Cluster) Propose(ctx context.Context, cmd manifest.Command) error {
	backoff := 50 * time.Millisecond
	for {
		var err error
		if c.cons.IsLeader() {
			err = c.cons.Propose(ctx, cmd)
		} else if _, addr := c.cons.Leader(); addr != "" {
			_, err = c.call(ctx, addr, rpcRequest{Method: "propose"}, cmd.Encode())
		} else {
			err = errNoLeader
		}
		if err == nil || !leaderless(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("manifest write: %w (%v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// leaderless reports errors that a retry after an election may cure.
func leaderless(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Msg == errNoLeader.Error() || re.Msg == consensus.ErrNotLeader.Error() || re.Msg == errLoop.Error()
	}
	return errors.Is(err, errNoLeader) || errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, os.ErrDeadlineExceeded)
}

// FetchModule gets module bytes by hash from any live peer and verifies
// them against the hash.
func (c *Cluster) FetchModule(ctx context.Context, hash string) ([]byte, error) {
	var errs []error
	for _, m := range c.members.Members() {
		if m.ID == c.ID() || (m.State != "alive" && m.State != "suspect") {
			continue
		}
		b, err := c.call(ctx, m.Address, rpcRequest{Method: "fetch", Hash: hash}, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sum := blake3.Sum256(b)
		if fmt.Sprintf("%x", sum[:]) != hash {
			errs = append(errs, fmt.Errorf("%s sent bytes that do not hash to %.12s", m.ID, hash))
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("module %.12s: no live peer could supply it: %w", hash, errors.Join(errs...))
}

// Info is the cluster part of status.
type Info struct {
	ID        string          `json:"id"`
	CID       string          `json:"cid"`
	Reforms   int             `json:"reforms"`
	Addr      string          `json:"address"`
	Leader    string          `json:"leader"`
	Consensus consensus.Info  `json:"consensus"`
	Members   []member.Member `json:"members"`
	Peers     []mesh.PeerInfo `json:"peers"`
	Relayed   int64           `json:"relayed_streams"`
}

// Info reports the cluster state.
func (c *Cluster) Info() Info {
	ci := c.cons.Info()
	return Info{ID: c.ID(), CID: c.CID(), Reforms: c.Reforms(), Addr: c.Addr(), Leader: ci.Leader, Consensus: ci, Members: c.members.Members(), Peers: c.mesh.Peers(), Relayed: c.Relayed()}
}

// adoptCID takes the consensus id of the cluster just joined, from the
// members' gossip.
func (c *Cluster) adoptCID(ctx context.Context) {
	for ctx.Err() == nil {
		for _, m := range c.members.Members() {
			if m.ID != c.ID() && m.Meta.CID != "" && m.State == "alive" {
				if c.cid != m.Meta.CID {
					c.setCID(m.Meta.CID)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reforms counts how often this node re-formed consensus.
func (c *Cluster) Reforms() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reforms
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// IsLeader reports whether this node leads consensus.
func (c *Cluster) IsLeader() bool { return c.cons.IsLeader() }
