package bench

// Helpers of the collective's benchmarks (issue 3): keys, polling, a
// switchboard of cut links for cluster and mesh nodes, membership over the
// mesh (a copy of host/cluster's unexported adapter) and the in-memory
// network of host/member's tests.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/manifest"
)

func clKey() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// clWait polls ok every 5 ms until it holds (true) or d passes (false).
func clWait(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func clMust(tb testing.TB, d time.Duration, what string, ok func() bool) {
	tb.Helper()
	if !clWait(d, ok) {
		tb.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// clSet is a small manifest command of constant size (a setting).
func clSet(i int) manifest.Command {
	return manifest.Command{Op: manifest.OpSet, Key: "bench", Value: strconv.Itoa(i),
		Clock: manifest.Clock{Wall: time.Now().UnixMilli(), Node: "bench"}}
}

// cutoff drops all traffic to and from the ports marked dead: a node that
// vanishes without a word (a crash, a pulled cable).
type cutoff struct {
	mu   sync.Mutex
	dead map[string]bool // port
}

func newCutoff() *cutoff { return &cutoff{dead: map[string]bool{}} }

func port(a string) string { _, p, _ := net.SplitHostPort(a); return p }

// filter is the mesh filter of the node whose address *self will hold.
func (c *cutoff) filter(self *string) func(net.Addr) bool {
	return func(a net.Addr) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.dead[port(a.String())] && !c.dead[port(*self)]
	}
}

func (c *cutoff) kill(addr string) {
	c.mu.Lock()
	c.dead[port(addr)] = true
	c.mu.Unlock()
}

// Stream protocols of the benchmarks' own meshes.
const (
	clProtoRaft   byte = 1
	clProtoGossip byte = 2
	clProtoBig    byte = 3
	clProtoEcho   byte = 4
	clProtoPing   byte = 5
)

// clHub is host/member's in-memory test network: packets and net.Pipe
// streams between fake endpoints.
type clHub struct {
	mu    sync.Mutex
	nodes map[string]*clFakeNet
}

type clFakeNet struct {
	h        *clHub
	addr     *net.UDPAddr
	onPacket func(net.Addr, []byte)
	onStream func(net.Conn)
}

func newHub() *clHub { return &clHub{nodes: map[string]*clFakeNet{}} }

func (h *clHub) add(port int) *clFakeNet {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := &clFakeNet{h: h, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	h.nodes[n.addr.String()] = n
	return n
}

func (h *clHub) peer(addr string) (*clFakeNet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.nodes[addr]
	if p == nil {
		return nil, errors.New("unreachable")
	}
	return p, nil
}

func (n *clFakeNet) Addr() net.Addr { return n.addr }
func (n *clFakeNet) DialStream(ctx context.Context, addr string) (net.Conn, error) {
	p, err := n.h.peer(addr)
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	go p.onStream(b)
	return a, nil
}
func (n *clFakeNet) HandleStreams(f func(net.Conn)) { n.onStream = f }
func (n *clFakeNet) SendPacket(ctx context.Context, addr string, b []byte) error {
	p, err := n.h.peer(addr)
	if err != nil {
		return nil // lost silently, like UDP
	}
	go p.onPacket(n.addr, b)
	return nil
}
func (n *clFakeNet) HandlePackets(f func(net.Addr, []byte)) { n.onPacket = f }

// reportTrials reports the p50, p99 and max of trial times in ms.
func reportTrials(b *testing.B, prefix string, ds []time.Duration) {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(s, 0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(pct(s, 0.99)), prefix+"p99-ms")
	b.ReportMetric(ms(s[len(s)-1]), prefix+"max-ms")
	b.ReportMetric(float64(len(s)), prefix+"trials")
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
