package pid1

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// dhcpConn is a UDP socket on port 68 bound to one interface, able to send
// and receive broadcasts before the interface has an address.
func dhcpConn(iface string) (net.PacketConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_BROADCAST} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 1); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	if err := unix.BindToDevice(fd, iface); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind to %s: %w", iface, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 68}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dhcp-"+iface)
	defer f.Close()
	return net.FilePacketConn(f)
}

// DHCP runs one DHCP exchange on the interface with the given hardware
// address and returns the lease. It retries with backoff until ctx ends.
func DHCP(ctx context.Context, iface string, mac net.HardwareAddr, renew *Lease) (*Lease, error) {
	conn, err := dhcpConn(iface)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var x [4]byte
	rand.Read(x[:])
	c := &dhcpClient{mac: mac, xid: binary.BigEndian.Uint32(x[:])}
	if renew != nil {
		c.renewIP = renew.Addr.Addr()
	}
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	wait := time.Second
	send, _, _ := c.Next(nil)
	buf := make([]byte, 1500)
	for {
		if send != nil {
			if _, err := conn.WriteTo(send.Marshal(), bcast); err != nil {
				return nil, err
			}
		}
		deadline := time.Now().Add(wait)
		conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				send, _, _ = c.Next(nil)
				if wait < 16*time.Second {
					wait *= 2
				}
				continue
			}
			return nil, err
		}
		p, err := ParseDHCP(buf[:n])
		if err != nil {
			send = nil
			continue
		}
		var l *Lease
		send, l, err = c.Next(p)
		if l != nil {
			return l, nil
		}
		_ = err // a NAK: Next already restarted discovery
	}
}
