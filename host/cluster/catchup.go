package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/p-kernel/p-kernel/host/consensus"
)

// Catching up with a missed configuration.
//
// hashicorp/raft refuses to vote for a candidate that is not a voter in
// the voter's own latest configuration (and a node that is no voter there
// never stands). So when a leader dies right after promoting a node, a
// survivor that missed the promotion refuses the promoted survivor forever,
// cannot win itself (its configuration's quorum needs the dead leader), and
// there is no leader until the quorum guard re-forms consensus (ReformAfter,
// 10 s). Raft's own rule is to vote whatever one's configuration says; this
// guard restores it for that case: a leaderless node whose log a live peer
// extends (the peer holds our last entry, and more) adopts the peer's
// configuration, as it would have on receiving the missing entries, and
// then votes for it.

// catchUpAfter is how long a node stays leaderless before it compares
// configurations with fresher peers: a few election timeouts.
func (c *Cluster) catchUpAfter() time.Duration {
	if c.cfg.Fast {
		return 600 * time.Millisecond
	}
	return time.Second
}

// peerConfig is the answer to a "config" RPC.
type peerConfig struct {
	Servers []consensus.Server `json:"servers"`
	Term    uint64             `json:"term"`  // last log entry
	Index   uint64             `json:"index"` //
	Extends bool               `json:"extends"`
}

// configReply reports this node's raft configuration and log position, and
// whether its log holds the caller's last entry (term at index).
func (c *Cluster) configReply(term, index uint64) ([]byte, error) {
	var p peerConfig
	p.Servers = c.cons.Servers()
	p.Term, p.Index = c.cons.LastLog()
	t, ok := c.cons.TermAt(index)
	p.Extends = ok && t == term && (p.Term > term || p.Term == term && p.Index > index)
	return json.Marshal(p)
}

// fresher orders logs by last entry: term, then index.
func fresher(term, index, thanTerm, thanIndex uint64) bool {
	return term > thanTerm || term == thanTerm && index > thanIndex
}

// sameServers reports whether two configurations are equal.
func sameServers(a, b []consensus.Server) bool {
	key := func(s consensus.Server) string {
		v := "n"
		if s.Voter {
			v = "v"
		}
		return s.ID + "@" + s.Address + "/" + v
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, s := range a {
		ka[i] = key(s)
	}
	for i, s := range b {
		kb[i] = key(s)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// catchUp adopts the configuration of a live peer of the same raft
// cluster whose log extends ours, when there has been no leader for
// catchUpAfter and that configuration differs from ours. It runs on the
// watch goroutine.
func (c *Cluster) catchUp() {
	c.mu.Lock()
	since, last := c.noLeaderSince, c.lastCatchUp
	c.mu.Unlock()
	wait := c.catchUpAfter()
	if since.IsZero() || time.Since(since) < wait || time.Since(last) < wait || c.cid == "" {
		return
	}
	term, index := c.cons.LastLog()
	mine := c.cons.Servers()
	for _, m := range c.members.Members() {
		if m.ID == c.ID() || m.State != "alive" || m.Meta.CID != c.cid || !fresher(m.Meta.Term, m.Meta.Index, term, index) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b, err := c.call(ctx, m.Address, rpcRequest{Method: "config", Term: term, Index: index}, nil)
		cancel()
		var p peerConfig
		if err != nil || json.Unmarshal(b, &p) != nil {
			continue
		}
		if !p.Extends || sameServers(p.Servers, mine) || !slices.ContainsFunc(p.Servers, func(s consensus.Server) bool { return s.ID == c.ID() }) {
			continue
		}
		if id, _ := c.cons.Leader(); id != "" {
			return // an election settled it meanwhile
		}
		c.mu.Lock()
		c.lastCatchUp = time.Now()
		c.mu.Unlock()
		c.log.Warn("leaderless with a raft configuration a live peer has moved past; adopting the peer's",
			"peer", m.ID, "peer_term", p.Term, "peer_index", p.Index, "term", term, "index", index,
			"servers", p.Servers, "mine", mine)
		if err := c.cons.Adopt(p.Servers); err != nil {
			c.log.Error("adopt a peer's raft configuration", "err", err)
		}
		return
	}
}
