package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/p-kernel/p-kernel/host/manifest"
)

// StreamLayer carries raft traffic (raft's own interface: a listener plus a
// dialer).
type StreamLayer = raft.StreamLayer

// Config configures a node's consensus.
type Config struct {
	ID   string // the node id: the raft server id
	Addr string // the node's mesh address: the raft server address
	Dir  string // where the log, stable store and snapshots live
	// Layer opens the stream layer; it is called again after a recovery,
	// because raft closes its transport when it shuts down.
	Layer func() (StreamLayer, error)
	// Bootstrap starts a new cluster of one (the first node).
	Bootstrap bool
	// MaxVoters is how many voters the leader keeps (default 5).
	MaxVoters int
	// DeadAfter is how long a voter must be reported dead before it is
	// replaced by a healthy non-voter (default 10 s).
	DeadAfter time.Duration
	// Alive reports the nodes membership considers alive (nil: assume all).
	Alive func() map[string]bool
	// Addresses reports the current address of each live node (nil: an
	// address never changes). A node that comes back on another port (a
	// new DHCP lease, a phone changing networks) would otherwise stay
	// unreachable at the address raft recorded when it joined.
	Addresses func() map[string]string
	// Applied is called after every applied entry (on raft's goroutine).
	Applied func(index uint64, c manifest.Command, err error)
	Logger  *slog.Logger
	// Fast selects short timeouts (tests).
	Fast bool
}

// Consensus is a node's raft member.
type Consensus struct {
	cfg  Config
	log  *slog.Logger
	done chan struct{}
	wg   sync.WaitGroup

	rmu   sync.RWMutex // guards the raft instance, which a recovery replaces
	raft  *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	snaps raft.SnapshotStore
	rc    *raft.Config
	layer *stopLayer // the current transport's

	mu       sync.Mutex
	deadSeen map[string]time.Time
}

// ErrNotLeader is returned by operations only the leader may do.
var ErrNotLeader = errors.New("not the leader")

// Open starts raft for this node.
func Open(cfg Config) (*Consensus, error) {
	if cfg.MaxVoters <= 0 {
		cfg.MaxVoters = 5
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	c := &Consensus{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), deadSeen: map[string]time.Time{}, rc: raftConfig(cfg)}
	if err := c.openStores(); err != nil {
		return nil, err
	}
	if cfg.Bootstrap {
		if err := c.bootstrap(); err != nil {
			c.store.Close()
			return nil, err
		}
	}
	if err := c.startRaft(); err != nil {
		c.store.Close()
		return nil, err
	}
	c.wg.Add(1)
	go c.housekeeping()
	return c, nil
}

func (c *Consensus) openStores() error {
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(c.cfg.Dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.Dir, 2, c.rc.Logger)
	if err != nil {
		store.Close()
		return fmt.Errorf("raft snapshots: %w", err)
	}
	c.store, c.snaps = store, snaps
	return nil
}

func (c *Consensus) transport() (*raft.NetworkTransport, error) {
	layer, err := c.cfg.Layer()
	if err != nil {
		return nil, err
	}
	c.layer = newStopLayer(layer)
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: c.layer, MaxPool: 3, Timeout: 5 * time.Second, Logger: c.rc.Logger,
	}), nil
}

// shutdown stops raft; c.rmu is held. The stream layer is stopped first:
// raft's shutdown waits for its vote requests, and one to a silent peer
// would otherwise hold it for the transport's timeout (5 s).
func (c *Consensus) shutdown() error {
	c.layer.Stop()
	return c.raft.Shutdown().Error()
}

// bootstrap makes a cluster of one, unless raft state already exists.
func (c *Consensus) bootstrap() error {
	has, err := raft.HasExistingState(c.store, c.store, c.snaps)
	if err != nil || has {
		return err
	}
	trans, err := c.transport()
	if err != nil {
		return err
	}
	defer trans.Close()
	err = raft.BootstrapCluster(c.rc, c.store, c.store, c.snaps, trans, raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: raft.ServerID(c.cfg.ID), Address: raft.ServerAddress(c.cfg.Addr)},
	}})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

func (c *Consensus) startRaft() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	trans, err := c.transport()
	if err != nil {
		return err
	}
	return c.launch(trans)
}

// launch starts raft on the stores with a fresh FSM (raft restores it from
// the snapshot and log). c.rmu is held; on failure trans is closed.
func (c *Consensus) launch(trans *raft.NetworkTransport) error {
	f := &fsm{state: manifest.New(), applied: c.cfg.Applied}
	r, err := raft.NewRaft(c.rc, f, c.store, c.store, c.snaps, trans)
	if err != nil {
		trans.Close()
		return err
	}
	c.raft, c.fsm = r, f
	return nil
}

func (c *Consensus) r() *raft.Raft {
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	return c.raft
}

// LastLog is the term and index of this node's last log entry: the
// freshness of its copy, compared when quorum is lost. After a Recover or
// Adopt the log lives in a snapshot: its end counts.
func (c *Consensus) LastLog() (term, index uint64) {
	st := c.r().Stats()
	term, _ = strconv.ParseUint(st["last_log_term"], 10, 64)
	index, _ = strconv.ParseUint(st["last_log_index"], 10, 64)
	sterm, _ := strconv.ParseUint(st["last_snapshot_term"], 10, 64)
	sindex, _ := strconv.ParseUint(st["last_snapshot_index"], 10, 64)
	if sindex > index {
		return sterm, sindex
	}
	return term, index
}

// Recover re-forms consensus after quorum was lost: raft restarts with a
// configuration in which voter is the only voter and others are
// non-voters. Every survivor runs it with the same arguments; voter (the
// survivor with the freshest log) then elects itself at once, and the
// housekeeping promotes the others. Entries no survivor has are lost; see
// RATIONALE.md § Losing quorum.
func (c *Consensus) Recover(voter Server, others []Server) error {
	servers := []Server{{ID: voter.ID, Address: voter.Address, Voter: true}}
	for _, o := range others {
		servers = append(servers, Server{ID: o.ID, Address: o.Address})
	}
	return c.Adopt(servers)
}

// Adopt restarts raft with servers as its configuration, keeping the log
// (it is folded into a snapshot). The quorum guard uses it to catch up
// with a configuration this node missed: one that a live peer, whose log
// extends this node's, already holds (see the cluster's catchUp).
func (c *Consensus) Adopt(servers []Server) error {
	var conf raft.Configuration
	for _, s := range servers {
		suffrage := raft.Nonvoter
		if s.Voter {
			suffrage = raft.Voter
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.shutdown(); err != nil {
		return err
	}
	trans, err := c.transport()
	if err != nil {
		return err
	}
	scratch := &fsm{state: manifest.New()}
	if err := raft.RecoverCluster(c.rc, scratch, c.store, c.store, c.snaps, trans, conf); err != nil {
		// Never leave the node without raft: start again as it was.
		return errors.Join(fmt.Errorf("recover: %w", err), c.launch(trans))
	}
	return c.launch(trans)
}

// TermAt is the term of this node's log entry at index (or of the
// snapshot ending there); ok is false when it holds neither. Equal terms
// at the same index mean equal logs up to there (raft's log matching).
func (c *Consensus) TermAt(index uint64) (term uint64, ok bool) {
	if index == 0 {
		return 0, true
	}
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	var l raft.Log
	if err := c.store.GetLog(index, &l); err == nil {
		return l.Term, true
	}
	snaps, err := c.snaps.List()
	if err != nil {
		return 0, false
	}
	for _, s := range snaps {
		if s.Index == index {
			return s.Term, true
		}
	}
	return 0, false
}

// Reset throws this node's raft state away and starts empty, as a joiner
// (the losing side of a healed partition; its manifest is merged into the
// winner's through a command first).
func (c *Consensus) Reset() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.shutdown()
	c.store.Close()
	for _, f := range []string{"raft.db", "snapshots"} {
		os.RemoveAll(filepath.Join(c.cfg.Dir, f))
	}
	if err := c.openStores(); err != nil {
		return err
	}
	trans, err := c.transport()
	if err != nil {
		return err
	}
	return c.launch(trans)
}

func raftConfig(cfg Config) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	// Close to the original's timing: an election starts 300-600 ms after
	// the leader is missed (bench/RESULTS.md measured 1.17 s failover p50
	// with 500 ms, over the 1 s target).
	rc.HeartbeatTimeout = 300 * time.Millisecond
	rc.ElectionTimeout = 300 * time.Millisecond
	rc.LeaderLeaseTimeout = 150 * time.Millisecond
	rc.CommitTimeout = 20 * time.Millisecond
	rc.SnapshotThreshold = 1024
	if cfg.Fast {
		rc.HeartbeatTimeout = 200 * time.Millisecond
		rc.ElectionTimeout = 200 * time.Millisecond
		rc.LeaderLeaseTimeout = 100 * time.Millisecond
	}
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{cfg.Logger}})
	return rc
}

// slogWriter sends hclog's lines to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(trimNL(p)), "component", "raft")
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// Close stops raft. A leader first hands leadership to the most
// up-to-date voter (bounded by handoverTimeout), so that a planned stop —
// SIGTERM, an update, a restart — costs the cluster no election timeout;
// other nodes leave quietly and the others notice.
func (c *Consensus) Close() error {
	close(c.done)
	c.wg.Wait()
	c.handOver()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	err := c.shutdown()
	return errors.Join(err, c.store.Close())
}

// handoverTimeout bounds a closing leader's wait for its successor.
const handoverTimeout = 2 * time.Second

// handOver transfers leadership away if this node leads and another voter
// exists. A failed or slow transfer only means the usual election.
func (c *Consensus) handOver() {
	if !c.IsLeader() {
		return
	}
	others := 0
	for _, s := range c.Servers() {
		if s.Voter && s.ID != c.cfg.ID {
			others++
		}
	}
	if others == 0 {
		return
	}
	done := make(chan error, 1)
	go func() { done <- c.r().LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			c.log.Info("consensus: leadership handover on close failed; the others will elect", "err", err)
		} else {
			c.log.Info("consensus: leadership handed over on close")
		}
	case <-time.After(handoverTimeout):
		c.log.Info("consensus: leadership handover on close timed out; the others will elect")
	}
}

// Propose applies a command through the log; only on the leader.
func (c *Consensus) Propose(ctx context.Context, cmd manifest.Command) error {
	if c.r().State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := c.r().Apply(cmd.Encode(), timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return ErrNotLeader
		}
		return err
	}
	if err, _ := f.Response().(error); err != nil {
		return err
	}
	return nil
}

// ProposeRaw is Propose for an already encoded command (forwarded from
// another node).
func (c *Consensus) ProposeRaw(ctx context.Context, b []byte) error {
	cmd, err := manifest.Decode(b)
	if err != nil {
		return err
	}
	return c.Propose(ctx, cmd)
}

// Manifest returns a copy of the current manifest.
func (c *Consensus) Manifest() *manifest.State {
	c.rmu.RLock()
	f := c.fsm
	c.rmu.RUnlock()
	return f.read()
}

// Leader returns the leader's id and address ("" when unknown).
func (c *Consensus) Leader() (id, addr string) {
	a, i := c.r().LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node leads.
func (c *Consensus) IsLeader() bool { return c.r().State() == raft.Leader }

// Server is a member of the raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Info is the consensus part of status.
type Info struct {
	State      string   `json:"state"`
	Term       uint64   `json:"term"`
	Leader     string   `json:"leader"`
	LeaderAddr string   `json:"leader_addr"`
	LastIndex  uint64   `json:"last_index"`
	Applied    uint64   `json:"applied_index"`
	Servers    []Server `json:"servers"`
	Voters     int      `json:"voters"`
	HasQuorum  bool     `json:"has_quorum"`
}

// Info reports raft's state.
func (c *Consensus) Info() Info {
	r := c.r()
	st := r.Stats()
	term, _ := strconv.ParseUint(st["term"], 10, 64)
	applied, _ := strconv.ParseUint(st["applied_index"], 10, 64)
	id, addr := c.Leader()
	in := Info{State: r.State().String(), Term: term, Leader: id, LeaderAddr: addr, LastIndex: r.LastIndex(), Applied: applied}
	for _, s := range c.Servers() {
		in.Servers = append(in.Servers, s)
		if s.Voter {
			in.Voters++
		}
	}
	in.HasQuorum = id != ""
	return in
}

// Servers lists the raft configuration.
func (c *Consensus) Servers() []Server {
	f := c.r().GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out
}

// AddNonvoter lets a joining node in as a non-voter (leader only); the
// housekeeping promotes it when voters are missing.
func (c *Consensus) AddNonvoter(id, addr string) error {
	if !c.IsLeader() {
		return ErrNotLeader
	}
	for _, s := range c.Servers() {
		if s.ID == id && s.Address == addr {
			return nil
		}
	}
	return c.r().AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 5*time.Second).Error()
}

// Rejoin takes back a node that threw its raft state away (the losing side
// of a healed partition): it must not keep a vote with an empty log, so a
// voter is demoted; the housekeeping promotes it again once it caught up.
func (c *Consensus) Rejoin(id, addr string) error {
	if !c.IsLeader() {
		return ErrNotLeader
	}
	for _, s := range c.Servers() {
		if s.ID == id && s.Voter {
			if err := c.r().DemoteVoter(raft.ServerID(id), 0, 5*time.Second).Error(); err != nil {
				return err
			}
		}
	}
	return c.r().AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 5*time.Second).Error()
}

// housekeeping runs the leader's membership duties every 500 ms.
func (c *Consensus) housekeeping() {
	defer c.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.IsLeader() {
				c.tend()
			}
		}
	}
}

// tend keeps MaxVoters healthy voters: dead voters (dead for DeadAfter) are
// removed, live non-voters promoted.
func (c *Consensus) tend() {
	alive := map[string]bool{}
	if c.cfg.Alive != nil {
		alive = c.cfg.Alive()
	}
	isAlive := func(id string) bool { return c.cfg.Alive == nil || id == c.cfg.ID || alive[id] }
	now := time.Now()
	servers := c.Servers()
	voters := 0
	c.mu.Lock()
	for _, s := range servers {
		if isAlive(s.ID) {
			delete(c.deadSeen, s.ID)
		} else if _, ok := c.deadSeen[s.ID]; !ok {
			c.deadSeen[s.ID] = now
		}
	}
	dead := func(id string) bool { t, ok := c.deadSeen[id]; return ok && now.Sub(t) >= c.cfg.DeadAfter }
	c.mu.Unlock()
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	for _, s := range servers {
		if s.ID == c.cfg.ID || !dead(s.ID) {
			continue
		}
		// Only replace a dead voter when a live non-voter can take its
		// place, or when it is a non-voter (no risk to quorum).
		if s.Voter && !c.hasLiveNonvoter(servers, isAlive) {
			continue
		}
		if err := c.r().RemoveServer(raft.ServerID(s.ID), 0, 5*time.Second).Error(); err == nil {
			c.log.Info("removed dead raft server", "id", s.ID, "voter", s.Voter)
			if s.Voter {
				voters--
			}
		}
	}
	c.followAddresses(servers)
	for _, s := range servers {
		if voters >= c.cfg.MaxVoters {
			break
		}
		if !s.Voter && isAlive(s.ID) && !dead(s.ID) {
			if err := c.r().AddVoter(raft.ServerID(s.ID), raft.ServerAddress(s.Address), 0, 5*time.Second).Error(); err == nil {
				c.log.Info("promoted to voter", "id", s.ID)
				voters++
			}
		}
	}
}

// followAddresses records the new address of a server that membership sees
// alive elsewhere. raft's AddVoter/AddNonvoter on a known id only change its
// address and keep its suffrage.
func (c *Consensus) followAddresses(servers []Server) {
	if c.cfg.Addresses == nil {
		return
	}
	now := c.cfg.Addresses()
	for _, s := range servers {
		addr, ok := now[s.ID]
		if !ok || addr == "" || addr == s.Address || s.ID == c.cfg.ID {
			continue
		}
		change := c.r().AddNonvoter
		if s.Voter {
			change = c.r().AddVoter
		}
		if err := change(raft.ServerID(s.ID), raft.ServerAddress(addr), 0, 5*time.Second).Error(); err != nil {
			c.log.Warn("record a server's new address", "id", s.ID, "addr", addr, "err", err)
			continue
		}
		c.log.Info("a server moved; raft follows it", "id", s.ID, "from", s.Address, "to", addr)
	}
}

func (c *Consensus) hasLiveNonvoter(servers []Server, alive func(string) bool) bool {
	for _, s := range servers {
		if !s.Voter && alive(s.ID) {
			return true
		}
	}
	return false
}

// TCPLayer is a raft stream layer over plain TCP, for tests.
type TCPLayer struct{ net.Listener }

// ListenTCP opens a TCP stream layer on addr.
func ListenTCP(addr string) (*TCPLayer, error) {
	l, err := net.Listen("tcp", addr)
	return &TCPLayer{l}, err
}

// Dial implements raft.StreamLayer.
func (t *TCPLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

var _ io.Closer = (*TCPLayer)(nil)
