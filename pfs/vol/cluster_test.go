package vol

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
)

// testNet is an in-process cluster: named nodes with stores that can be
// killed (every call fails), replaced or made to fail after a number of
// puts.
type testNet struct {
	mu    sync.Mutex
	order []string
	nodes map[string]*testNode
	gets  map[cid.ID]int // Get calls per block id, on any node
}

type testNode struct {
	store     blockstore.Store
	dead      bool
	failAfter int // puts left before Put fails; < 0: never
}

var errDead = errors.New("test: node is dead")

func newTestNet(n int) *testNet {
	t := &testNet{nodes: map[string]*testNode{}, gets: map[cid.ID]int{}}
	for i := range n {
		t.add(fmt.Sprintf("n%d", i), blockstore.NewMem())
	}
	return t
}

func (t *testNet) add(name string, st blockstore.Store) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.order = append(t.order, name)
	t.nodes[name] = &testNode{store: st, failAfter: -1}
}

func (t *testNet) kill(names ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range names {
		t.nodes[n].dead = true
	}
}

// revive brings a node back, with an empty store when fresh (a replaced
// disk).
func (t *testNet) revive(name string, fresh bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[name]
	n.dead = false
	if fresh {
		n.store = blockstore.NewMem()
	}
}

// getsOf returns how many Gets asked for any of ids since the last call
// for them, and resets their counts.
func (t *testNet) getsOf(ids ...cid.ID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += t.gets[id]
		delete(t.gets, id)
	}
	return n
}

func (t *testNet) failAfter(name string, puts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nodes[name].failAfter = puts
}

func (t *testNet) mem(name string) *blockstore.Mem {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodes[name].store.(*blockstore.Mem)
}

func (t *testNet) live() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, n := range t.order {
		if !t.nodes[n].dead {
			out = append(out, n)
		}
	}
	return out
}

// blocks counts the blocks on every node, dead ones included.
func (t *testNet) blocks() int {
	total := 0
	for _, n := range t.order {
		st := t.nodes[n].store
		_ = st.Walk(context.Background(), func(cid.ID, int64) error { total++; return nil })
	}
	return total
}

// view is the Cluster one node sees.
type view struct {
	net  *testNet
	self string
}

func (v view) Self() string   { return v.self }
func (v view) Live() []string { return v.net.live() }
func (v view) Store(node string) blockstore.Store {
	return nodeStore{v.net, node}
}

// nodeStore checks the node's state on every call, as a remote store over
// a mesh would fail once the peer is gone.
type nodeStore struct {
	net  *testNet
	name string
}

func (s nodeStore) get() (blockstore.Store, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	n, ok := s.net.nodes[s.name]
	if !ok || n.dead {
		return nil, fmt.Errorf("%w: %s", errDead, s.name)
	}
	return n.store, nil
}

func (s nodeStore) Put(ctx context.Context, id cid.ID, data []byte) error {
	s.net.mu.Lock()
	n := s.net.nodes[s.name]
	if n != nil && n.failAfter == 0 {
		s.net.mu.Unlock()
		return fmt.Errorf("test: %s: disk full", s.name)
	}
	if n != nil && n.failAfter > 0 {
		n.failAfter--
	}
	s.net.mu.Unlock()
	st, err := s.get()
	if err != nil {
		return err
	}
	return st.Put(ctx, id, data)
}

func (s nodeStore) Get(ctx context.Context, id cid.ID) ([]byte, error) {
	s.net.mu.Lock()
	s.net.gets[id]++
	s.net.mu.Unlock()
	st, err := s.get()
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, id)
}

func (s nodeStore) Has(ctx context.Context, id cid.ID) (bool, error) {
	st, err := s.get()
	if err != nil {
		return false, err
	}
	return st.Has(ctx, id)
}

func (s nodeStore) Delete(ctx context.Context, id cid.ID) error {
	st, err := s.get()
	if err != nil {
		return err
	}
	return st.Delete(ctx, id)
}

func (s nodeStore) Walk(ctx context.Context, fn func(cid.ID, int64) error) error {
	st, err := s.get()
	if err != nil {
		return err
	}
	return st.Walk(ctx, fn)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testEnv struct {
	net   *testNet
	names *MemNames
	clock *fakeClock
}

func newEnv(n int) *testEnv {
	return &testEnv{net: newTestNet(n), names: &MemNames{}, clock: &fakeClock{t: time.Unix(1_800_000_000, 0)}}
}

// volume opens a volume on node self with RS(k, m) (0, 0: adaptive) and
// fixed chunks of size bytes.
func (e *testEnv) volume(t testing.TB, self string, k, m, size int) *Volume {
	t.Helper()
	v, err := Open(Config{
		Cluster:  view{e.net, self},
		Names:    e.names,
		Policy:   erasure.Policy{K: k, M: m},
		Splitter: chunk.Fixed(size),
		Fanout:   8, // small, so that files of a few chunks make trees
		Now:      e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}
