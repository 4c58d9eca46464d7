package pid1

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// ResolvConfPath is where the name servers go: Go's resolver (and any libc)
// reads it, so a node can join seeds by host name (pk.join=seed.lan:7370).
const ResolvConfPath = "/etc/resolv.conf"

// maxNameservers is the most resolv.conf readers use (glibc's MAXNS, and
// Go's resolver stops there too).
const maxNameservers = 3

// ResolvConf is the text of resolv.conf for servers, where they came from
// in a comment; invalid or repeated addresses are left out.
func ResolvConf(servers []netip.Addr, from string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by pkhost (pid1) from %s\n", from)
	seen := map[netip.Addr]bool{}
	for _, s := range servers {
		if !s.IsValid() || seen[s] || len(seen) == maxNameservers {
			continue
		}
		seen[s] = true
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return []byte(b.String())
}

// writeResolvConf replaces path with ResolvConf(servers, from), by a
// rename, so a resolver never reads half a file.
func writeResolvConf(path string, servers []netip.Addr, from string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, ResolvConf(servers, from), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
