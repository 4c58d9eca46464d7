package member

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// hub is an in-memory network: packets and net.Pipe streams between fake
// endpoints, with links that can be cut.
type hub struct {
	mu    sync.Mutex
	nodes map[string]*fakeNet
	down  map[string]bool
}

type fakeNet struct {
	h        *hub
	addr     *net.UDPAddr
	onPacket func(net.Addr, []byte)
	onStream func(net.Conn)
}

func (h *hub) add(port int) *fakeNet {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := &fakeNet{h: h, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	h.nodes[n.addr.String()] = n
	return n
}

func (h *hub) peer(from *fakeNet, addr string) (*fakeNet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.nodes[addr]
	if p == nil || h.down[addr] || h.down[from.addr.String()] {
		return nil, errors.New("unreachable")
	}
	return p, nil
}

func (n *fakeNet) Addr() net.Addr { return n.addr }
func (n *fakeNet) DialStream(ctx context.Context, addr string) (net.Conn, error) {
	p, err := n.h.peer(n, addr)
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	go p.onStream(b)
	return a, nil
}
func (n *fakeNet) HandleStreams(f func(net.Conn)) { n.onStream = f }
func (n *fakeNet) SendPacket(ctx context.Context, addr string, b []byte) error {
	p, err := n.h.peer(n, addr)
	if err != nil {
		return nil // packets are lost silently, like UDP
	}
	go p.onPacket(n.addr, b)
	return nil
}
func (n *fakeNet) HandlePackets(f func(net.Addr, []byte)) { n.onPacket = f }

func TestMembership(t *testing.T) {
	h := &hub{nodes: map[string]*fakeNet{}, down: map[string]bool{}}
	var changes atomic.Int32
	var lists []*List
	for i := range 3 {
		l, err := Start(Config{ID: fmt.Sprintf("n%d", i), Network: h.add(7000 + i), Fast: true,
			Meta: Meta{Version: "test", Roles: []string{"r"}}, Changed: func() { changes.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
	}
	defer func() {
		for _, l := range lists[:2] {
			l.Shutdown()
		}
	}()
	for _, l := range lists[1:] {
		if err := l.Join("127.0.0.1:7000"); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s; members %+v", what, lists[0].Members())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, l := range lists {
		wait("everyone sees three", func() bool { return len(l.Alive()) == 3 })
	}
	if m := lists[0].Members(); m[2].Meta.Version != "test" || m[2].Address != "127.0.0.1:7002" {
		t.Fatalf("member %+v", m[2])
	}
	// A node that dies without a word is detected.
	h.mu.Lock()
	h.down["127.0.0.1:7002"] = true
	h.mu.Unlock()
	start := time.Now()
	lists[2].Shutdown()
	wait("n2 declared dead", func() bool { return !lists[0].Alive()["n2"] && !lists[1].Alive()["n2"] })
	t.Logf("death detected in %v", time.Since(start))
	if changes.Load() < 4 {
		t.Fatalf("only %d change notifications", changes.Load())
	}
	// Metadata changes spread.
	lists[1].SetMeta(Meta{Version: "v2"})
	wait("metadata update", func() bool {
		for _, m := range lists[0].Members() {
			if m.ID == "n1" {
				return m.Meta.Version == "v2"
			}
		}
		return false
	})
}

// queueNet is a fakeNet whose sends never block: the transport must use
// QueuePacket and not SendPacket.
type queueNet struct {
	*fakeNet
	queued, sent atomic.Int32
}

func (n *queueNet) QueuePacket(addr string, b []byte) {
	n.queued.Add(1)
	n.fakeNet.SendPacket(context.Background(), addr, b)
}

func (n *queueNet) SendPacket(ctx context.Context, addr string, b []byte) error {
	n.sent.Add(1)
	return n.fakeNet.SendPacket(ctx, addr, b)
}

func TestTuningAndQueuedPackets(t *testing.T) {
	mc := memberlist.DefaultLANConfig()
	Tuning{}.apply(mc)
	if want := memberlist.DefaultLANConfig(); mc.ProbeInterval != want.ProbeInterval || !mc.EnableCompression || mc.GossipNodes != want.GossipNodes ||
		mc.DisableTcpPings || mc.IndirectChecks != want.IndirectChecks {
		t.Fatalf("zero Tuning changed the config: %+v", mc)
	}
	LargeCluster.apply(mc)
	if mc.ProbeInterval != LargeCluster.ProbeInterval || mc.GossipNodes != LargeCluster.GossipNodes || mc.EnableCompression {
		t.Fatalf("LargeCluster not applied: %+v", mc)
	}
	Tuning{IndirectChecks: 1, NoTCPPings: true}.apply(mc)
	if mc.IndirectChecks != 1 || !mc.DisableTcpPings {
		t.Fatalf("IndirectChecks, NoTCPPings not applied: %+v", mc)
	}

	h := &hub{nodes: map[string]*fakeNet{}, down: map[string]bool{}}
	tune := Tuning{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 80 * time.Millisecond, NoCompression: true}
	var nets []*queueNet
	var lists []*List
	for i := range 2 {
		n := &queueNet{fakeNet: h.add(7100 + i)}
		l, err := Start(Config{ID: fmt.Sprintf("q%d", i), Network: n, Tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Shutdown()
		nets, lists = append(nets, n), append(lists, l)
	}
	if err := lists[1].Join("127.0.0.1:7100"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lists[0].NumAlive() != 2 || lists[1].NumAlive() != 2 || nets[0].queued.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("alive %d/%d, queued %d", lists[0].NumAlive(), lists[1].NumAlive(), nets[0].queued.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := nets[0].sent.Load() + nets[1].sent.Load(); s != 0 {
		t.Fatalf("%d packets went through SendPacket", s)
	}
}
