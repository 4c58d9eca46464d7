package replica

import (
	"cmp"
	"slices"
	"strings"
)

// leafMax is the largest range a side lists instead of splitting it further.
// A listed item costs 17 bytes plus the topic name, a split about 150 (16
// child digests) and a round trip, so small ranges are cheaper listed;
// BenchmarkRound finds 8..16 best for 10^4..10^5 topics.
const leafMax = 16

// StartRound begins an anti-entropy round with a peer: it returns the root
// digest (256 bucket digests, about 2.3 KiB whatever the store's size) to
// send it. The round goes on by passing each message the peer answers to
// [Store.Handle], and so on both ways, until a side has nothing to answer.
func (s *Store) StartRound() Message {
	return Message{Sums: []Sum{s.Digest()}}
}

// Digest returns the root digest of the store: for each of 256 buckets of
// topics, the XOR of its entries' fingerprints and their count. Two stores
// with the same entries have the same digest; it costs O(256), the bucket
// digests being kept up to date by every change.
func (s *Store) Digest() Sum { return s.sum(0, 0) }

// Handle applies a message from a peer and returns the messages to send it
// back (none when the round is over on this side) and the entries that
// changed here, in the order they were applied, for local delivery as new
// values or deletions.
//
// Handle keeps no per-peer or per-round state: each message is answered from
// what it carries and the store's current contents, so a lost or repeated
// message costs bandwidth, never correctness, and the next round repairs it.
func (s *Store) Handle(m Message) (replies []Message, changed []Entry, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	for _, e := range m.Entries {
		if s.merge(e) {
			changed = append(changed, e)
		}
	}
	p := newPacker(s.cfg.MaxMessage)
	for _, t := range m.Wants {
		if r := s.recs[t]; r != nil {
			p.entry(r.Entry)
		}
	}
	for _, sm := range m.Sums {
		s.answerSum(sm, p)
	}
	for _, l := range m.Lists {
		s.answerList(l, p)
	}
	return p.finish(), changed, nil
}

// answerSum compares a peer's digest of one range with ours, child by child,
// and for each child that differs sends what moves the round on: our entries
// if the peer has none there, an empty listing (asking for all of theirs) if
// we have none, our listing if the child is small, else its digest one level
// down.
func (s *Store) answerSum(peer Sum, p *packer) {
	mine := s.sum(peer.Bits, peer.Prefix)
	cb := childBits(peer.Bits)
	for i, rc := range peer.Children {
		lc := mine.Children[i]
		if lc == rc {
			continue
		}
		cp := peer.Prefix | uint64(i)<<(64-cb)
		switch {
		case rc.Count == 0:
			for _, r := range s.under(cb, cp) {
				p.entry(r.Entry)
			}
		case lc.Count == 0:
			p.list(List{Bits: cb, Prefix: cp})
		case lc.Count <= leafMax || cb > 60:
			p.list(s.list(cb, cp))
		default:
			p.sum(s.sum(cb, cp))
		}
	}
}

// answerList reconciles a peer's listing of one range with our records in
// it: we send the entries the peer lacks or holds older, and want those we
// lack or hold older. After this both sides hold the newer entry of every
// topic in the range.
func (s *Store) answerList(peer List, p *packer) {
	theirs := make(map[string]Item, len(peer.Items))
	for _, it := range peer.Items {
		if old, ok := theirs[it.Topic]; !ok || compareItem(it, old) > 0 {
			theirs[it.Topic] = it
		}
	}
	for _, r := range s.under(peer.Bits, peer.Prefix) {
		it, ok := theirs[r.Topic]
		delete(theirs, r.Topic)
		s.reconcile(r, it, ok, p)
	}
	// Listed topics we did not find in the range: outside it (a confused
	// peer) or unknown here.
	for _, it := range peer.Items {
		if _, ok := theirs[it.Topic]; !ok {
			continue
		}
		delete(theirs, it.Topic)
		if r := s.recs[it.Topic]; r != nil {
			s.reconcile(r, it, true, p)
		} else {
			p.want(it.Topic)
		}
	}
}

// reconcile sends or wants one topic, whichever side is older.
func (s *Store) reconcile(r *record, it Item, listed bool, p *packer) {
	switch c := compareItem(r.item(), it); {
	case !listed || c > 0:
		p.entry(r.Entry)
	case c < 0:
		p.want(r.Topic)
	}
}

// compareItem orders listed entries the way Merge does, with the content sum
// cut to 8 bytes (equal 8-byte prefixes of different sums, 2^-64 per pair,
// would hide a difference; Merge itself compares all 32 bytes).
func compareItem(a, b Item) int {
	if c := a.Version.Compare(b.Version); c != 0 {
		return c
	}
	return cmp.Compare(a.Sum, b.Sum)
}

func (r *record) item() Item { return Item{Topic: r.Topic, Version: r.Version, Sum: sum8(r.sum)} }

// sum returns our digest of one range, split into its children.
func (s *Store) sum(bits uint8, prefix uint64) Sum {
	out := Sum{Bits: bits, Prefix: prefix, Children: make([]Child, fanout(bits))}
	if bits == 0 {
		for i := range s.buckets {
			b := &s.buckets[i]
			out.Children[i] = Child{Hash: b.hash, Count: uint64(len(b.recs))}
		}
		return out
	}
	shift := 64 - childBits(bits)
	for _, r := range s.buckets[prefix>>56].recs {
		if under(r.key, bits, prefix) {
			c := &out.Children[(r.key>>shift)&0xf]
			c.Hash ^= r.fp
			c.Count++
		}
	}
	return out
}

// list returns our listing of one range.
func (s *Store) list(bits uint8, prefix uint64) List {
	rs := s.under(bits, prefix)
	l := List{Bits: bits, Prefix: prefix, Items: make([]Item, len(rs))}
	for i, r := range rs {
		l.Items[i] = r.item()
	}
	return l
}

// under returns our records in one range, sorted by topic so that what we
// send does not depend on the order records were stored in.
func (s *Store) under(bits uint8, prefix uint64) []*record {
	var out []*record
	if bits == 0 {
		for i := range s.buckets {
			out = append(out, s.buckets[i].recs...)
		}
	} else {
		for _, r := range s.buckets[prefix>>56].recs {
			if under(r.key, bits, prefix) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// under reports whether key lies in the range of the bits-bit prefix.
func under(key uint64, bits uint8, prefix uint64) bool {
	if bits == 0 {
		return true
	}
	shift := 64 - bits
	return key>>shift == prefix>>shift
}
