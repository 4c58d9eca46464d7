package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"
)

// MaxTopicLen is the longest topic name, the same bound as the bus
// (abi.MaxTopicLen); this package does not import abi.
const MaxTopicLen = 255

// Defaults for the zero fields of [Config].
const (
	DefaultTombstoneTTL  = 10 * time.Minute
	DefaultMaxTombstones = 100_000
	DefaultMaxMessage    = 1 << 20
)

// ErrInvalidTopic is returned for an empty or oversized topic name.
var ErrInvalidTopic = errors.New("invalid topic")

// Config sets up a [Store]. Zero fields take the defaults above.
type Config struct {
	// Node is this node's id, stamped into every local version. Required.
	Node string
	// TombstoneTTL is how long a tombstone is kept after the delete's
	// physical time (its version's Wall). See [Store.GC] for what it bounds.
	TombstoneTTL time.Duration
	// MaxTombstones caps the tombstones kept; beyond it GC drops the oldest
	// early.
	MaxTombstones int
	// MaxMessage is the largest message the protocol builds, in encoded
	// bytes. An item larger than that (a big value) travels alone.
	MaxMessage int
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Node == "" || len(c.Node) > MaxNodeLen {
		return c, fmt.Errorf("config: node id of %d bytes, want 1..%d", len(c.Node), MaxNodeLen)
	}
	if c.TombstoneTTL < 0 || c.MaxTombstones < 0 || c.MaxMessage < 0 {
		return c, errors.New("config: negative limit")
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = DefaultTombstoneTTL
	}
	if c.MaxTombstones == 0 {
		c.MaxTombstones = DefaultMaxTombstones
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	return c, nil
}

// Entry is the latest value of one topic, or its tombstone.
//
// Value is shared, never copied, between the store, its callers and the
// messages it builds: nobody may modify it after handing it over.
type Entry struct {
	Topic   string
	Value   []byte // nil for a tombstone
	Version HLC    // who wrote it, and when
	Deleted bool   // a tombstone: the topic was deleted at Version
}

// validate checks an entry that came from outside.
func (e Entry) validate() error {
	if err := validTopic(e.Topic); err != nil {
		return err
	}
	if err := e.Version.validate(); err != nil {
		return err
	}
	if e.Deleted && len(e.Value) != 0 {
		return errors.New("tombstone with a value")
	}
	return nil
}

// validTopic checks a topic name's length.
func validTopic(t string) error {
	if t == "" || len(t) > MaxTopicLen {
		return fmt.Errorf("%w: %d bytes, want 1..%d", ErrInvalidTopic, len(t), MaxTopicLen)
	}
	return nil
}

// record is an entry with the hashes the protocol needs, computed once.
type record struct {
	Entry
	key  uint64   // BLAKE3(topic), first 8 bytes: places the topic in the digest tree
	sum  [32]byte // BLAKE3(deleted flag, value): the content tie-break
	fp   uint64   // fingerprint of (topic, version, sum), XORed into digests
	slot int      // index in its bucket's slice
}

func newRecord(e Entry, sum [32]byte) *record {
	r := &record{Entry: e, key: topicKey(e.Topic), sum: sum}
	r.fp = fingerprint(e.Topic, e.Version, sum)
	return r
}

// topicKey hashes a topic to its place in the digest tree. Hashing spreads
// topics evenly over buckets whatever their names look like.
func topicKey(topic string) uint64 {
	h := blake3.Sum256([]byte(topic))
	return binary.BigEndian.Uint64(h[:8])
}

// contentSum hashes what a version carries. It breaks ties between equal
// versions with different content (a node that restarted with its clock
// behind can stamp one version twice), so that all nodes pick the same one.
func contentSum(deleted bool, value []byte) [32]byte {
	h := blake3.New()
	flag := []byte{0}
	if deleted {
		flag[0] = 1
	}
	h.Write(flag)
	h.Write(value)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// fingerprint identifies one (topic, version, content) triple in 64 bits.
// Digests XOR fingerprints, so adding or removing a record updates them in
// O(1), and two stores with the same records have the same digests.
func fingerprint(topic string, v HLC, sum [32]byte) uint64 {
	b := make([]byte, 0, 1+len(topic)+hlcFixed+len(v.Node)+len(sum))
	b = append(b, byte(len(topic)))
	b = append(b, topic...)
	b, _ = v.AppendBinary(b)
	b = append(b, sum[:]...)
	h := blake3.Sum256(b)
	return binary.LittleEndian.Uint64(h[:8])
}

// sum8 is the part of a content sum that listings carry.
func sum8(sum [32]byte) uint64 { return binary.BigEndian.Uint64(sum[:8]) }

// bucket holds the records whose key starts with one byte, and their digest.
type bucket struct {
	recs []*record
	hash uint64 // XOR of the records' fingerprints
}

// Store is the replicated latest-value state of the cluster topics on one
// node: topic → [Entry], last writer wins by version.
//
// A Store is a synchronous state machine: it never blocks, starts no
// goroutine and does no I/O; time comes in as arguments. It is not safe for
// concurrent use (see [Locked]).
type Store struct {
	cfg     Config
	clock   Clock
	recs    map[string]*record
	buckets [256]bucket
	tombs   int
	// horizon is the newest version GC has collected up to: tombstones at
	// or below it are gone here, and incoming ones are not kept again.
	horizon HLC
}

// NewStore returns an empty store.
func NewStore(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, clock: Clock{node: cfg.Node}, recs: make(map[string]*record)}, nil
}

// Config returns the store's configuration with defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// Set writes value to topic with a new version and returns the entry. The
// store keeps its own copy of value.
func (s *Store) Set(topic string, value []byte, now time.Time) (Entry, error) {
	if err := validTopic(topic); err != nil {
		return Entry{}, err
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	return s.stamp(Entry{Topic: topic, Value: v}, now), nil
}

// Delete writes a tombstone for topic with a new version and returns it. A
// tombstone is written even when the topic is unknown here: it still hides
// older writes that other nodes hold and this one has not seen yet.
func (s *Store) Delete(topic string, now time.Time) (Entry, error) {
	if err := validTopic(topic); err != nil {
		return Entry{}, err
	}
	return s.stamp(Entry{Topic: topic, Deleted: true}, now), nil
}

// stamp versions a local write. The clock has observed every version in the
// store, so the new one is newer than the topic's current entry.
func (s *Store) stamp(e Entry, now time.Time) Entry {
	e.Version = s.clock.Now(now)
	s.put(newRecord(e, contentSum(e.Deleted, e.Value)))
	return e
}

// Get returns the entry of topic, which may be a tombstone (check Deleted).
func (s *Store) Get(topic string) (Entry, bool) {
	r, ok := s.recs[topic]
	if !ok {
		return Entry{}, false
	}
	return r.Entry, true
}

// Len returns the number of entries, tombstones included.
func (s *Store) Len() int { return len(s.recs) }

// Tombstones returns the number of tombstones kept.
func (s *Store) Tombstones() int { return s.tombs }

// Entries returns every entry, tombstones included, sorted by topic.
func (s *Store) Entries() []Entry {
	out := make([]Entry, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, r.Entry)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Merge applies an entry received from another node, last writer wins: it
// replaces the local entry when its version is greater, or, for equal
// versions, when its content sum is greater. It reports whether the local
// state changed, so that the caller can deliver the entry as a new value (or
// a deletion). A tombstone that hides nothing visible here (no entry, or an
// older tombstone) is a change too: the caller may find nothing to delete.
// Merge takes ownership of e.Value.
//
// A tombstone at or below the GC horizon (see [Store.GC]) still deletes an
// older local value, but is not kept.
func (s *Store) Merge(e Entry) (bool, error) {
	if err := e.validate(); err != nil {
		return false, err
	}
	return s.merge(e), nil
}

func (s *Store) merge(e Entry) bool {
	// Observing every version, applied or not, keeps later local writes
	// newer than anything this node has seen.
	s.clock.Update(e.Version)
	old := s.recs[e.Topic]
	var sum [32]byte
	if old != nil {
		c := e.Version.Compare(old.Version)
		if c < 0 {
			return false
		}
		// Hash the content only when needed: values can be large.
		sum = contentSum(e.Deleted, e.Value)
		if c == 0 && bytes.Compare(sum[:], old.sum[:]) <= 0 {
			return false
		}
	} else {
		sum = contentSum(e.Deleted, e.Value)
	}
	if e.Deleted && e.Version.Compare(s.horizon) <= 0 {
		if old == nil {
			return false
		}
		s.remove(old)
		return !old.Deleted
	}
	s.put(newRecord(e, sum))
	return true
}

// put stores r, replacing the record of the same topic.
func (s *Store) put(r *record) {
	if old := s.recs[r.Topic]; old != nil {
		s.remove(old)
	}
	b := &s.buckets[r.key>>56]
	r.slot = len(b.recs)
	b.recs = append(b.recs, r)
	b.hash ^= r.fp
	s.recs[r.Topic] = r
	if r.Deleted {
		s.tombs++
	}
}

// remove drops r from the map and its bucket (swap with the last record).
func (s *Store) remove(r *record) {
	b := &s.buckets[r.key>>56]
	last := b.recs[len(b.recs)-1]
	b.recs[r.slot], last.slot = last, r.slot
	b.recs[len(b.recs)-1] = nil
	b.recs = b.recs[:len(b.recs)-1]
	b.hash ^= r.fp
	delete(s.recs, r.Topic)
	if r.Deleted {
		s.tombs--
	}
}

// GC collects tombstones and returns how many it dropped: those whose
// delete happened more than TombstoneTTL before now (by the version's Wall,
// which every node agrees on, so all nodes drop a tombstone at about the same
// time and none sends it back to one that already dropped it), then, while
// more than MaxTombstones remain, the oldest ones by version.
//
// The guarantee this leaves: a delete wins over every write it is newer than
// on every node that hears of it within TombstoneTTL. A node that was
// partitioned away for longer than TombstoneTTL (or that missed a tombstone
// evicted early by MaxTombstones) can bring the deleted topic back: its older
// value meets no tombstone any more and replicates again as if it were new.
// Delete again to remove it.
func (s *Store) GC(now time.Time) int {
	cut := HLC{Wall: now.UnixMilli() - s.cfg.TombstoneTTL.Milliseconds()}
	if cut.Compare(s.horizon) > 0 {
		s.horizon = cut
	}
	if over := s.tombs - s.cfg.MaxTombstones; over > 0 {
		s.raiseHorizon(over)
	}
	dropped := 0
	for i := range s.buckets {
		b := &s.buckets[i]
		// Backwards, because remove moves the last record into the hole.
		for j := len(b.recs) - 1; j >= 0; j-- {
			if r := b.recs[j]; r.Deleted && r.Version.Compare(s.horizon) <= 0 {
				s.remove(r)
				dropped++
			}
		}
	}
	return dropped
}

// raiseHorizon moves the horizon up to the version of the over-th oldest
// tombstone still above it, so that GC drops (at least) that many.
func (s *Store) raiseHorizon(over int) {
	var vs []HLC
	for _, r := range s.recs {
		if r.Deleted && r.Version.Compare(s.horizon) > 0 {
			vs = append(vs, r.Version)
		}
	}
	if over > len(vs) {
		over = len(vs)
	}
	if over == 0 {
		return
	}
	slices.SortFunc(vs, HLC.Compare)
	s.horizon = vs[over-1]
}
