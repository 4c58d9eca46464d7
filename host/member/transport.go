package member

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network is what membership needs from the mesh: a node address,
// reliable streams and best-effort packets of any size (the mesh sends small
// packets as QUIC datagrams and larger ones on a stream).
type Network interface {
	Addr() net.Addr
	DialStream(ctx context.Context, addr string) (net.Conn, error)
	HandleStreams(func(net.Conn))
	SendPacket(ctx context.Context, addr string, b []byte) error
	HandlePackets(func(from net.Addr, b []byte))
}

// PacketQueuer is an optional [Network] method set for a network whose
// packet sends never block (an in-memory network, a socket with its own send
// queue): QueuePacket hands b over, to keep, and returns at once, dropping
// the packet if it cannot take it. The transport then calls it directly
// instead of sending on a goroutine of its own per packet.
type PacketQueuer interface {
	QueuePacket(addr string, b []byte)
}

// transport adapts a Network to memberlist.Transport.
type transport struct {
	net     Network
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
	sending chan struct{} // bounds packet sends in flight
}

func newTransport(n Network) *transport {
	t := &transport{net: n, packets: make(chan *memberlist.Packet, 1024), streams: make(chan net.Conn, 64), done: make(chan struct{}), sending: make(chan struct{}, 256)}
	n.HandlePackets(func(from net.Addr, b []byte) {
		p := &memberlist.Packet{Buf: b, From: from, Timestamp: time.Now()}
		select {
		case t.packets <- p:
		case <-t.done:
		default: // a full queue drops the packet, as UDP would; SWIM tolerates loss
		}
	})
	n.HandleStreams(func(c net.Conn) {
		select {
		case t.streams <- c:
		case <-t.done:
			c.Close()
		}
	})
	return t
}

func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, err := net.SplitHostPort(t.net.Addr().String())
	if err != nil {
		return nil, 0, err
	}
	p, _ := strconv.Atoi(port)
	return net.ParseIP(host), p, nil
}

// WriteTo sends a packet without waiting and never fails, as UDP would
// not: memberlist reads a send error as a fault of this node and then skips
// the probe instead of suspecting the peer, and a send that waits on a dead
// link would stall its probe loop.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	if q, ok := t.net.(PacketQueuer); ok {
		q.QueuePacket(addr, append([]byte(nil), b...))
		return now, nil
	}
	select {
	case t.sending <- struct{}{}:
	default:
		return now, nil // too many sends in flight: this one is lost
	}
	b = append([]byte(nil), b...)
	go func() {
		defer func() { <-t.sending }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		t.net.SendPacket(ctx, addr, b)
	}()
	return now, nil
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.net.DialStream(ctx, addr)
}

func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

func (t *transport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}
