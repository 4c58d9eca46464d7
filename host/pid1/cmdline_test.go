package pid1

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestSplitCmdline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  console=ttyS0   quiet\n", []string{"console=ttyS0", "quiet"}},
		{`a="b c" d`, []string{"a=b c", "d"}},
		{`"x y"`, []string{"x y"}},
		{`e=""`, []string{"e="}},
	} {
		if got := SplitCmdline(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCmdline(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	c, err := ParseCmdline(`console=ttyS0 pk.ip=eth0:10.99.0.2/24 pk.ip=eth1:10.0.2.15/24:10.0.2.2 pk.join=10.99.0.1:7370 pk.token=pk1-abc pk.shell=1 pk.onexit=poweroff pk.data=/dev/vda1 pk.try=abc pk.health=90s`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Static: []Static{
			{Iface: "eth0", Prefix: netip.MustParsePrefix("10.99.0.2/24")},
			{Iface: "eth1", Prefix: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")},
		},
		Join: []string{"10.99.0.1:7370"}, Token: "pk1-abc", DataDev: "/dev/vda1",
		Shell: true, OnExit: "poweroff", LogLevel: "info", Try: "abc", Health: 90 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	args := c.RunArgs("/perm/pkhost")
	wantArgs := []string{"run", "--data", "/perm/pkhost", "--listen", "0.0.0.0:7370", "--log-level", "info", "--join", "10.99.0.1:7370", "--token", "pk1-abc"}
	if !reflect.DeepEqual(args, wantArgs) {
		t.Fatalf("RunArgs = %q, want %q", args, wantArgs)
	}
}

func TestParseCmdlineErrors(t *testing.T) {
	for _, s := range []string{"pk.ip=eth0", "pk.ip=eth0:300.1.1.1/24", "pk.ip=eth0:10.0.0.1/24:x", "pk.onexit=halt", "pk.ip=:10.0.0.1/8",
		"pk.dns=", "pk.dns=1.1.1.1,,8.8.8.8", "pk.dns=dns.example"} {
		if _, err := ParseCmdline(s); err == nil {
			t.Errorf("ParseCmdline(%q): no error", s)
		}
	}
	c, err := ParseCmdline("pk.ip=off")
	if err != nil || !c.NoDHCP {
		t.Fatalf("pk.ip=off: %+v %v", c, err)
	}
	c, err = ParseCmdline("pk.ntp=10.0.2.2:1123,time.lan pk.dns=10.0.0.53,2001:db8::53")
	if err != nil || !reflect.DeepEqual(c.NTP, []string{"10.0.2.2:1123", "time.lan:123"}) || c.NoNTP {
		t.Fatalf("pk.ntp: %q %v", c.NTP, err)
	}
	if c, err := ParseCmdline("pk.ntp=off"); err != nil || !c.NoNTP || c.NTP != nil {
		t.Fatalf("pk.ntp=off: %+v %v", c, err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("2001:db8::53")}
	if err != nil || !reflect.DeepEqual(c.DNS, want) {
		t.Fatalf("pk.dns: %v %v, want %v", c.DNS, err, want)
	}
}
