package cluster

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/p-kernel/p-kernel/host/consensus"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/p-kernel/p-kernel/host/mesh"
)

// Stream protocols on the mesh.
const (
	protoRaft      byte = 1
	protoGossip    byte = 2 // memberlist streams (push/pull, fallback probes)
	protoBigPacket byte = 3 // memberlist packets too large for a datagram
	protoRPC       byte = 4
	protoReplica   byte = 5 // cluster topics (anti-entropy)
	// ProtoBlocks carries p-fs blocks (host/blocknet).
	ProtoBlocks     byte = 7
	maxPacketStream      = 16 << 20
)

// memberNet adapts the mesh to member.Network.
type memberNet struct {
	m *mesh.Mesh
	c *Cluster // for relayed streams; nil: direct only
}

// MemberNetwork adapts a bare mesh to member.Network, without relays (for
// tools and benchmarks; a Cluster wires its own).
func MemberNetwork(m *mesh.Mesh) member.Network { return memberNet{m: m} }

// RaftLayer is raft's stream layer over a bare mesh, without relays (for
// tools and benchmarks).
func RaftLayer(m *mesh.Mesh) consensus.StreamLayer {
	return raftLayer{Listener: m.Listener(protoRaft), m: m}
}

// dial opens a stream, through a relay when needed if a cluster is at hand.
func dial(ctx context.Context, m *mesh.Mesh, c *Cluster, addr string, proto byte) (net.Conn, error) {
	if c != nil {
		return c.dialAny(ctx, addr, proto)
	}
	return m.Dial(ctx, addr, proto)
}

func (n memberNet) Addr() net.Addr {
	if n.c != nil {
		return advertisedAddr(n.c.advertise)
	}
	return n.m.Addr()
}

func (n memberNet) DialStream(ctx context.Context, addr string) (net.Conn, error) {
	return dial(ctx, n.m, n.c, addr, protoGossip)
}

// HandleStreams hands memberlist the streams it accepts; they outlive the
// callback (memberlist serves them on its own goroutines), so they come
// from a mesh listener rather than a handler, which would close them on
// return.
func (n memberNet) HandleStreams(h func(net.Conn)) {
	ln := n.m.Listener(protoGossip)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h(c)
		}
	}()
}

// SendPacket sends small packets as datagrams and larger ones on a
// one-shot stream: memberlist's packets must not be lost for their size.
func (n memberNet) SendPacket(ctx context.Context, addr string, b []byte) error {
	if len(b) <= mesh.MaxDatagram {
		return n.m.SendDatagram(ctx, addr, b)
	}
	s, err := dial(ctx, n.m, n.c, addr, protoBigPacket)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = s.Write(b)
	return err
}

func (n memberNet) HandlePackets(h func(net.Addr, []byte)) {
	n.m.HandleDatagrams(func(from, _ string, b []byte) {
		if a, err := net.ResolveUDPAddr("udp", from); err == nil {
			h(a, b)
		}
	})
	n.m.Handle(protoBigPacket, func(s *mesh.Stream) {
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(io.LimitReader(s, maxPacketStream))
		if err == nil {
			h(s.RemoteAddr(), b)
		}
	})
}

// raftLayer is raft's stream layer over the mesh (relayed when needed).
type raftLayer struct {
	net.Listener
	m *mesh.Mesh
	c *Cluster // nil: direct only
}

func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dial(ctx, l.m, l.c, string(addr), protoRaft)
}
