package pid1

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}

func TestDHCPRoundTrip(t *testing.T) {
	p := &DHCPPacket{Op: 2, XID: 0xdeadbeef, Broadcast: true, YIAddr: netip.MustParseAddr("10.0.2.15"),
		SIAddr: netip.MustParseAddr("10.0.2.2"), CHAddr: testMAC, Type: DHCPAck,
		SubnetMask: netip.MustParseAddr("255.255.255.0"), Router: netip.MustParseAddr("10.0.2.2"),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}, NTP: []netip.Addr{netip.MustParseAddr("10.0.2.9"), netip.MustParseAddr("10.0.2.10")},
		Lease:    86400 * time.Second,
		ServerID: netip.MustParseAddr("10.0.2.2"), Hostname: "pkhost", Params: []byte{1, 3}}
	b := p.Marshal()
	q, err := ParseDHCP(b)
	if err != nil {
		t.Fatal(err)
	}
	p.CIAddr = netip.AddrFrom4([4]byte{}) // parsed as 0.0.0.0
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
	}
	if got := q.Prefix(); got != netip.MustParsePrefix("10.0.2.15/24") {
		t.Fatalf("Prefix = %v", got)
	}
}

// TestDHCPExchange runs the client state machine against a scripted server.
func TestDHCPExchange(t *testing.T) {
	c := &dhcpClient{mac: testMAC, xid: 42}
	d, _, _ := c.Next(nil)
	if d.Type != DHCPDiscover || !d.Broadcast {
		t.Fatalf("first message %+v", d)
	}
	srv := netip.MustParseAddr("10.0.2.2")
	reply := func(typ byte) *DHCPPacket {
		b := (&DHCPPacket{Op: 2, XID: 42, CHAddr: testMAC, Type: typ, YIAddr: netip.MustParseAddr("10.0.2.15"),
			ServerID: srv, Router: srv, SubnetMask: netip.MustParseAddr("255.255.255.0")}).Marshal()
		p, err := ParseDHCP(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A reply for someone else is ignored.
	other := reply(DHCPOffer)
	other.XID = 7
	if s, l, err := c.Next(other); s != nil || l != nil || err != nil {
		t.Fatalf("foreign reply not ignored: %v %v %v", s, l, err)
	}
	r, _, _ := c.Next(reply(DHCPOffer))
	if r.Type != DHCPRequest || r.RequestedIP != netip.MustParseAddr("10.0.2.15") || r.ServerID != srv {
		t.Fatalf("request %+v", r)
	}
	// A timeout repeats the request.
	if r2, _, _ := c.Next(nil); r2.Type != DHCPRequest {
		t.Fatalf("after timeout: %+v", r2)
	}
	_, l, err := c.Next(reply(DHCPAck))
	if err != nil || l == nil {
		t.Fatalf("ack: %v %v", l, err)
	}
	if l.Addr != netip.MustParsePrefix("10.0.2.15/24") || l.Router != srv || l.Expires != time.Hour {
		t.Fatalf("lease %+v", l)
	}
	// A NAK restarts discovery.
	c2 := &dhcpClient{mac: testMAC, xid: 42}
	c2.Next(nil)
	c2.Next(reply(DHCPOffer))
	if s, _, err := c2.Next(reply(DHCPNak)); err == nil || s.Type != DHCPDiscover {
		t.Fatalf("nak: %+v %v", s, err)
	}
}

func FuzzParseDHCP(f *testing.F) {
	f.Add((&DHCPPacket{Op: 1, XID: 1, CHAddr: testMAC, Type: DHCPDiscover, Params: []byte{1, 3, 6}}).Marshal())
	f.Add((&DHCPPacket{Op: 2, XID: 2, CHAddr: testMAC, Type: DHCPAck, Hostname: string(make([]byte, 300)),
		DNS: []netip.Addr{netip.MustParseAddr("1.2.3.4")}}).Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDHCP(b)
		if err != nil {
			return
		}
		// What parses re-encodes and parses to the same message.
		q, err := ParseDHCP(p.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if q.Type != p.Type || q.XID != p.XID || q.YIAddr != p.YIAddr || q.Hostname != p.Hostname || len(q.DNS) != len(p.DNS) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", p, q)
		}
	})
}
