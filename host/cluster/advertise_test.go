package cluster

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAdvertised(t *testing.T) {
	if got := advertised(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7}, nil); got != "127.0.0.1:7" {
		t.Fatalf("a concrete address changed: %s", got)
	}
	if got := advertised(&net.UDPAddr{IP: net.IPv4zero, Port: 7370}, []string{"127.0.0.1:9"}); got != "127.0.0.1:7370" {
		t.Fatalf("towards a loopback seed: %s", got)
	}
	got := advertised(&net.UDPAddr{IP: net.IPv6unspecified, Port: 7370}, nil)
	host, port, err := net.SplitHostPort(got)
	if err != nil || port != "7370" || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		t.Fatalf("no seed: %q", got)
	}
}

// TestListenOnEveryInterface: nodes listening on 0.0.0.0 (pkhost run's
// default) advertise addresses their peers can dial.
func TestListenOnEveryInterface(t *testing.T) {
	ctx := context.Background()
	openAll := func(join []string, token string) *Cluster {
		c, err := Open(ctx, Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0", Join: join, Token: token, Identity: newKey(), Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := openAll(nil, "")
	if strings.HasPrefix(a.Addr(), "0.0.0.0") || strings.HasPrefix(a.Addr(), "[::]") {
		t.Fatalf("a advertises %s", a.Addr())
	}
	eventually(t, 5*time.Second, "a to lead", a.cons.IsLeader)
	_, port, _ := net.SplitHostPort(a.Addr())
	b := openAll([]string{"127.0.0.1:" + port}, a.Token())
	eventually(t, 15*time.Second, "2 voters", func() bool { return a.Info().Consensus.Voters == 2 })
	for _, m := range a.Members() {
		if ip := net.ParseIP(strings.Split(m.Address, ":")[0]); ip == nil || ip.IsUnspecified() {
			t.Fatalf("member %s has address %q", m.ID, m.Address)
		}
	}
	_ = b
}
