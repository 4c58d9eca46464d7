package pid1

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p-kernel/p-kernel/host/sntp"
)

// The clock: a machine without a battery-backed clock (a Raspberry Pi)
// starts in 1970, where the cluster's certificates are not valid yet and
// the node could join nothing (host/mesh checks validity periods).

// DefaultNTP is asked last when pk.ntp names no time server.
const DefaultNTP = "pool.ntp.org:123"

// leaseNTP holds the time servers the latest DHCP lease offered.
var leaseNTP struct {
	sync.Mutex
	addrs []netip.Addr
}

func setClock(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

// floorClock sets a clock that reads earlier than this build to the build
// time (nothing before it can be true) and reports whether it did.
func floorClock(log *slog.Logger) bool {
	bt := BuildTime()
	now := time.Now()
	if !now.Before(bt) {
		return false
	}
	if err := setClock(bt); err != nil {
		log.Error("pid1: the clock is before this build and cannot be set", "clock", now, "err", err)
		return true
	}
	log.Warn("pid1: the clock was before this build (no real-time clock?): set to the build time until a time server answers", "was", now.UTC(), "now", bt)
	return true
}

// ntpServers are pk.ntp's servers; else the lease's, then DefaultNTP, and
// if this machine's clock was known to be wrong, the seeds of pk.join last
// (a mesh answers time requests on its port, so a cluster with no way out
// still agrees on the time). A machine whose clock looked right does not
// take a seed's time: the seed may be the one that is wrong.
func ntpServers(cfg Config, wrong bool) []string {
	if len(cfg.NTP) > 0 {
		return cfg.NTP
	}
	leaseNTP.Lock()
	defer leaseNTP.Unlock()
	var s []string
	for _, a := range leaseNTP.addrs {
		s = append(s, net.JoinHostPort(a.String(), "123"))
	}
	s = append(s, DefaultNTP)
	if wrong {
		s = append(s, cfg.Join...)
	}
	return s
}

// syncClock asks the servers in turn and steps the clock by the first
// answer's offset when it is off by more than a second. Servers that do not
// answer are logged as warnings, or as debug messages if quiet (an offline
// machine retries every minute).
func syncClock(ctx context.Context, log *slog.Logger, servers []string, quiet bool) bool {
	level := slog.LevelWarn
	if quiet {
		level = slog.LevelDebug
	}
	for _, s := range servers {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		off, err := sntp.Offset(qctx, s)
		cancel()
		if err != nil {
			log.Log(ctx, level, "pid1: time server did not answer", "server", s, "err", err)
			continue
		}
		if off.Abs() <= time.Second {
			log.Debug("pid1: clock in step with the time server", "server", s, "offset", off)
			return true
		}
		if err := setClock(time.Now().Add(off)); err != nil {
			log.Error("pid1: setting the clock", "server", s, "offset", off, "err", err)
			return false
		}
		log.Info("pid1: clock set by NTP", "server", s, "offset", off.Round(time.Millisecond))
		return true
	}
	return false
}

// keepClock syncs the clock at once (waiting for it when the clock is
// known to be wrong or servers were named: the node should start with the
// right time) and then every hour, or every minute until one succeeds.
func keepClock(ctx context.Context, log *slog.Logger, cfg Config, wrong bool) {
	if cfg.NoNTP {
		return
	}
	waited := wrong || len(cfg.NTP) > 0
	ok := waited && syncClock(ctx, log, ntpServers(cfg, wrong), false)
	go func() {
		if !waited {
			ok = syncClock(ctx, log, ntpServers(cfg, wrong), false)
		}
		for {
			wait := time.Hour
			if !ok {
				wait = time.Minute
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			ok = syncClock(ctx, log, ntpServers(cfg, wrong), !ok)
		}
	}()
}
