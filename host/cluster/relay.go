package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/p-kernel/p-kernel/host/mesh"
)

// Relay: when two nodes cannot reach each other directly but both reach a
// third, streams between them go through it. The dialer asks a live peer to
// open the stream onward (protoRelay: a header naming the target address and
// the inner protocol; one status byte back), then both directions are
// copied. Every hop is a mesh link, authenticated by the cluster secret, so
// a relay is a member like any other.

const (
	protoRelay  byte = 6
	relayOK     byte = 0
	relayFailed byte = 1
	maxRelayHdr      = 512
)

// dialAny opens a stream to addr directly, else through any live peer.
func (c *Cluster) dialAny(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.directTimeout())
	s, err := c.mesh.Dial(dctx, addr, proto)
	cancel()
	if err == nil {
		return s, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	for _, m := range c.members.Members() {
		if m.ID == c.ID() || m.Address == addr || m.State != "alive" {
			continue
		}
		r, rerr := c.relayVia(ctx, m.Address, addr, proto)
		if rerr == nil {
			c.relayed.Add(1)
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w (no peer could relay either)", err)
}

// Dial opens a stream of proto to the node at addr, directly or, when the
// direct path fails, relayed through another live member.
func (c *Cluster) Dial(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	return c.dialAny(ctx, addr, proto)
}

// Handle serves the streams of proto (direct and relayed ones alike).
func (c *Cluster) Handle(proto byte, h func(net.Conn)) {
	c.mesh.Handle(proto, func(s *mesh.Stream) { h(s) })
}

// directTimeout bounds a direct attempt before relays are tried.
func (c *Cluster) directTimeout() time.Duration {
	if c.cfg.Fast {
		return 500 * time.Millisecond
	}
	return 2 * time.Second
}

func (c *Cluster) relayVia(ctx context.Context, via, addr string, proto byte) (net.Conn, error) {
	s, err := c.mesh.Dial(ctx, via, protoRelay)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	hdr := append([]byte{proto}, addr...)
	var n [2]byte
	binary.LittleEndian.PutUint16(n[:], uint16(len(hdr)))
	if _, err := s.Write(append(n[:], hdr...)); err != nil {
		s.Close()
		return nil, err
	}
	var st [1]byte
	if _, err := io.ReadFull(s, st[:]); err != nil || st[0] != relayOK {
		s.Close()
		return nil, errors.Join(errors.New("relay refused"), err)
	}
	s.SetDeadline(time.Time{})
	return s, nil
}

// serveRelay carries one relayed stream onward.
func (c *Cluster) serveRelay(s *mesh.Stream) {
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var n [2]byte
	if _, err := io.ReadFull(s, n[:]); err != nil {
		return
	}
	size := binary.LittleEndian.Uint16(n[:])
	if size < 2 || size > maxRelayHdr {
		return
	}
	hdr := make([]byte, size)
	if _, err := io.ReadFull(s, hdr); err != nil {
		return
	}
	proto, addr := hdr[0], string(hdr[1:])
	if proto == protoRelay {
		s.Write([]byte{relayFailed}) // no relay chains
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	out, err := c.mesh.Dial(ctx, addr, proto)
	cancel()
	if err != nil {
		s.Write([]byte{relayFailed})
		return
	}
	defer out.Close()
	if _, err := s.Write([]byte{relayOK}); err != nil {
		return
	}
	s.SetReadDeadline(time.Time{})
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, bufio.NewReader(src))
		if hc, ok := dst.(interface{ CloseWrite() error }); ok {
			hc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, s)
	go pipe(s, out)
	<-done
	<-done
}

// Relayed counts streams this node opened through a relay.
func (c *Cluster) Relayed() int64 { return c.relayed.Load() }
