package pid1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/p-kernel/p-kernel/host/api"
)

// Runner runs one pkhost command line (the pkhost CLI's Run).
type Runner func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// DataMount is where the persistent partition (or the RAM file system) is
// mounted; the node's data directory is DataMount/pkhost.
const DataMount = "/perm"

// Main is pkhost as PID 1. It never returns: it powers off or reboots.
func Main(run Runner) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid1", true)
	code := boot(log, run)
	log.Info("pid1: syncing and unmounting", "then", code)
	unix.Sync()
	unix.Unmount(DataMount, 0)
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	switch code {
	case "reboot":
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	case "kexec":
		cmd = unix.LINUX_REBOOT_CMD_KEXEC
	}
	if err := unix.Reboot(cmd); err != nil {
		log.Error("pid1: reboot(2) failed", "then", code, "err", err)
		if cmd == unix.LINUX_REBOOT_CMD_KEXEC {
			unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART) // the installed image comes back
		}
	}
	// PID 1 must not exit (the kernel would panic); panic=10 on the command
	// line turns a stuck power-off into a reboot at worst.
	select {}
}

// boot does the work of Main and says what to do at the end: "poweroff",
// "reboot" or "kexec" (an image was loaded with kexec_file_load).
func boot(log *slog.Logger, run Runner) string {
	start := time.Now()
	if err := mountAll(); err != nil {
		log.Error("pid1: mounts", "err", err)
	}
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) // Ctrl-Alt-Del sends SIGINT to us
	clockWrong := floorClock(log)
	go reap()
	raw, _ := os.ReadFile("/proc/cmdline")
	cfg, err := ParseCmdline(string(raw))
	if err != nil {
		log.Error("pid1: kernel command line", "err", err)
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	log.Info("pid1: pkhost is PID 1", "kernel", release, "cmdline", strings.TrimSpace(string(raw)))
	loadModules(log, "/lib/modules/"+release)
	loadModules(log, "/lib/modules/any")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := setupNetwork(ctx, log, cfg)
	keepClock(ctx, log, cfg, clockWrong)
	if cfg.Listen == "" && addr.IsValid() {
		// The mesh advertises the address it listens on: a concrete one,
		// not 0.0.0.0, so that peers can reach this node.
		cfg.Listen = netip.AddrPortFrom(addr, DefaultPort).String()
	}

	data, fstype := mountData(log, cfg)
	persistent := fstype != "tmpfs"
	if fstype == "vfat" {
		// FAT holds no socket files: the control API listens on loopback
		// TCP instead (only pkhost runs on this machine).
		cfg.API = "127.0.0.1:7070"
	}
	u := &updater{log: log, persistent: persistent, running: cfg.Try + cfg.Image, trial: cfg.Try != "", window: cfg.Health, raw: string(raw)}
	if id := u.atBoot(); id != "" {
		if err := prepareKexec(id, "pk.image", string(raw), u.window); err != nil {
			log.Error("pid1: cannot chain-load the committed image: running the base image", "image", id, "err", err)
		} else {
			log.Info("pid1: chain-loading the committed image", "image", id)
			return "kexec"
		}
	}
	log.Info("pid1: starting the node", "since_boot", time.Since(start).Round(time.Millisecond), "image", orBase(u.running))

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGUSR1, unix.SIGUSR2)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan int, 1)
	go func() { done <- run(runCtx, cfg.RunArgs(data), nil, os.Stdout, os.Stderr) }()
	healthy := make(chan struct{})
	go func() {
		if awaitReady(runCtx, log, data) {
			close(healthy)
		}
	}()
	var window <-chan time.Time
	if u.trial {
		log.Info("pid1: trial of a new image: it must report healthy in time or the machine falls back", "image", u.running, "window", u.window)
		window = time.After(u.window)
	}

	then := make(chan string, 1)
	if cfg.Shell {
		go shell(runCtx, log, run, data, os.Stdin, os.Stdout, then, u)
	}
	var end string
	for end == "" {
		select {
		case s := <-sig:
			end = "poweroff"
			if s == unix.SIGINT || s == unix.SIGUSR2 { // Ctrl-Alt-Del, busybox's reboot signal
				end = "reboot"
			}
			log.Info("pid1: signal: stopping the node", "signal", s, "then", end)
		case end = <-then:
			log.Info("pid1: console: stopping the node", "then", end)
		case <-healthy:
			u.healthy()
			healthy, window = nil, nil
		case <-window:
			log.Error("pid1: the new image did not report healthy within its window: rebooting into the previous one", "image", u.running, "window", u.window)
			end = "reboot"
		case c := <-done:
			if u.trial && window != nil {
				log.Error("pid1: the node of the new image stopped by itself during its trial: rebooting into the previous one", "code", c, "image", u.running)
				return "reboot"
			}
			log.Error("pid1: the node stopped by itself", "code", c, "then", cfg.OnExit)
			return cfg.OnExit
		}
	}
	stopRun()
	select {
	case c := <-done:
		log.Info("pid1: node stopped", "code", c)
	case <-time.After(45 * time.Second):
		log.Error("pid1: the node did not stop within 45s")
	}
	if end == "kexec" {
		if err := prepareKexec(u.next, "pk.try", string(raw), u.window); err != nil {
			log.Error("pid1: loading the new image failed: rebooting", "image", u.next, "err", err)
			return "reboot"
		}
		log.Info("pid1: starting the new image", "image", u.next, "health_window", u.window)
	}
	return end
}

func orBase(id string) string {
	if id == "" {
		return "base"
	}
	return id
}

func mountAll() error {
	var errs []error
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, ""},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// reap waits for every child that ends, so orphans re-parented to PID 1 do
// not stay zombies.
func reap() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGCHLD)
	for range ch {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

// loadModules loads the kernel modules under dir in dependency order.
func loadModules(log *slog.Logger, dir string) {
	if _, err := os.Stat(dir); err != nil {
		return
	}
	mods, err := FindModules(os.DirFS("/"), strings.TrimPrefix(dir, "/"))
	if err != nil {
		log.Error("pid1: kernel modules", "err", err)
	}
	ordered, err := OrderModules(mods)
	if err != nil {
		log.Error("pid1: kernel modules", "err", err)
		ordered = mods
	}
	var loaded []string
	for _, m := range ordered {
		f, err := os.Open("/" + m.Path)
		if err != nil {
			log.Error("pid1: kernel module", "name", m.Name, "err", err)
			continue
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			log.Error("pid1: kernel module", "name", m.Name, "err", err)
			continue
		}
		loaded = append(loaded, m.Name)
	}
	if len(loaded) > 0 {
		log.Info("pid1: kernel modules loaded", "modules", strings.Join(loaded, ","))
	}
}

// setupNetwork brings up lo, configures the static addresses and starts DHCP
// on the other ethernet interfaces. It waits up to 10 s for interfaces to
// appear (drivers probe asynchronously) and up to 20 s for a first lease. It
// returns the first address configured (static ones first), if any.
func setupNetwork(ctx context.Context, log *slog.Logger, cfg Config) netip.Addr {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	static := map[string]Static{}
	for _, s := range cfg.Static {
		static[s.Iface] = s
	}
	var links []netlink.Link
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		links = ethernet()
		have := 0
		for _, l := range links {
			if _, ok := static[l.Attrs().Name]; ok {
				have++
			}
		}
		if (len(links) > 0 && have == len(static)) || time.Now().After(deadline) {
			break
		}
	}
	if len(links) == 0 {
		log.Warn("pid1: no network interface: the node runs alone")
		return netip.Addr{}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first netip.Addr
	)
	note := func(a netip.Addr) {
		mu.Lock()
		if !first.IsValid() {
			first = a
		}
		mu.Unlock()
	}
	for _, s := range cfg.Static {
		note(s.Prefix.Addr())
	}
	// Name servers: pk.dns if given, else the latest DHCP lease's.
	var dnsMu sync.Mutex
	resolv := func(servers []netip.Addr, from string) {
		dnsMu.Lock()
		defer dnsMu.Unlock()
		if err := writeResolvConf(ResolvConfPath, servers, from); err != nil {
			log.Error("pid1: writing "+ResolvConfPath, "err", err)
		}
	}
	if len(cfg.DNS) > 0 {
		resolv(cfg.DNS, "pk.dns")
		log.Info("pid1: name servers", "dns", cfg.DNS, "from", "pk.dns")
	}
	for _, l := range links {
		name := l.Attrs().Name
		if err := netlink.LinkSetUp(l); err != nil {
			log.Error("pid1: link up", "iface", name, "err", err)
			continue
		}
		if s, ok := static[name]; ok {
			if err := configure(l, s.Prefix, s.Gateway); err != nil {
				log.Error("pid1: static address", "iface", name, "err", err)
			} else {
				log.Info("pid1: network up (static)", "iface", name, "addr", s.Prefix, "gateway", s.Gateway)
			}
			continue
		}
		if cfg.NoDHCP {
			continue
		}
		wg.Add(1)
		go func() {
			first := true
			var last *Lease
			for ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				lease, err := DHCP(dctx, name, l.Attrs().HardwareAddr, last)
				cancel()
				if err != nil {
					if first {
						log.Warn("pid1: no DHCP lease yet, still trying", "iface", name, "err", err)
						wg.Done()
						first = false
					}
					continue
				}
				if last == nil || last.Addr != lease.Addr {
					if last != nil {
						netlink.AddrDel(l, &netlink.Addr{IPNet: ipnet(last.Addr)})
					}
					if err := configure(l, lease.Addr, lease.Router); err != nil {
						log.Error("pid1: DHCP address", "iface", name, "err", err)
					}
				}
				note(lease.Addr.Addr())
				leaseNTP.Lock()
				leaseNTP.addrs = lease.NTP
				leaseNTP.Unlock()
				if len(cfg.DNS) == 0 && len(lease.DNS) > 0 && (last == nil || !slices.Equal(last.DNS, lease.DNS)) {
					resolv(lease.DNS, "DHCP on "+name)
				}
				log.Info("pid1: network up (DHCP)", "iface", name, "addr", lease.Addr, "gateway", lease.Router, "server", lease.Server, "dns", lease.DNS, "lease", lease.Expires)
				last = lease
				if first {
					wg.Done()
					first = false
				}
				select {
				case <-ctx.Done():
				case <-time.After(lease.Expires / 2):
				}
			}
		}()
	}
	ok := make(chan struct{})
	go func() { wg.Wait(); close(ok) }()
	select {
	case <-ok:
	case <-time.After(20 * time.Second):
		log.Warn("pid1: DHCP still running after 20s; starting the node anyway")
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// ethernet lists the non-loopback links.
func ethernet() []netlink.Link {
	all, _ := netlink.LinkList()
	var out []netlink.Link
	for _, l := range all {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 {
			continue
		}
		out = append(out, l)
	}
	return out
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func configure(l netlink.Link, p netip.Prefix, gw netip.Addr) error {
	if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: ipnet(p)}); err != nil {
		return err
	}
	if gw.Is4() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// mountData mounts the persistent data partition on DataMount, or a tmpfs
// when there is none, and returns the node's data directory and the file
// system type mounted ("tmpfs" when the data is in RAM).
func mountData(log *slog.Logger, cfg Config) (string, string) {
	os.MkdirAll(DataMount, 0o755)
	data := filepath.Join(DataMount, "pkhost")
	dev, fstype := cfg.DataDev, ""
	// Disks may show up a little after the kernel starts init: wait for a
	// named device, and a little for a labelled one.
	wait := 500 * time.Millisecond
	if cfg.DataDev != "" {
		wait = 5 * time.Second
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		if dev == "" {
			dev, fstype = FindDataPartition("/sys/class/block", "/dev")
		} else if fstype == "" {
			fstype = probeFS(dev)
		}
		if fstype != "" || time.Now().After(deadline) {
			break
		}
		if cfg.DataDev == "" {
			dev = ""
		}
	}
	if dev != "" && fstype != "" {
		opts := ""
		if fstype == "vfat" {
			opts = "quiet,utf8,shortname=mixed" // quiet: chmod and chown succeed (FAT has no modes)
		}
		flags := uintptr(unix.MS_NOATIME)
		if fstype == "vfat" {
			// FAT has no journal: a power cut between writing a directory
			// entry and the allocation table it points into leaves a
			// broken file system (a killed VM then failed "mkdir: input/
			// output error"). DIRSYNC makes creating, renaming and
			// removing entries synchronous; they are few on a node.
			flags |= unix.MS_DIRSYNC
		}
		if err := unix.Mount(dev, DataMount, fstype, flags, opts); err == nil {
			log.Info("pid1: data on a persistent partition", "device", dev, "fs", fstype, "dir", data)
			os.MkdirAll(data, 0o700)
			return data, fstype
		} else {
			log.Error("pid1: mounting the data partition", "device", dev, "fs", fstype, "err", err)
		}
	} else if cfg.DataDev != "" {
		log.Error("pid1: pk.data: no ext4 or vfat file system found", "device", cfg.DataDev)
	}
	unix.Mount("tmpfs", DataMount, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755")
	log.Warn("pid1: no persistent partition (ext4 labelled pkdata, or vfat PKDATA): the node's data is in RAM and is lost at power off", "dir", data)
	os.MkdirAll(data, 0o700)
	return data, "tmpfs"
}

// awaitReady logs "pid1: ready" once the node answers on its control
// socket and all its modules run, and reports whether it got there.
func awaitReady(ctx context.Context, log *slog.Logger, data string) bool {
	for ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		c, err := api.Dial(data)
		if err != nil {
			continue
		}
		mods, err := c.Modules(ctx)
		if err != nil {
			continue
		}
		var names []string
		all := true
		for _, m := range mods {
			names = append(names, m.Name+"="+m.State)
			all = all && m.State == "running"
		}
		if !all {
			continue
		}
		log.Info("pid1: ready", "modules", strings.Join(names, ","))
		return true
	}
	return false
}

// shell reads pkhost commands from the console, one a line, and runs them
// against the node (`module ls`, `nodes`, …); `poweroff` and `reboot` stop
// the node and the machine.
//
// Two more commands drive self-updates: `image publish KERNEL INITRAMFS
// [CMDLINE]` stores an image in p-fs and prints its id; `update ID` fetches
// image ID by hash and boots it on trial.
func shell(ctx context.Context, log *slog.Logger, run Runner, data string, in io.Reader, out io.Writer, then chan<- string, u *updater) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		words := SplitCmdline(sc.Text())
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "poweroff", "reboot":
			then <- words[0]
			return
		case "image":
			if len(words) < 4 || words[1] != "publish" {
				fmt.Fprintf(out, "pk$ %s: usage: image publish KERNEL INITRAMFS [CMDLINE]: exit 2\n", strings.Join(words, " "))
				continue
			}
			id, err := publishImage(ctx, data, words[2], words[3], strings.Join(words[4:], " "))
			if err != nil {
				fmt.Fprintf(out, "image publish: %v\n", err)
			} else {
				fmt.Fprintf(out, "image %s\n", id)
			}
			fmt.Fprintf(out, "pk$ %s: exit %d\n", strings.Join(words, " "), exitCode(err))
			continue
		case "update":
			if len(words) != 2 {
				fmt.Fprintf(out, "pk$ %s: usage: update IMAGE_ID: exit 2\n", strings.Join(words, " "))
				continue
			}
			err := u.begin(ctx, data, words[1], out)
			if err != nil {
				fmt.Fprintf(out, "update: %v\n", err)
			}
			fmt.Fprintf(out, "pk$ %s: exit %d\n", strings.Join(words, " "), exitCode(err))
			if err == nil {
				u.next = words[1]
				then <- "kexec"
				return
			}
			continue
		}
		args := append(append([]string(nil), words...), "--data", data)
		code := run(ctx, args, strings.NewReader(""), out, out)
		fmt.Fprintf(out, "pk$ %s: exit %d\n", strings.Join(words, " "), code)
	}
}

func exitCode(err error) int {
	if err != nil {
		return 1
	}
	return 0
}
