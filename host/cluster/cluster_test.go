package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/zeebo/blake3"
)

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

func open(t *testing.T, ctx context.Context, join []string, token string, fetch func(string) ([]byte, error)) (*Cluster, error) {
	t.Helper()
	c, err := Open(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Join: join, Token: token,
		Identity: newKey(), Fast: true, Fetch: fetch})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestThreeNodes: a first node, two joiners with its token over real QUIC;
// membership, voters, a write forwarded from a follower, module bytes
// fetched by hash and verified; a wrong token is refused.
func TestThreeNodes(t *testing.T) {
	ctx := context.Background()
	blob := []byte("module bytes")
	sum := blake3.Sum256(blob)
	hash := fmt.Sprintf("%x", sum[:])
	fetch := func(h string) ([]byte, error) {
		if h == hash {
			return blob, nil
		}
		return nil, fmt.Errorf("no module %.12s here", h)
	}
	a, err := open(t, ctx, nil, "", fetch)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	b, err := open(t, ctx, []string{a.Addr()}, a.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := open(t, ctx, []string{b.Addr()}, a.Token(), nil) // via a non-leader seed
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Cluster{a, b, c}
	for _, n := range nodes {
		eventually(t, 10*time.Second, n.ID()+" sees 3 alive", func() bool { return len(n.Alive()) == 3 })
	}
	eventually(t, 10*time.Second, "3 voters", func() bool { return a.Info().Consensus.Voters == 3 })
	cmd := manifest.Command{Op: manifest.OpDeploy, Name: "vital", Version: strings.Repeat("a", 64), Clock: manifest.Clock{Wall: 1, Node: c.ID()}}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Propose(wctx, cmd); err != nil {
		t.Fatalf("propose from a follower: %v", err)
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, n.ID()+" to apply", func() bool { return n.Manifest().Modules["vital"] != nil })
	}
	got, err := c.FetchModule(wctx, hash)
	if err != nil || string(got) != string(blob) {
		t.Fatalf("fetch = %q, %v", got, err)
	}
	if _, err := c.FetchModule(wctx, strings.Repeat("0", 64)); err == nil {
		t.Fatal("fetch of a module nobody has succeeded")
	}
	info := b.Info()
	if info.Leader != a.ID() || len(info.Members) != 3 {
		t.Fatalf("info %+v", info)
	}

	// A stranger with another cluster's token cannot join.
	other, err := open(t, ctx, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := open(t, sctx, []string{a.Addr()}, other.Token(), nil); err == nil {
		t.Fatal("a node with the wrong token joined")
	}
	if len(a.Alive()) != 3 {
		t.Fatalf("the stranger got into the membership: %v", a.Alive())
	}
}
