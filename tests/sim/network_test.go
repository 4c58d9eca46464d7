package sim

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// inboxSize bounds each endpoint's queue of undelivered packets; a full inbox
// drops, as a UDP socket buffer would.
const inboxSize = 512

// simNet is an in-memory network for many member.Network endpoints: packets
// go through one bounded channel per endpoint, drained by one goroutine per
// endpoint (not one per packet); streams are net.Pipe pairs. Packets can be
// lost at random, and an endpoint can be killed: all its traffic, both
// ways, is dropped from then on.
type simNet struct {
	mu    sync.RWMutex
	nodes map[string]*endpoint
	loss  atomic.Uint64 // math.Float64bits of the loss probability

	sent, delivered, dropped, streams atomic.Int64
}

type packet struct {
	from net.Addr
	b    []byte
}

type endpoint struct {
	n        *simNet
	addr     *net.UDPAddr
	key      string
	dead     atomic.Bool
	inbox    chan packet
	done     chan struct{}
	once     sync.Once
	onPacket func(net.Addr, []byte)
	onStream func(net.Conn)
}

func newSimNet() *simNet { return &simNet{nodes: map[string]*endpoint{}} }

// setLoss sets the probability that a packet is lost.
func (n *simNet) setLoss(p float64) { n.loss.Store(math.Float64bits(p)) }

// add creates endpoint i (address 10.x.y.z:7946).
func (n *simNet) add(i int) *endpoint {
	a := &net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 7946}
	e := &endpoint{n: n, addr: a, key: a.String(), inbox: make(chan packet, inboxSize), done: make(chan struct{})}
	n.mu.Lock()
	n.nodes[e.key] = e
	n.mu.Unlock()
	return e
}

// pump delivers the endpoint's packets one at a time. The member transport's
// handler never blocks (it drops when its own queue is full).
func (e *endpoint) pump() {
	for {
		select {
		case p := <-e.inbox:
			if e.dead.Load() {
				e.n.dropped.Add(1)
				continue
			}
			e.onPacket(p.from, p.b)
			e.n.delivered.Add(1)
		case <-e.done:
			return
		}
	}
}

// kill drops all of the endpoint's traffic from now on.
func (e *endpoint) kill() { e.dead.Store(true) }

// close stops the endpoint's delivery goroutine.
func (e *endpoint) close() { e.once.Do(func() { close(e.done) }) }

func (n *simNet) peer(from *endpoint, addr string) (*endpoint, error) {
	if from.dead.Load() {
		return nil, errors.New("unreachable")
	}
	n.mu.RLock()
	p := n.nodes[addr]
	n.mu.RUnlock()
	if p == nil || p.dead.Load() {
		return nil, errors.New("unreachable")
	}
	return p, nil
}

func (e *endpoint) Addr() net.Addr { return e.addr }

func (e *endpoint) DialStream(ctx context.Context, addr string) (net.Conn, error) {
	p, err := e.n.peer(e, addr)
	if err != nil {
		return nil, err
	}
	e.n.streams.Add(1)
	a, b := net.Pipe()
	go p.onStream(b)
	return a, nil
}

func (e *endpoint) HandleStreams(f func(net.Conn)) { e.onStream = f }

func (e *endpoint) SendPacket(ctx context.Context, addr string, b []byte) error {
	e.QueuePacket(addr, b)
	return nil // lost silently, like UDP
}

// QueuePacket never blocks (member.PacketQueuer): the member transport calls
// it directly, without a goroutine per packet.
func (e *endpoint) QueuePacket(addr string, b []byte) {
	e.n.sent.Add(1)
	p, err := e.n.peer(e, addr)
	if err != nil {
		e.n.dropped.Add(1)
		return
	}
	if l := math.Float64frombits(e.n.loss.Load()); l > 0 && rand.Float64() < l {
		e.n.dropped.Add(1)
		return
	}
	select {
	case p.inbox <- packet{e.addr, b}:
	default:
		e.n.dropped.Add(1)
	}
}

// HandlePackets installs the handler and starts delivery (once: the member
// transport calls it once, before any packet can arrive).
func (e *endpoint) HandlePackets(f func(net.Addr, []byte)) {
	e.onPacket = f
	go e.pump()
}
