package mesh

import (
	"net"
	"syscall"
)

// filteredConn drops packets to and from addresses the filter rejects, as
// if the network had lost them. It hides the UDP socket's batch and
// offload interfaces from quic-go (they would bypass ReadFrom and WriteTo),
// so it costs throughput and is only used when Config.Filter is set.
type filteredConn struct {
	net.PacketConn
	udp   *net.UDPConn
	allow func(net.Addr) bool
}

// Buffer sizing and the socket itself (for the don't-fragment bit) are
// still quic-go's to set; only reading and writing go through the filter.

func (c *filteredConn) SetReadBuffer(n int) error             { return c.udp.SetReadBuffer(n) }
func (c *filteredConn) SetWriteBuffer(n int) error            { return c.udp.SetWriteBuffer(n) }
func (c *filteredConn) SyscallConn() (syscall.RawConn, error) { return c.udp.SyscallConn() }

func (c *filteredConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.allow(addr) {
			return n, addr, err
		}
	}
}

func (c *filteredConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !c.allow(addr) {
		return len(b), nil // lost on the way, as far as the sender can tell
	}
	return c.PacketConn.WriteTo(b, addr)
}
