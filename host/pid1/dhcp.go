package pid1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// DHCP message types (RFC 2132 option 53).
const (
	DHCPDiscover = 1
	DHCPOffer    = 2
	DHCPRequest  = 3
	DHCPDecline  = 4
	DHCPAck      = 5
	DHCPNak      = 6
	DHCPRelease  = 7
)

// DHCP options used here (RFC 2132).
const (
	optSubnetMask   = 1
	optRouter       = 3
	optDNS          = 6
	optHostname     = 12
	optNTP          = 42
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optParamRequest = 55
	optClientID     = 61
	optEnd          = 255
	optPad          = 0
)

var dhcpMagic = [4]byte{99, 130, 83, 99}

// DHCPPacket is the part of a BOOTP/DHCP message (RFC 2131) a client needs.
type DHCPPacket struct {
	Op        byte // 1 request, 2 reply
	XID       uint32
	Broadcast bool // ask the server to broadcast its reply
	CIAddr    netip.Addr
	YIAddr    netip.Addr
	SIAddr    netip.Addr
	CHAddr    net.HardwareAddr
	Type      byte
	// Options
	SubnetMask  netip.Addr
	Router      netip.Addr
	DNS         []netip.Addr
	NTP         []netip.Addr
	Lease       time.Duration
	ServerID    netip.Addr
	RequestedIP netip.Addr
	Hostname    string
	Params      []byte
}

// ErrNotDHCP is returned by [ParseDHCP] for messages that are not DHCP.
var ErrNotDHCP = errors.New("dhcp: not a DHCP message")

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

func put4(b []byte, a netip.Addr) {
	if a.Is4() {
		x := a.As4()
		copy(b, x[:])
	}
}

// Marshal encodes the message.
func (p *DHCPPacket) Marshal() []byte {
	b := make([]byte, 240, 300)
	b[0] = p.Op
	b[1] = 1 // ethernet
	b[2] = 6
	binary.BigEndian.PutUint32(b[4:], p.XID)
	if p.Broadcast {
		b[10] = 0x80
	}
	put4(b[12:], p.CIAddr)
	put4(b[16:], p.YIAddr)
	put4(b[20:], p.SIAddr)
	copy(b[28:44], p.CHAddr)
	copy(b[236:], dhcpMagic[:])
	opt := func(code byte, v []byte) {
		for len(v) > 255 {
			b = append(b, code, 255)
			b = append(b, v[:255]...)
			v = v[255:]
		}
		b = append(b, code, byte(len(v)))
		b = append(b, v...)
	}
	ip := func(code byte, a netip.Addr) {
		if a.Is4() {
			x := a.As4()
			opt(code, x[:])
		}
	}
	opt(optMessageType, []byte{p.Type})
	ip(optSubnetMask, p.SubnetMask)
	ip(optRouter, p.Router)
	addrs := func(code byte, as []netip.Addr) {
		var v []byte
		for _, a := range as {
			x := a.As4()
			v = append(v, x[:]...)
		}
		if len(v) > 0 {
			opt(code, v)
		}
	}
	addrs(optDNS, p.DNS)
	addrs(optNTP, p.NTP)
	if p.Lease > 0 {
		opt(optLeaseTime, binary.BigEndian.AppendUint32(nil, uint32(p.Lease/time.Second)))
	}
	ip(optServerID, p.ServerID)
	ip(optRequestedIP, p.RequestedIP)
	if p.Hostname != "" {
		opt(optHostname, []byte(p.Hostname))
	}
	if len(p.CHAddr) > 0 && p.Op == 1 {
		opt(optClientID, append([]byte{1}, p.CHAddr...))
	}
	if len(p.Params) > 0 {
		opt(optParamRequest, p.Params)
	}
	b = append(b, optEnd)
	for len(b) < 300 { // some servers want a BOOTP-sized message
		b = append(b, optPad)
	}
	return b
}

// ParseDHCP decodes a message. It never panics on malformed input.
func ParseDHCP(b []byte) (*DHCPPacket, error) {
	if len(b) < 240 || [4]byte(b[236:240]) != dhcpMagic {
		return nil, ErrNotDHCP
	}
	if b[1] != 1 || b[2] != 6 {
		return nil, fmt.Errorf("dhcp: hardware type %d length %d, want ethernet", b[1], b[2])
	}
	p := &DHCPPacket{
		Op: b[0], XID: binary.BigEndian.Uint32(b[4:]), Broadcast: b[10]&0x80 != 0,
		CIAddr: addr4(b[12:]), YIAddr: addr4(b[16:]), SIAddr: addr4(b[20:]),
		CHAddr: net.HardwareAddr(append([]byte(nil), b[28:34]...)),
	}
	// Options may repeat (long values are split, RFC 3396): concatenate.
	opts := map[byte][]byte{}
	rest := b[240:]
	for len(rest) > 0 {
		code := rest[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			rest = rest[1:]
			continue
		}
		if len(rest) < 2 || len(rest) < 2+int(rest[1]) {
			return nil, fmt.Errorf("dhcp: option %d truncated", code)
		}
		n := int(rest[1])
		opts[code] = append(opts[code], rest[2:2+n]...)
		rest = rest[2+n:]
	}
	ip := func(code byte) netip.Addr {
		if v := opts[code]; len(v) >= 4 {
			return addr4(v)
		}
		return netip.Addr{}
	}
	if v := opts[optMessageType]; len(v) == 1 {
		p.Type = v[0]
	} else {
		return nil, fmt.Errorf("dhcp: no message type")
	}
	p.SubnetMask = ip(optSubnetMask)
	p.Router = ip(optRouter)
	p.ServerID = ip(optServerID)
	p.RequestedIP = ip(optRequestedIP)
	for v := opts[optDNS]; len(v) >= 4; v = v[4:] {
		p.DNS = append(p.DNS, addr4(v))
	}
	for v := opts[optNTP]; len(v) >= 4; v = v[4:] {
		p.NTP = append(p.NTP, addr4(v))
	}
	if v := opts[optLeaseTime]; len(v) == 4 {
		p.Lease = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	p.Hostname = string(opts[optHostname])
	p.Params = opts[optParamRequest]
	return p, nil
}

// Prefix is the leased address with the subnet mask's length (/24 when the
// server sent no mask or a non-contiguous one).
func (p *DHCPPacket) Prefix() netip.Prefix {
	bits := 24
	if p.SubnetMask.Is4() {
		m := p.SubnetMask.As4()
		ones, size := net.IPMask(m[:]).Size()
		if size == 32 {
			bits = ones
		}
	}
	return netip.PrefixFrom(p.YIAddr, bits)
}

// Lease is the outcome of a DHCP exchange.
type Lease struct {
	Addr    netip.Prefix
	Router  netip.Addr
	DNS     []netip.Addr
	NTP     []netip.Addr
	Server  netip.Addr
	Expires time.Duration
}

// dhcpClient is the state machine of one exchange (DISCOVER, OFFER,
// REQUEST, ACK), without I/O: Next takes the message received (nil at the
// start or after a timeout) and returns the message to send, or the lease.
type dhcpClient struct {
	mac     net.HardwareAddr
	xid     uint32
	state   int // 0 discovering, 1 requesting
	offer   *DHCPPacket
	renewIP netip.Addr
}

func (c *dhcpClient) request() *DHCPPacket {
	return &DHCPPacket{Op: 1, XID: c.xid, Broadcast: true, CHAddr: c.mac, Type: DHCPRequest,
		RequestedIP: c.offer.YIAddr, ServerID: c.offer.ServerID, Hostname: "pkhost",
		Params: []byte{optSubnetMask, optRouter, optDNS, optNTP, optLeaseTime}}
}

func (c *dhcpClient) discover() *DHCPPacket {
	return &DHCPPacket{Op: 1, XID: c.xid, Broadcast: true, CHAddr: c.mac, Type: DHCPDiscover,
		RequestedIP: c.renewIP, Hostname: "pkhost",
		Params: []byte{optSubnetMask, optRouter, optDNS, optNTP, optLeaseTime}}
}

// Next advances the exchange. in is nil on start and on timeouts; replies
// that are not for this exchange are ignored (send is nil then).
func (c *dhcpClient) Next(in *DHCPPacket) (send *DHCPPacket, lease *Lease, err error) {
	if in == nil {
		if c.state == 1 {
			return c.request(), nil, nil
		}
		return c.discover(), nil, nil
	}
	if in.Op != 2 || in.XID != c.xid || !bytesEqual(in.CHAddr, c.mac) {
		return nil, nil, nil
	}
	switch {
	case c.state == 0 && in.Type == DHCPOffer && in.YIAddr.Is4():
		c.offer, c.state = in, 1
		return c.request(), nil, nil
	case c.state == 1 && in.Type == DHCPAck:
		l := &Lease{Addr: in.Prefix(), Router: in.Router, DNS: in.DNS, NTP: in.NTP, Server: in.ServerID, Expires: in.Lease}
		if l.Expires == 0 {
			l.Expires = time.Hour
		}
		return nil, l, nil
	case c.state == 1 && in.Type == DHCPNak:
		c.state, c.offer, c.renewIP = 0, nil, netip.Addr{}
		return c.discover(), nil, fmt.Errorf("dhcp: server %s refused the request", in.ServerID)
	}
	return nil, nil, nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
