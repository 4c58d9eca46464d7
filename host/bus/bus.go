package bus

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

// Message is one message as delivered to a subscriber. Data is shared by all
// subscribers and must not be modified.
type Message struct {
	Topic string
	Seq   uint64
	Flags uint32 // abi.MsgRetained, abi.MsgLatest
	Data  []byte
}

// Subscriber receives messages. Implementations must be safe for concurrent
// use; the bus calls them from publishers' goroutines.
type Subscriber interface {
	// Enqueue puts a queue-topic message on the subscriber's queue, waiting
	// up to wait for room; it reports false if the queue stayed full.
	Enqueue(m Message, wait time.Duration) bool
	// Notify tells the subscriber that latest topic t has a new value. It
	// must not block; the subscriber reads t.Value() when it gets to it.
	// retained is set for the notification sent on subscribing.
	Notify(t *Topic, retained bool)
}

// DefaultWait is the default backpressure wait of a publisher.
const DefaultWait = time.Second

// Bus is one node's set of topics and subscriptions.
type Bus struct {
	// ClusterScope enables cluster-scoped topics (set by the collective).
	ClusterScope bool
	// Replicate, if set, is called with every value published locally on a
	// cluster-scoped topic, for the collective to spread (not for values
	// that arrived from other nodes through [Bus.Apply]).
	Replicate func(topic string, data []byte)

	mu     sync.RWMutex
	topics map[string]*Topic
	subs   map[Subscriber]*subState
	gen    atomic.Uint64 // bumped on every subscription change

	published, delivered, dropped atomic.Uint64
}

type pattern struct {
	name   string
	prefix bool
}

func (p pattern) match(topic string) bool {
	if p.prefix {
		return strings.HasPrefix(topic, p.name)
	}
	return topic == p.name
}

type subState struct {
	patterns []pattern
	dropped  atomic.Uint64
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{topics: map[string]*Topic{}, subs: map[Subscriber]*subState{}}
}

// Topic is one named topic.
type Topic struct {
	Name  string
	Kind  uint32 // abi.KindQueue or abi.KindLatest
	Scope uint32 // abi.ScopeLocal or abi.ScopeCluster

	mu       sync.Mutex
	seq      uint64
	value    []byte
	hasValue bool
	gen      uint64   // bus generation of targets
	targets  []target // cached matching subscribers

	published, delivered, dropped atomic.Uint64
}

type target struct {
	sub Subscriber
	st  *subState
}

// Value returns the topic's last value and its sequence number.
func (t *Topic) Value() ([]byte, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.value, t.seq, t.hasValue
}

// ValidName reports whether name is a valid topic name.
func ValidName(name string) abi.Errno {
	switch {
	case name == "":
		return abi.EINVAL
	case len(name) > abi.MaxTopicLen:
		return abi.ENAMETOOLONG
	case strings.IndexByte(name, 0) >= 0:
		return abi.EINVAL
	}
	return abi.OK
}

// Declare creates a topic or checks that the existing one matches.
func (b *Bus) Declare(name string, kind, scope uint32) (*Topic, abi.Errno) {
	if e := ValidName(name); e != abi.OK {
		return nil, e
	}
	if kind != abi.KindQueue && kind != abi.KindLatest || scope > abi.ScopeCluster {
		return nil, abi.EINVAL
	}
	if scope == abi.ScopeCluster && (!b.ClusterScope || kind != abi.KindLatest) {
		return nil, abi.ENOTSUP // cluster topics are latest-value topics, and need a cluster
	}
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		b.mu.Lock()
		if t = b.topics[name]; t == nil {
			t = &Topic{Name: name, Kind: kind, Scope: scope}
			b.topics[name] = t
		}
		b.mu.Unlock()
	}
	if t.Kind != kind || t.Scope != scope {
		return t, abi.EKIND
	}
	return t, abi.OK
}

func (b *Bus) lookup(name string, kind uint32) (*Topic, abi.Errno) {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t != nil {
		if kind != abi.KindAny && t.Kind != kind {
			return t, abi.EKIND
		}
		return t, abi.OK
	}
	if kind == abi.KindAny {
		kind = abi.KindQueue
	}
	return b.Declare(name, kind, abi.ScopeLocal)
}

// Publish sends data on a topic, creating it with kind (KindAny: a queue) if
// needed. For queue topics each subscriber's copy waits up to wait for room,
// except the publisher's own (self, may be nil), which never waits: waiting
// on one's own queue would deadlock. EAGAIN means some copies were dropped and
// counted. data must not be modified afterwards.
func (b *Bus) Publish(self Subscriber, name string, data []byte, kind uint32, wait time.Duration) (uint64, abi.Errno) {
	if e := ValidName(name); e != abi.OK {
		return 0, e
	}
	if len(data) > abi.MaxPayload {
		return 0, abi.EMSGSIZE
	}
	t, e := b.lookup(name, kind)
	if e != abi.OK {
		return 0, e
	}
	if t.Scope == abi.ScopeCluster && b.Replicate != nil {
		b.Replicate(name, data)
	}
	seq, targets := b.store(t, data)
	if t.Kind == abi.KindLatest {
		b.notify(t, targets)
		return seq, abi.OK
	}

	m := Message{Topic: name, Seq: seq, Data: data}
	var full []target
	dropped := 0
	for _, tg := range targets {
		switch {
		case tg.sub.Enqueue(m, 0):
			b.deliver(t)
		case tg.sub == self:
			b.drop(t, tg)
			dropped++
		default:
			full = append(full, tg)
		}
	}
	deadline := time.Now().Add(wait)
	for _, tg := range full {
		if tg.sub.Enqueue(m, max(time.Until(deadline), 0)) {
			b.deliver(t)
		} else {
			b.drop(t, tg)
			dropped++
		}
	}
	if dropped > 0 {
		return seq, abi.EAGAIN
	}
	return seq, abi.OK
}

// store sets a topic's value and returns its sequence number and targets.
func (b *Bus) store(t *Topic, data []byte) (uint64, []target) {
	t.mu.Lock()
	t.seq++
	seq := t.seq
	t.value, t.hasValue = data, true
	targets := b.targetsLocked(t)
	t.mu.Unlock()
	t.published.Add(1)
	b.published.Add(1)
	return seq, targets
}

func (b *Bus) notify(t *Topic, targets []target) {
	for _, tg := range targets {
		tg.sub.Notify(t, false)
	}
	t.delivered.Add(uint64(len(targets)))
	b.delivered.Add(uint64(len(targets)))
}

// Apply sets a cluster topic to a value that arrived from another node and
// notifies local subscribers; it is not replicated again.
func (b *Bus) Apply(name string, data []byte) abi.Errno {
	t, e := b.Declare(name, abi.KindLatest, abi.ScopeCluster)
	if e != abi.OK {
		return e
	}
	_, targets := b.store(t, data)
	b.notify(t, targets)
	return abi.OK
}

func (b *Bus) deliver(t *Topic) {
	t.delivered.Add(1)
	b.delivered.Add(1)
}

func (b *Bus) drop(t *Topic, tg target) {
	t.dropped.Add(1)
	tg.st.dropped.Add(1)
	b.dropped.Add(1)
}

// targetsLocked returns the subscribers matching t, rebuilding the cache
// when subscriptions changed. t.mu is held.
func (b *Bus) targetsLocked(t *Topic) []target {
	g := b.gen.Load()
	if t.gen == g && t.targets != nil {
		return t.targets
	}
	b.mu.RLock()
	tg := b.matchLocked(t.Name)
	b.mu.RUnlock()
	t.targets, t.gen = tg, g
	return tg
}

// matchLocked lists subscribers with a pattern matching name; b.mu is held.
func (b *Bus) matchLocked(name string) []target {
	tg := []target{}
	for s, st := range b.subs {
		for _, p := range st.patterns {
			if p.match(name) {
				tg = append(tg, target{s, st})
				break
			}
		}
	}
	return tg
}

// Subscribe adds a subscription (prefix: name is a prefix). It is a no-op if
// it exists. Matching latest topics that have a value notify the subscriber
// at once, flagged retained.
func (b *Bus) Subscribe(s Subscriber, name string, prefix bool) abi.Errno {
	if e := ValidName(name); e != abi.OK {
		return e
	}
	p := pattern{name, prefix}
	b.mu.Lock()
	st := b.subs[s]
	if st == nil {
		st = &subState{}
		b.subs[s] = st
	}
	for _, q := range st.patterns {
		if q == p {
			b.mu.Unlock()
			return abi.OK
		}
	}
	if len(st.patterns) >= abi.MaxSubs {
		b.mu.Unlock()
		return abi.ENOMEM
	}
	st.patterns = append(st.patterns, p)
	b.gen.Add(1)
	var retained []*Topic
	for _, t := range b.topics {
		if t.Kind == abi.KindLatest && p.match(t.Name) {
			retained = append(retained, t)
		}
	}
	b.mu.Unlock()
	sort.Slice(retained, func(i, j int) bool { return retained[i].Name < retained[j].Name })
	for _, t := range retained {
		if _, _, ok := t.Value(); ok {
			s.Notify(t, true)
		}
	}
	return abi.OK
}

// Unsubscribe removes one subscription; ENOENT if it does not exist.
func (b *Bus) Unsubscribe(s Subscriber, name string, prefix bool) abi.Errno {
	p := pattern{name, prefix}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.subs[s]
	if st == nil {
		return abi.ENOENT
	}
	for i, q := range st.patterns {
		if q == p {
			st.patterns = append(st.patterns[:i], st.patterns[i+1:]...)
			b.gen.Add(1)
			return abi.OK
		}
	}
	return abi.ENOENT
}

// Subscription is one (name, prefix) pair of a subscriber.
type Subscription struct {
	Name   string `json:"name"`
	Prefix bool   `json:"prefix,omitempty"`
}

// Subscriptions lists a subscriber's subscriptions.
func (b *Bus) Subscriptions(s Subscriber) []Subscription {
	b.mu.RLock()
	defer b.mu.RUnlock()
	st := b.subs[s]
	if st == nil {
		return nil
	}
	out := make([]Subscription, len(st.patterns))
	for i, p := range st.patterns {
		out[i] = Subscription{p.name, p.prefix}
	}
	return out
}

// Retain keeps exactly the given subscriptions of s: those missing are
// added (with retained notifications), the others removed. It is how a new
// instance's declarations replace the old one's at hot swap.
func (b *Bus) Retain(s Subscriber, keep []Subscription) abi.Errno {
	want := map[pattern]bool{}
	for _, k := range keep {
		want[pattern{k.Name, k.Prefix}] = true
	}
	for _, have := range b.Subscriptions(s) {
		p := pattern{have.Name, have.Prefix}
		if want[p] {
			delete(want, p)
		} else {
			b.Unsubscribe(s, p.name, p.prefix)
		}
	}
	for _, k := range keep {
		if want[pattern{k.Name, k.Prefix}] {
			if e := b.Subscribe(s, k.Name, k.Prefix); e != abi.OK {
				return e
			}
		}
	}
	return abi.OK
}

// Remove drops every subscription of s.
func (b *Bus) Remove(s Subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.gen.Add(1)
	b.mu.Unlock()
}

// Dropped reports how many copies for s were dropped.
func (b *Bus) Dropped(s Subscriber) uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if st := b.subs[s]; st != nil {
		return st.dropped.Load()
	}
	return 0
}

// Get returns a topic's last value: the retained value of a latest topic, or
// the last message of a queue topic.
func (b *Bus) Get(name string) ([]byte, uint64, abi.Errno) {
	if e := ValidName(name); e != abi.OK {
		return nil, 0, e
	}
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		return nil, 0, abi.ENOENT
	}
	v, seq, ok := t.Value()
	if !ok {
		return nil, 0, abi.ENOENT
	}
	return v, seq, abi.OK
}

// TopicStatus is one topic's row in status.
type TopicStatus struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Scope       string `json:"scope"`
	Seq         uint64 `json:"seq"`
	Published   uint64 `json:"published"`
	Delivered   uint64 `json:"delivered"`
	Dropped     uint64 `json:"dropped"`
	Subscribers int    `json:"subscribers"`
	Size        int    `json:"size"`
}

// KindName names a topic kind.
func KindName(k uint32) string {
	if k == abi.KindLatest {
		return "latest"
	}
	return "queue"
}

// ScopeName names a topic scope.
func ScopeName(s uint32) string {
	if s == abi.ScopeCluster {
		return "cluster"
	}
	return "local"
}

// Topics lists every topic, sorted by name.
func (b *Bus) Topics() []TopicStatus {
	b.mu.RLock()
	ts := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		ts = append(ts, t)
	}
	b.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	out := make([]TopicStatus, len(ts))
	for i, t := range ts {
		t.mu.Lock()
		n := len(b.targetsLocked(t))
		out[i] = TopicStatus{Name: t.Name, Kind: KindName(t.Kind), Scope: ScopeName(t.Scope), Seq: t.seq,
			Published: t.published.Load(), Delivered: t.delivered.Load(), Dropped: t.dropped.Load(),
			Subscribers: n, Size: len(t.value)}
		t.mu.Unlock()
	}
	return out
}

// Totals are bus-wide counters.
type Totals struct {
	Topics    int    `json:"topics"`
	Published uint64 `json:"published"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
}

// Totals returns the bus-wide counters.
func (b *Bus) Totals() Totals {
	b.mu.RLock()
	n := len(b.topics)
	b.mu.RUnlock()
	return Totals{n, b.published.Load(), b.delivered.Load(), b.dropped.Load()}
}

// Renotify sends s a retained notification for every latest topic with a
// value that its subscriptions match (after s lost its state).
func (b *Bus) Renotify(s Subscriber) {
	b.mu.RLock()
	st := b.subs[s]
	var ts []*Topic
	if st != nil {
		for _, t := range b.topics {
			if t.Kind != abi.KindLatest {
				continue
			}
			for _, p := range st.patterns {
				if p.match(t.Name) {
					ts = append(ts, t)
					break
				}
			}
		}
	}
	b.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	for _, t := range ts {
		if _, _, ok := t.Value(); ok {
			s.Notify(t, true)
		}
	}
}
