package cluster

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/host/replica"
)

// Cluster topics: latest-value topics replicated to every node by
// anti-entropy (host/replica). A round runs over one mesh stream as turns:
// each turn is zero or more replica frames and an end-of-turn byte; the
// initiator ends the round when a turn in each direction was empty.

const (
	tagFrame byte = 1
	tagTurn  byte = 2 // end of a turn
	tagDone  byte = 3 // the round is over

	maxReplicaFrame = 64 << 20
	maxTurns        = 64
)

// SetTopic records a local write of a cluster topic for replication; it is
// on disk when SetTopic returns.
func (c *Cluster) SetTopic(topic string, value []byte) {
	if err := c.WriteTopic(topic, value); err != nil {
		c.log.Error("cluster topic", "topic", topic, "err", err)
	}
}

// WriteTopic is SetTopic with its error: nil means the value is stored on
// this node's disk and will reach every node.
func (c *Cluster) WriteTopic(topic string, value []byte) error {
	e, err := c.topics.Set(topic, value, time.Now())
	if err != nil {
		return err
	}
	if err := c.topicsDB.save([]replica.Entry{e}); err != nil {
		return err
	}
	// Start a round now rather than at the next tick: a write should
	// leave this node at once (a node killed right after an acknowledged
	// write keeps it on disk, but others should not have to wait for its
	// return).
	select {
	case c.topicKick <- struct{}{}:
	default:
	}
	return nil
}

// TopicsWithPrefix returns the live cluster topics whose names start with
// prefix.
func (c *Cluster) TopicsWithPrefix(prefix string) []replica.Entry {
	var out []replica.Entry
	for _, e := range c.topics.Entries() {
		if !e.Deleted && strings.HasPrefix(e.Topic, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// TopicValue returns a cluster topic's replicated value.
func (c *Cluster) TopicValue(topic string) ([]byte, bool) {
	e, ok := c.topics.Get(topic)
	if !ok || e.Deleted {
		return nil, false
	}
	return e.Value, true
}

// gossipTopics starts an anti-entropy round with a random live peer every
// interval, and collects old tombstones.
func (c *Cluster) gossipTopics(interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		case <-c.topicKick:
		}
		var peers []string
		for _, m := range c.members.Members() {
			if m.ID != c.ID() && m.State == "alive" {
				peers = append(peers, m.Address)
			}
		}
		if len(peers) == 0 {
			continue
		}
		if err := c.topicRound(peers[rand.IntN(len(peers))]); err != nil {
			c.log.Debug("topic round", "err", err)
		}
		if c.topics.GC(time.Now()) > 0 {
			keep := map[string]bool{}
			for _, e := range c.topics.Entries() {
				keep[e.Topic] = true
			}
			if err := c.topicsDB.prune(keep); err != nil {
				c.log.Warn("prune stored topics", "err", err)
			}
		}
	}
}

func writeTurn(w *bufio.Writer, msgs []replica.Message, end byte) error {
	for _, m := range msgs {
		if err := w.WriteByte(tagFrame); err != nil {
			return err
		}
		if err := replica.WriteFrame(w, m); err != nil {
			return err
		}
	}
	if err := w.WriteByte(end); err != nil {
		return err
	}
	return w.Flush()
}

// readTurn reads one turn and answers it; it returns the replies, how many
// messages the turn had, and whether the peer ended the round.
func (c *Cluster) readTurn(r *bufio.Reader) (replies []replica.Message, n int, done bool, err error) {
	for {
		tag, err := r.ReadByte()
		if err != nil {
			return nil, n, false, err
		}
		switch tag {
		case tagTurn:
			return replies, n, false, nil
		case tagDone:
			return replies, n, true, nil
		case tagFrame:
		default:
			return nil, n, false, errors.New("bad replica stream tag")
		}
		m, err := replica.ReadFrame(r, maxReplicaFrame)
		if err != nil {
			return nil, n, false, err
		}
		n++
		out, changed, err := c.topics.Handle(m)
		if err != nil {
			return nil, n, false, err
		}
		replies = append(replies, out...)
		c.deliverTopics(changed)
	}
}

func (c *Cluster) deliverTopics(changed []replica.Entry) {
	if err := c.topicsDB.save(changed); err != nil {
		c.log.Warn("store cluster topics", "err", err) // a peer sends them again
	}
	if c.cfg.TopicChanged == nil {
		return
	}
	for _, e := range changed {
		c.cfg.TopicChanged(e.Topic, e.Value, e.Deleted)
	}
}

// topicRound runs one anti-entropy round as the initiator.
func (c *Cluster) topicRound(addr string) error {
	// Short bounds: rounds run one after the other, and a peer that just
	// vanished must not stall the gossip with everyone else.
	ctx, cancel := contextTimeout(2 * time.Second)
	defer cancel()
	s, err := c.dialAny(ctx, addr, protoReplica)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(s), bufio.NewWriter(s)
	out := []replica.Message{c.topics.StartRound()}
	for turn := 0; turn < maxTurns; turn++ {
		if err := writeTurn(w, out, tagTurn); err != nil {
			return err
		}
		replies, n, _, err := c.readTurn(r)
		if err != nil {
			return err
		}
		if n == 0 && len(replies) == 0 {
			return writeTurn(w, nil, tagDone)
		}
		out = replies
	}
	return writeTurn(w, nil, tagDone)
}

// serveTopics answers a round started by a peer.
func (c *Cluster) serveTopics(s *mesh.Stream) {
	s.SetDeadline(time.Now().Add(30 * time.Second))
	r, w := bufio.NewReader(s), bufio.NewWriter(s)
	for turn := 0; turn < maxTurns+1; turn++ {
		replies, _, done, err := c.readTurn(r)
		if done || err != nil {
			if err != nil && !errors.Is(err, io.EOF) {
				c.log.Debug("topic round", "peer", s.Peer(), "err", err)
			}
			return
		}
		if err := writeTurn(w, replies, tagTurn); err != nil {
			return
		}
	}
}
