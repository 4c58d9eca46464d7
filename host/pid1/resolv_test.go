package pid1

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvConf(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	got := string(ResolvConf([]netip.Addr{a("10.0.2.3"), {}, a("10.0.2.3"), a("1.1.1.1"), a("2001:db8::53"), a("9.9.9.9")}, "DHCP on eth0"))
	want := "# written by pkhost (pid1) from DHCP on eth0\nnameserver 10.0.2.3\nnameserver 1.1.1.1\nnameserver 2001:db8::53\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestWriteResolvConf writes the file where there was no directory (an
// initramfs may have no /etc), then replaces it, leaving no temp file.
func TestWriteResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "etc", "resolv.conf")
	if err := writeResolvConf(p, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, "pk.dns"); err != nil {
		t.Fatal(err)
	}
	if err := writeResolvConf(p, []netip.Addr{netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("10.0.2.4")}, "DHCP on eth0"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	}
	if strings.Join(servers, " ") != "10.0.2.3 10.0.2.4" {
		t.Fatalf("servers %q in\n%s", servers, b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("%d files in etc/, want resolv.conf alone", len(ents))
	}
}
