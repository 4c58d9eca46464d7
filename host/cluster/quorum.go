package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/host/consensus"
	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/zeebo/blake3"
)

// The consensus id (CID) names one raft cluster: made at bootstrap,
// replaced deterministically when survivors re-form, adopted from the winner
// when a partition heals. Members gossip it, with their log freshness, so
// that every node can tell which side it is on.

func (c *Cluster) cidPath() string { return filepath.Join(c.cfg.DataDir, "cid") }

func (c *Cluster) loadCID(bootstrap bool) {
	b, err := os.ReadFile(c.cidPath())
	if err == nil && len(b) > 0 {
		c.setCID(strings.TrimSpace(string(b)))
		return
	}
	if bootstrap {
		r := make([]byte, 8)
		rand.Read(r)
		c.setCID(hex.EncodeToString(r))
	}
}

// setCID changes the consensus id. Only the watch goroutine (and Open,
// before it starts) writes it; other goroutines read it through CID.
func (c *Cluster) setCID(cid string) {
	c.mu.Lock()
	c.cid = cid
	c.mu.Unlock()
	if err := atomicfile.Write(c.cidPath(), []byte(cid+"\n"), 0o600); err != nil {
		c.log.Warn("cluster: saving the consensus id", "err", err)
	}
}

// CID is this node's consensus id.
func (c *Cluster) CID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cid
}

// watch runs the quorum guard: it gossips this node's consensus state,
// keeps knocking on known peers that are not alive (so that both sides of a
// healed partition meet again), re-forms consensus when quorum is lost for
// good, and merges a partition's losing side into the winner.
func (c *Cluster) watch() {
	defer c.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var lastKnock time.Time
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.publishMeta()
		if time.Since(lastKnock) > 2*time.Second {
			lastKnock = time.Now()
			c.knock()
		}
		if c.mergeIfLosing() {
			continue
		}
		c.adoptStrays()
		if c.hasPendingMerge() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.rejoin(ctx)
			cancel()
			continue
		}
		c.reformIfStuck()
		c.catchUp()
	}
}

// SetRoles replaces the roles this node advertises in its membership
// metadata; the watch loop gossips them within half a second.
func (c *Cluster) SetRoles(roles []string) {
	r := slices.Clone(roles)
	c.roles.Store(&r)
}

// publishMeta gossips the consensus id, log freshness and roles when they
// change.
func (c *Cluster) publishMeta() {
	term, index := c.cons.LastLog()
	m := c.cfg.Meta
	if r := c.roles.Load(); r != nil {
		m.Roles = *r
	}
	id, _ := c.cons.Leader()
	m.CID, m.Term, m.Index, m.Leader = c.cid, term, index, id != ""
	if m.CID != c.lastMeta.CID || m.Term != c.lastMeta.Term || m.Index != c.lastMeta.Index || m.Leader != c.lastMeta.Leader ||
		!slices.Equal(m.Roles, c.lastMeta.Roles) {
		c.lastMeta = m
		c.members.SetMeta(m)
	}
}

// knock re-joins known peers that membership does not see alive: raft
// servers and members once seen. memberlist stops talking to dead nodes
// after a while; without this a partition would never heal.
func (c *Cluster) knock() {
	alive := c.members.Alive()
	seen := map[string]bool{}
	var addrs []string
	add := func(id, addr string) {
		if id != c.ID() && !alive[id] && addr != "" && !seen[addr] {
			seen[addr] = true
			addrs = append(addrs, addr)
		}
	}
	for _, s := range c.cons.Servers() {
		add(s.ID, s.Address)
	}
	for _, m := range c.members.Members() {
		add(m.ID, m.Address)
	}
	c.mu.Lock()
	for id, addr := range c.known {
		add(id, addr)
	}
	for _, m := range c.members.Members() {
		c.known[m.ID] = m.Address
	}
	c.mu.Unlock()
	if len(addrs) > 0 {
		go c.members.Join(addrs...) // errors are normal: most are still gone
	}
}

// adoptStrays (leader only) takes into raft, as non-voters, live members
// that gossip this cluster's consensus id but are not in its
// configuration: a survivor that re-formed with a picture in which this
// leader had not seen it yet, or a node removed as dead that came back. It
// believes it belongs, the leader would never send it anything, and no
// other path would ever add it. The housekeeping promotes it as usual.
func (c *Cluster) adoptStrays() {
	if !c.cons.IsLeader() {
		return
	}
	in := map[string]bool{}
	for _, s := range c.cons.Servers() {
		in[s.ID] = true
	}
	cid := c.CID()
	for _, m := range c.members.Members() {
		if m.State != "alive" || in[m.ID] || m.Meta.CID != cid || m.ID == c.ID() {
			continue
		}
		if err := c.cons.AddNonvoter(m.ID, m.Address); err != nil {
			c.log.Warn("adopt a member of this cluster missing from raft", "id", m.ID, "err", err)
			continue
		}
		c.log.Info("adopted a member of this cluster missing from raft", "id", m.ID, "addr", m.Address)
	}
}

// side is the set of live members in one raft cluster.
type side struct {
	cid     string
	members []member.Member
}

// led reports whether a member of the side knows a leader.
func (s side) led() bool {
	return slices.ContainsFunc(s.members, func(m member.Member) bool { return m.Meta.Leader })
}

func (c *Cluster) sides() []side {
	by := map[string][]member.Member{}
	for _, m := range c.members.Members() {
		if (m.State == "alive" || m.State == "suspect") && m.Meta.CID != "" {
			by[m.Meta.CID] = append(by[m.Meta.CID], m)
		}
	}
	var out []side
	for cid, ms := range by {
		out = append(out, side{cid, ms})
	}
	// The winner first: a side with a working leader, then more live
	// members, then the smaller id. (Nodes coming back after the others
	// re-formed can outnumber them, but their old configuration may never
	// elect anyone again: they must join the side that works.)
	sort.Slice(out, func(i, j int) bool {
		li, lj := out[i].led(), out[j].led()
		if li != lj {
			return li
		}
		if len(out[i].members) != len(out[j].members) {
			return len(out[i].members) > len(out[j].members)
		}
		return out[i].cid < out[j].cid
	})
	return out
}

// mergeIfLosing folds this node into the winning side when two raft
// clusters (the two sides of a healed partition) see each other. The
// deterministic rule: a side with a leader wins over one without, then the
// side with more live members, then the smaller consensus id. The loser hands its manifest to the winner as a
// merge command (last writer wins per module, the loser kept in history),
// throws its raft state away and joins as a non-voter.
func (c *Cluster) mergeIfLosing() bool {
	ss := c.sides()
	if len(ss) < 2 || c.cid == "" || ss[0].cid == c.cid {
		c.mu.Lock()
		c.losingSince = time.Time{}
		c.mu.Unlock()
		return false
	}
	winner := ss[0]
	// Only act on a settled picture: right after survivors re-form, their
	// ids differ for a moment until every one has switched; and never merge
	// into a side that has no leader yet.
	c.mu.Lock()
	if c.losingSince.IsZero() || c.losingTo != winner.cid {
		c.losingSince, c.losingTo = time.Now(), winner.cid
	}
	settled := time.Since(c.losingSince) >= 2*time.Second && time.Since(c.lastReform) >= c.reformAfter
	c.mu.Unlock()
	if !settled || !winner.led() {
		return false
	}
	mine := c.cons.Manifest()
	c.log.Warn("another side of a partition is back; merging into it", "winner", winner.cid, "mine", c.cid,
		"winner_members", len(winner.members))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.cons.Reset(); err != nil {
		c.log.Error("merge: reset raft", "err", err)
		return true
	}
	c.setCID(winner.cid)
	cmd := manifest.Command{Op: manifest.OpMerge, Snapshot: mine.Snapshot(), Clock: manifest.Clock{Wall: time.Now().UnixMilli(), Node: c.ID()}}
	c.mu.Lock()
	c.pendingMerge = cmd.Encode()
	c.mu.Unlock()
	c.rejoin(ctx)
	return true
}

// rejoin (after a reset) asks the winning side to take this node back and
// hands it the pending manifest merge; it is retried on every tick until it
// succeeds.
func (c *Cluster) rejoin(ctx context.Context) {
	c.mu.Lock()
	merge := c.pendingMerge
	c.mu.Unlock()
	if merge == nil {
		return
	}
	req := rpcRequest{Method: "join", ID: c.ID(), Addr: c.Addr(), Reset: true}
	for _, m := range c.members.Members() {
		if m.ID == c.ID() || m.State != "alive" || m.Meta.CID != c.cid {
			continue
		}
		if _, err := c.call(ctx, m.Address, req, nil); err != nil {
			continue
		}
		if _, err := c.call(ctx, m.Address, rpcRequest{Method: "propose"}, merge); err != nil {
			c.log.Error("merge: manifest", "err", err)
			continue
		}
		c.mu.Lock()
		c.pendingMerge = nil
		c.mu.Unlock()
		c.log.Info("merged into the winning side", "via", m.ID)
		return
	}
}

// reformIfStuck re-forms consensus among the survivors when there has been
// no leader and a stable set of live nodes without a quorum of the voters
// for ReformAfter. Every survivor computes the same choice: the freshest
// log (term, then index, then the smaller id) becomes the sole voter.
func (c *Cluster) reformIfStuck() {
	now := time.Now()
	id, _ := c.cons.Leader()
	aliveSet := c.members.Alive()
	var sig []string
	for m := range aliveSet {
		sig = append(sig, m)
	}
	sort.Strings(sig)
	s := strings.Join(sig, ",")
	c.mu.Lock()
	if s != c.aliveSig {
		c.aliveSig, c.stableSince = s, now
	}
	if id != "" {
		c.noLeaderSince = time.Time{}
	} else if c.noLeaderSince.IsZero() {
		c.noLeaderSince = now
	}
	stuck := !c.noLeaderSince.IsZero() && now.Sub(c.noLeaderSince) >= c.reformAfter && now.Sub(c.stableSince) >= c.reformAfter
	c.mu.Unlock()
	if !stuck {
		return
	}
	servers := c.cons.Servers()
	voters, aliveVoters := 0, 0
	for _, sv := range servers {
		if sv.Voter {
			voters++
			if aliveSet[sv.ID] {
				aliveVoters++
			}
		}
	}
	if voters == 0 || aliveVoters > voters/2 {
		return // not in a configuration yet (joining), or a quorum is alive: an election will settle it
	}
	// The survivors: live members of this raft cluster.
	var survivors []member.Member
	for _, m := range c.members.Members() {
		if aliveSet[m.ID] && m.Meta.CID == c.cid {
			survivors = append(survivors, m)
		}
	}
	if !slices.ContainsFunc(survivors, func(m member.Member) bool { return m.ID == c.ID() }) {
		return // our own metadata has not gone round yet
	}
	sort.Slice(survivors, func(i, j int) bool {
		a, b := survivors[i].Meta, survivors[j].Meta
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return survivors[i].ID < survivors[j].ID
	})
	voter := survivors[0]
	var others []consensus.Server
	for _, m := range survivors[1:] {
		others = append(others, consensus.Server{ID: m.ID, Address: m.Address})
	}
	c.log.Warn("quorum lost for good: re-forming consensus among the survivors",
		"voters_alive", aliveVoters, "voters", voters, "survivors", len(survivors), "freshest", voter.ID,
		"term", voter.Meta.Term, "index", voter.Meta.Index)
	if err := c.cons.Recover(consensus.Server{ID: voter.ID, Address: voter.Address}, others); err != nil {
		c.log.Error("re-form consensus", "err", err)
		return
	}
	sum := blake3.Sum256([]byte(fmt.Sprintf("%s/%s/%d/%d", c.cid, voter.ID, voter.Meta.Term, voter.Meta.Index)))
	c.setCID(hex.EncodeToString(sum[:8]))
	c.mu.Lock()
	c.noLeaderSince = time.Time{}
	c.reforms++
	c.lastReform = time.Now()
	c.mu.Unlock()
}

func (c *Cluster) hasPendingMerge() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pendingMerge != nil
}
