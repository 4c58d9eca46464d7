package member

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what a member tells the others about itself.
type Meta struct {
	Version  string   `json:"version"`
	Capacity int      `json:"capacity"` // free guest memory in MiB, roughly
	Roles    []string `json:"roles,omitempty"`
	API      string   `json:"api,omitempty"`
	// Consensus: which raft cluster the node is in (changes when quorum is
	// re-formed) and how fresh its log is.
	CID   string `json:"cid,omitempty"`
	Term  uint64 `json:"term,omitempty"`
	Index uint64 `json:"index,omitempty"`
	// Leader: the node knows a leader (its side of the cluster works).
	Leader bool `json:"leader,omitempty"`
}

// Member is one node as seen from here.
type Member struct {
	ID          string `json:"id"`
	Address     string `json:"address"`
	State       string `json:"state"` // alive, suspect, dead, left
	Incarnation uint32 `json:"incarnation"`
	Meta        Meta   `json:"meta"`
}

// Config configures membership.
type Config struct {
	ID      string
	Network Network
	Meta    Meta
	// Changed is called (on memberlist's goroutine) after any join, leave,
	// death or metadata change.
	Changed func()
	Logger  *slog.Logger
	// Fast selects short probe intervals (tests).
	Fast bool
	// Tuning overrides the timing above for large or CPU-starved clusters;
	// its zero value changes nothing.
	Tuning Tuning
}

// Tuning holds memberlist's scale knobs. A zero field keeps the default
// (the LAN-like timing set in Start, or Fast's). For many members on few
// cores, longer intervals and no compression trade detection time for CPU
// (memberlist's own WAN profile does the former); see [LargeCluster].
type Tuning struct {
	ProbeInterval    time.Duration // one probe per interval, round robin
	ProbeTimeout     time.Duration // wait for the direct ack
	GossipInterval   time.Duration
	GossipNodes      int           // peers gossiped to per interval
	PushPullInterval time.Duration // full state sync (memberlist scales it up past 32 members)
	SuspicionMult    int           // suspicion timeout = SuspicionMult × log10(N) × ProbeInterval
	RetransmitMult   int           // each broadcast is sent RetransmitMult × log10(N+1) times
	// GossipToTheDead is how long dead members still get gossip.
	GossipToTheDead time.Duration
	// AwarenessMax caps Lifeguard's slow-down of a node that misses acks
	// and nacks (probe interval and timeout × up to AwarenessMax; memberlist
	// uses 8). After a mass failure nearly every indirect probe goes to a
	// dead relay, so the survivors would probe 8 times slower.
	AwarenessMax int
	// NoCompression turns off memberlist's LZW compression of packets and
	// state syncs: bigger messages, much less CPU.
	NoCompression bool
	// IndirectChecks is how many members are asked to probe a member that
	// did not answer (memberlist's default is 3).
	IndirectChecks int
	// NoTCPPings turns off memberlist's fallback ping over a stream after a
	// failed probe (a stream per probe of a dead member; it helps only where
	// packets are blocked and streams are not).
	NoTCPPings bool
}

// LargeCluster is a timing for about a thousand members sharing a couple of
// cores (the in-process simulation in tests/sim). Against the default:
// gossip every 500 ms instead of 100 ms and each message repeated half as
// often (gossip volume grows as N² log N while members join), probe every
// second with an 800 ms timeout, Lifeguard's slow-down capped at 2, full
// syncs every 10 s (memberlist makes that 60 s at 1000 members), no
// compression. Detection of a dead member takes tens of seconds.
var LargeCluster = Tuning{
	ProbeInterval:    time.Second,
	ProbeTimeout:     800 * time.Millisecond,
	GossipInterval:   500 * time.Millisecond,
	GossipNodes:      3,
	PushPullInterval: 10 * time.Second,
	SuspicionMult:    4,
	RetransmitMult:   2,
	GossipToTheDead:  10 * time.Second,
	AwarenessMax:     2,
	NoCompression:    true,
}

func (t Tuning) apply(mc *memberlist.Config) {
	setDur := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setInt := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setDur(&mc.ProbeInterval, t.ProbeInterval)
	setDur(&mc.ProbeTimeout, t.ProbeTimeout)
	setDur(&mc.GossipInterval, t.GossipInterval)
	setInt(&mc.GossipNodes, t.GossipNodes)
	setDur(&mc.PushPullInterval, t.PushPullInterval)
	setInt(&mc.SuspicionMult, t.SuspicionMult)
	setInt(&mc.RetransmitMult, t.RetransmitMult)
	setDur(&mc.GossipToTheDeadTime, t.GossipToTheDead)
	setInt(&mc.AwarenessMaxMultiplier, t.AwarenessMax)
	setInt(&mc.IndirectChecks, t.IndirectChecks)
	if t.NoCompression {
		mc.EnableCompression = false
	}
	if t.NoTCPPings {
		mc.DisableTcpPings = true
	}
}

// List is the node's membership.
type List struct {
	cfg Config
	ml  *memberlist.Memberlist
	tr  *transport

	mu     sync.Mutex
	meta   []byte
	table  map[string]Member // kept from memberlist's events, see Members
	nalive int               // live members in table
}

// Start begins gossiping. Join adds seeds.
func Start(cfg Config) (*List, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &List{cfg: cfg, tr: newTransport(cfg.Network), table: map[string]Member{}}
	l.meta, _ = json.Marshal(cfg.Meta)
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.ID
	mc.Transport = l.tr
	mc.Delegate = delegate{l}
	mc.Events = events{l}
	mc.LogOutput = logWriter{cfg.Logger}
	// Faster than the LAN defaults: the original detected death within 6 s;
	// here a silent node is suspect after about a second and dead a few
	// seconds later.
	mc.ProbeInterval = 400 * time.Millisecond
	mc.ProbeTimeout = 300 * time.Millisecond
	mc.GossipInterval = 100 * time.Millisecond
	// Detection = a failed probe round (direct, then indirect) plus the
	// suspicion timeout (SuspicionMult × log10(N) × ProbeInterval, at least
	// one interval per unit): 2 keeps a small cluster's p99 under 2 s
	// (bench/RESULTS.md measured 3.0 s p99 with 3 and 500 ms).
	mc.SuspicionMult = 2
	mc.PushPullInterval = 5 * time.Second
	mc.TCPTimeout = 2 * time.Second
	mc.DeadNodeReclaimTime = 5 * time.Second
	if cfg.Fast {
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 150 * time.Millisecond
		mc.SuspicionMult = 2
		mc.PushPullInterval = time.Second
	}
	cfg.Tuning.apply(mc)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	l.ml = ml
	return l, nil
}

// Join contacts seed addresses; it succeeds if any answers.
func (l *List) Join(seeds ...string) error {
	_, err := l.ml.Join(seeds)
	return err
}

// Leave announces departure and stops.
func (l *List) Leave(timeout time.Duration) error {
	err := l.ml.Leave(timeout)
	return joinErr(err, l.ml.Shutdown())
}

// Shutdown stops without announcing (as a crash would look).
func (l *List) Shutdown() error { return l.ml.Shutdown() }

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// SetMeta changes this node's metadata and gossips it.
func (l *List) SetMeta(m Meta) {
	b, _ := json.Marshal(m)
	l.mu.Lock()
	l.meta = b
	l.mu.Unlock()
	l.ml.UpdateNode(2 * time.Second)
}

// Members lists every member seen (dead and departed ones too), sorted by
// id. The table is copied from memberlist's events as they happen:
// memberlist.Members returns pointers into state its goroutines keep
// writing, so reading them later races.
func (l *List) Members() []Member {
	l.mu.Lock()
	out := make([]Member, 0, len(l.table))
	for _, m := range l.table {
		out = append(out, m)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// record copies a node's state into the table (called from memberlist's
// event callbacks, on the goroutine that changed the node).
func (l *List) record(n *memberlist.Node, state string) {
	m := member(n)
	if state != "" {
		m.State = state // memberlist's Node.State lags in its callbacks
	}
	l.mu.Lock()
	if old, ok := l.table[m.ID]; ok && live(old.State) {
		l.nalive--
	}
	if live(m.State) {
		l.nalive++
	}
	l.table[m.ID] = m
	l.mu.Unlock()
}

func live(state string) bool { return state == "alive" || state == "suspect" }

// Alive returns the ids of live members (alive or merely suspect).
func (l *List) Alive() map[string]bool {
	out := map[string]bool{}
	for _, m := range l.Members() {
		if live(m.State) {
			out[m.ID] = true
		}
	}
	return out
}

// NumAlive counts live members including this node (as Alive does, without
// copying the table).
func (l *List) NumAlive() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nalive
}

func member(n *memberlist.Node) Member {
	m := Member{ID: n.Name, Address: n.Address(), Incarnation: 0}
	switch n.State {
	case memberlist.StateAlive:
		m.State = "alive"
	case memberlist.StateSuspect:
		m.State = "suspect"
	case memberlist.StateDead:
		m.State = "dead"
	case memberlist.StateLeft:
		m.State = "left"
	}
	json.Unmarshal(n.Meta, &m.Meta)
	return m
}

type delegate struct{ l *List }

func (d delegate) NodeMeta(limit int) []byte {
	d.l.mu.Lock()
	defer d.l.mu.Unlock()
	if len(d.l.meta) > limit {
		return nil
	}
	return d.l.meta
}
func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{ l *List }

func (e events) changed() {
	if e.l.cfg.Changed != nil {
		go e.l.cfg.Changed() // never block memberlist's goroutine
	}
}
func (e events) NotifyJoin(n *memberlist.Node)   { e.l.record(n, "alive"); e.changed() }
func (e events) NotifyLeave(n *memberlist.Node)  { e.l.record(n, "dead"); e.changed() }
func (e events) NotifyUpdate(n *memberlist.Node) { e.l.record(n, "alive"); e.changed() }

// logWriter routes memberlist's log lines to slog at debug (warnings and
// errors at their level).
type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(s, "[ERR]"):
		w.l.Error(s, "component", "memberlist")
	case strings.Contains(s, "[WARN]"):
		w.l.Debug(s, "component", "memberlist") // suspicion chatter is normal while nodes die
	default:
		w.l.Debug(s, "component", "memberlist")
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
