package cluster

import (
	"net"
	"strconv"
)

// advertised is the address other nodes reach this one at. A mesh that
// listens on every interface (0.0.0.0:7370, the default of pkhost run)
// reports an unspecified address that no peer can dial: it is replaced by
// the local address the system would use to reach the first seed, or by
// the first address of an interface that is up, or by loopback.
func advertised(listen net.Addr, seeds []string) string {
	ua, ok := listen.(*net.UDPAddr)
	if !ok || !ua.IP.IsUnspecified() {
		return listen.String()
	}
	port := strconv.Itoa(ua.Port)
	for _, s := range seeds {
		// A UDP "connection" sends nothing: it only asks the routing
		// table which local address goes towards the seed.
		if c, err := net.Dial("udp", s); err == nil {
			ip := c.LocalAddr().(*net.UDPAddr).IP
			c.Close()
			if !ip.IsUnspecified() {
				return net.JoinHostPort(ip.String(), port)
			}
		}
	}
	if ip := interfaceIP(); ip != nil {
		return net.JoinHostPort(ip.String(), port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// interfaceIP is the first IPv4 (else IPv6) unicast address, not loopback
// or link-local, of an interface that is up.
func interfaceIP() net.IP {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
				continue
			}
			if n.IP.To4() != nil {
				return n.IP
			}
			if v6 == nil {
				v6 = n.IP
			}
		}
	}
	return v6
}

// advertisedAddr is advertised as a net.Addr (memberlist's transport
// parses it back).
type advertisedAddr string

func (a advertisedAddr) Network() string { return "udp" }
func (a advertisedAddr) String() string  { return string(a) }
