package pid1

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Config is what the kernel command line tells PID 1. Parameters:
//
//	pk.ip=IFACE:ADDR/PREFIX[:GATEWAY]   a static address (repeatable); other interfaces use DHCP
//	pk.ip=off                           no DHCP on interfaces without a static address
//	pk.dns=ADDR[,ADDR]                  name servers for /etc/resolv.conf (default: those DHCP offers)
//	pk.ntp=HOST[:PORT][,...]|off        time servers (default: those DHCP offers, else pool.ntp.org)
//	pk.listen=HOST:PORT                 the mesh address (default: the first address configured, port 7370; off = alone)
//	pk.join=HOST:PORT[,HOST:PORT]       seeds of a cluster to join
//	pk.token=T                          the cluster's join token (or the secret of a first node)
//	pk.data=DEVICE                      the persistent data partition (default: the one labelled pkdata)
//	pk.shell=1                          read pkhost commands from the console (tests, debugging)
//	pk.onexit=poweroff|reboot           what to do when the node stops by itself (default reboot)
//	pk.loglevel=debug|info|warn|error
//	pk.try=ID, pk.image=ID, pk.health=D set by a self-update (see BootState)
type Config struct {
	Static   []Static
	NoDHCP   bool
	DNS      []netip.Addr // pk.dns: name servers; they win over DHCP's
	NTP      []string     // pk.ntp: time servers (host:port); they win over DHCP's
	NoNTP    bool         // pk.ntp=off
	Listen   string
	Join     []string
	Token    string
	DataDev  string
	Shell    bool
	OnExit   string
	LogLevel string
	Try      string        // pk.try=ID: this boot is the trial of image ID (see update.go)
	Image    string        // pk.image=ID: this boot chain-loaded the committed image ID
	Health   time.Duration // pk.health=D: the health window of a trial
	API      string        // control API address for `pkhost run --api` ("" = the socket in the data directory)
}

// Static is one static address.
type Static struct {
	Iface   string
	Prefix  netip.Prefix
	Gateway netip.Addr // zero: none
}

// SplitCmdline splits a kernel command line into words, honouring double
// quotes the way the kernel does (`a="b c"` is one word, a=b c).
func SplitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in = !in
			have = true
		case !in && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// ParseCmdline reads the pk.* parameters of a kernel command line; other
// words are ignored.
func ParseCmdline(s string) (Config, error) {
	c := Config{OnExit: "reboot", LogLevel: "info", Health: DefaultHealthWindow}
	for _, w := range SplitCmdline(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || !strings.HasPrefix(k, "pk.") {
			continue
		}
		switch k {
		case "pk.ip":
			if v == "off" {
				c.NoDHCP = true
				continue
			}
			if v == "dhcp" {
				continue
			}
			st, err := parseStatic(v)
			if err != nil {
				return c, err
			}
			c.Static = append(c.Static, st)
		case "pk.dns":
			c.DNS = nil
			for _, a := range strings.Split(v, ",") {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return c, fmt.Errorf("pk.dns=%q: want IP addresses separated by commas", v)
				}
				c.DNS = append(c.DNS, ip)
			}
		case "pk.ntp":
			c.NTP, c.NoNTP = nil, v == "off"
			for _, h := range strings.Split(v, ",") {
				if h == "" || c.NoNTP {
					continue
				}
				if _, _, err := net.SplitHostPort(h); err != nil {
					h = net.JoinHostPort(h, "123")
				}
				c.NTP = append(c.NTP, h)
			}
		case "pk.listen":
			c.Listen = v
		case "pk.join":
			c.Join = nil
			for _, j := range strings.Split(v, ",") {
				if j != "" {
					c.Join = append(c.Join, j)
				}
			}
		case "pk.token":
			c.Token = v
		case "pk.data":
			c.DataDev = v
		case "pk.shell":
			c.Shell = v == "1" || v == "true" || v == "yes"
		case "pk.onexit":
			if v != "poweroff" && v != "reboot" {
				return c, fmt.Errorf("pk.onexit=%q: want poweroff or reboot", v)
			}
			c.OnExit = v
		case "pk.loglevel":
			c.LogLevel = v
		case "pk.try":
			c.Try = v
		case "pk.image":
			c.Image = v
		case "pk.health":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("pk.health=%q: want a duration like 90s", v)
			}
			c.Health = d
		}
	}
	return c, nil
}

func parseStatic(v string) (Static, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Static{}, fmt.Errorf("pk.ip=%q: want IFACE:ADDR/PREFIX[:GATEWAY]", v)
	}
	p, err := netip.ParsePrefix(parts[1])
	if err != nil || !p.Addr().Is4() {
		return Static{}, fmt.Errorf("pk.ip=%q: bad IPv4 address/prefix", v)
	}
	st := Static{Iface: parts[0], Prefix: p}
	if len(parts) == 3 {
		gw, err := netip.ParseAddr(parts[2])
		if err != nil || !gw.Is4() {
			return Static{}, fmt.Errorf("pk.ip=%q: bad gateway", v)
		}
		st.Gateway = gw
	}
	return st, nil
}

// DefaultPort is the mesh port of a booted node.
const DefaultPort = 7370

// RunArgs is the `pkhost run` command line for this configuration and data
// directory.
func (c Config) RunArgs(data string) []string {
	listen := c.Listen
	if listen == "" {
		listen = "0.0.0.0:7370"
	}
	args := []string{"run", "--data", data, "--listen", listen, "--log-level", c.LogLevel}
	if len(c.Join) > 0 {
		args = append(args, "--join", strings.Join(c.Join, ","))
	}
	if c.Token != "" {
		args = append(args, "--token", c.Token)
	}
	if c.API != "" {
		args = append(args, "--api", c.API)
	}
	return args
}
