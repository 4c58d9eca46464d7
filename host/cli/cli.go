// Package cli is the pkhost command line: `pkhost run` starts a node; every
// other command talks to a running node over its control API (host/api). A
// node is addressed by its data directory: --data, else $PKHOST_DATA, else
// a per-user default (see [DefaultDataDir]).
//
// Imports: host/node, host/api, host/actor, abi, the stdlib.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/host/node"
)

// DefaultDataDir is $PKHOST_DATA, else $XDG_DATA_HOME/pkhost, else
// ~/.local/share/pkhost (on macOS and Windows: the user config directory).
func DefaultDataDir() string {
	if d := os.Getenv("PKHOST_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "pkhost")
	}
	if goruntime.GOOS == "darwin" || goruntime.GOOS == "windows" {
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, "pkhost")
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "pkhost")
	}
	return filepath.Join(os.TempDir(), "pkhost-"+fmt.Sprint(os.Getuid()))
}

// DefaultListen is the mesh address of `pkhost run` without --listen.
const DefaultListen = "0.0.0.0:7370"

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

const usage = `pkhost: the p-kernel host.

Usage:
  pkhost run [--data DIR] [--api ADDR] [--listen HOST:PORT] [--join HOST:PORT --token T]
             [--interpreter] [--log-level LEVEL]
  pkhost status [--json]
  pkhost token
  pkhost nodes [--json]
  pkhost module ls
  pkhost module load NAME FILE.wasm [--grant G,G] [--memory MIB] [--budget MS] [--mailbox N]
  pkhost module swap NAME FILE.wasm [same flags]
  pkhost module unload NAME [--purge]
  pkhost module logs NAME
  pkhost module call NAME [DATA]
  pkhost module deploy NAME FILE.wasm [--canary N] [--window D] [--guard N] [load flags]
  pkhost module history NAME
  pkhost module rollback NAME
  pkhost topic ls
  pkhost topic pub TOPIC [DATA] [--latest] [--stdin]
  pkhost topic sub TOPIC [-n N] [--prefix] [--json]
  pkhost fs put FILE [NAME]          (FILE - reads standard input)
  pkhost fs get NAME|ID [OUT] [--version N]
  pkhost fs cat NAME|ID [--version N]
  pkhost fs ls [PREFIX]
  pkhost fs log NAME
  pkhost fs rm NAME
  pkhost fs stat [NAME]
  pkhost fs repair [--deep]
  pkhost fs gc [--keep-last N] [--keep-for D] [--all-nodes]
  pkhost version

Every command takes --data DIR (default $PKHOST_DATA or a per-user directory);
fs commands take --ns NAMESPACE (default files) and --quiet (no progress).
`

// Run runs pkhost with args (without the program name) and returns the exit
// code.
func Run(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 {
		fmt.Fprint(io.Err, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], io)
	case "status":
		err = cmdStatus(ctx, args[1:], io)
	case "token":
		err = cmdToken(ctx, args[1:], io)
	case "nodes":
		err = cmdNodes(ctx, args[1:], io)
	case "module", "modules":
		err = cmdModule(ctx, args[1:], io)
	case "topic", "topics":
		err = cmdTopic(ctx, args[1:], io)
	case "fs":
		err = cmdFS(ctx, args[1:], io)
	case "version", "--version":
		fmt.Fprintf(io.Out, "pkhost %s (pk ABI v%d.%d, %s, %s/%s)\n", node.Version, abi.Major, abi.Minor, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	case "help", "-h", "--help":
		fmt.Fprint(io.Out, usage)
	default:
		fmt.Fprintf(io.Err, "pkhost: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(io.Err, "pkhost %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// flags returns a FlagSet with the common --data flag.
func flags(name string, io IO) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	data := fs.String("data", DefaultDataDir(), "data directory of the node")
	return fs, data
}

// parse parses flags that may appear before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdRun(ctx context.Context, args []string, io IO) error {
	fs, data := flags("run", io)
	addr := fs.String("api", "", "control API address: empty = unix socket in the data directory, or a loopback HOST:PORT")
	interp := fs.Bool("interpreter", false, "use wazero's interpreter instead of its compiler")
	charging := fs.Bool("only-while-charging", false, "take guarded modules only while on external power (phones, laptops)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	listen := fs.String("listen", DefaultListen, `UDP address of the cluster mesh ("off": run alone)`)
	join := fs.String("join", "", "seed address(es) of a cluster to join, comma-separated")
	token := fs.String("token", "", "the cluster's join token (pkhost token on a member prints it)")
	joinTimeout := fs.Duration("join-timeout", time.Minute, "give up joining after this long")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *level, err)
	}
	log := slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: lv}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	l, err := api.Listen(*data, *addr)
	if err != nil {
		return err
	}
	// PKHOST_COMPILE_CACHE lets several nodes (tests, a laptop running a
	// few) share compiled machine code.
	cfg := node.Config{DataDir: *data, Logger: log, Interpreter: *interp,
		CompileCacheDir: os.Getenv("PKHOST_COMPILE_CACHE"), Token: *token,
		FastCluster: os.Getenv("PKHOST_FAST_CLUSTER") != "", JoinTimeout: *joinTimeout}
	// PKHOST_PFS_REPAIR_EVERY and PKHOST_PFS_SCRUB_EVERY: the periods of
	// p-fs's background repair and scrub, or "off".
	cfg.PFSRepairEvery = envPeriod(log, "PKHOST_PFS_REPAIR_EVERY")
	cfg.PFSScrubEvery = envPeriod(log, "PKHOST_PFS_SCRUB_EVERY")
	if *listen != "off" {
		cfg.Listen = *listen
	}
	powerConfig(&cfg, *charging)
	if f := os.Getenv("PKHOST_FAULT_FILE"); f != "" {
		log.Warn("fault injection on: mesh traffic to and from the addresses listed in the file is dropped", "file", f)
		cfg.Filter = faultFilter(f)
	}
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		l.Close()
		return err
	}
	// Shutdown cancels every request's context: the long-lived streams
	// (subscribe, events) end instead of holding it up; other requests in
	// flight see the node stopping.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &http.Server{Handler: api.Handler(n), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return streams }}
	srv.RegisterOnShutdown(endStreams)
	go srv.Serve(l)
	log.Info("node running", "id", n.ID(), "data", *data, "api", l.Addr().String(), "modules", len(n.Actors().Actors()))
	<-ctx.Done()
	log.Info("stopping: saving module state")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	os.Remove(filepath.Join(*data, "api"))
	err = n.Close(sctx)
	log.Info("stopped")
	return err
}

func dial(data string) (*api.Client, error) { return api.Dial(data) }

// connect parses a subcommand's flags and positional arguments (want of
// them, or any number if want < 0; usage explains them), then dials the node.
func connect(fs *flag.FlagSet, data *string, args []string, want int, usage string) ([]string, *api.Client, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if want >= 0 && len(pos) != want {
		if usage == "" {
			usage = "unexpected arguments"
		}
		return nil, nil, errors.New(usage)
	}
	c, err := dial(*data)
	return pos, c, err
}

// faultFilter drops mesh traffic to and from the "host:port" lines of a
// file, re-read at most every 100 ms: tests cut and heal links between
// pkhost processes with it (PKHOST_FAULT_FILE). Never set it in production.
func faultFilter(path string) func(net.Addr) bool {
	var mu sync.Mutex
	var blocked map[string]bool
	var readAt time.Time
	return func(a net.Addr) bool {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(readAt) > 100*time.Millisecond {
			readAt = time.Now()
			blocked = map[string]bool{}
			if b, err := os.ReadFile(path); err == nil {
				for _, l := range strings.Fields(string(b)) {
					blocked[l] = true
				}
			}
		}
		return !blocked[a.String()]
	}
}

func cmdStatus(ctx context.Context, args []string, io IO) error {
	fs, data := flags("status", io)
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	_, c, err := connect(fs, data, args, 0, "")
	if err != nil {
		return err
	}
	raw, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		var v any
		json.Unmarshal(raw, &v)
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	var st node.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "node %s  pkhost %s  ABI v%s  %s  up %s\n", st.Node.ID, st.Node.Version, st.Node.ABI, st.Node.Platform,
		(time.Duration(st.Node.UptimeSec) * time.Second).String())
	fmt.Fprintf(io.Out, "data %s  engine %s  heap %s  guests %s\n", st.Node.DataDir, st.Node.Engine, size(st.Node.HeapBytes), size(st.Node.GuestBytes))
	printPower(io.Out, st.Power)
	fmt.Fprintln(io.Out)
	if st.Cluster != nil {
		ci := st.Cluster
		fmt.Fprintf(io.Out, "cluster: leader %s  term %d  voters %d  members %d alive of %d  degrade %s  mesh %s\n\n",
			orNone(ci.Leader), ci.Consensus.Term, ci.Consensus.Voters, ci.Alive, len(ci.Members), ci.Degrade, ci.Addr)
	}
	printModules(io.Out, st.Modules)
	fmt.Fprintf(io.Out, "\nbus: %d topics, %d published, %d delivered, %d dropped\n", st.Bus.Topics, st.Bus.Published, st.Bus.Delivered, st.Bus.Dropped)
	for _, m := range st.Modules {
		if m.LastError != "" && m.State != actor.StateRunning {
			fmt.Fprintf(io.Out, "! %s %s: %s\n", m.Name, m.State, m.LastError)
		}
	}
	return nil
}

func size(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

func printModules(w io.Writer, mods []actor.Status) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tVERSION\tSTATE\tEVENTS\tERRORS\tCRASHES\tRESTARTS\tMAILBOX\tDROPPED\tMEMORY")
	for _, m := range mods {
		v := m.Version
		if len(v) > 12 {
			v = v[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d/%d\t%d\t%s\n", m.Name, v, m.State, m.Events, m.HandlerErrors,
			m.Crashes, m.Restarts, m.Mailbox, m.MailboxCap, m.Dropped, size(m.MemoryBytes))
	}
	tw.Flush()
}

func moduleFlags(name string, io IO) (*flag.FlagSet, *string, *actor.Manifest, *string) {
	fs, data := flags(name, io)
	m := &actor.Manifest{}
	grants := fs.String("grant", "", "capability groups, comma-separated (default: all but node and fs): "+groupList())
	fs.Func("memory", "memory limit in MiB (default 128)", func(s string) error { return uintFlag(s, &m.MemoryMiB) })
	fs.Func("budget", "time budget per event in ms (default 1000)", func(s string) error { return uintFlag(s, &m.BudgetMS) })
	fs.IntVar(&m.Mailbox, "mailbox", 0, "mailbox length (default 1024)")
	return fs, data, m, grants
}

func groupList() string {
	var gs []string
	for _, g := range abi.Groups() {
		gs = append(gs, string(g))
	}
	return strings.Join(gs, ",")
}

func uintFlag(s string, v *uint32) error {
	var n uint32
	if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSuffix(s, "MiB"), "ms"), &n); err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = n
	return nil
}

func cmdModule(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 {
		return errors.New("want a subcommand: ls, load, swap, unload, logs, call")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "ls", "list":
		fs, data := flags("module ls", io)
		_, c, err := connect(fs, data, args, 0, "")
		if err != nil {
			return err
		}
		mods, err := c.Modules(ctx)
		if err != nil {
			return err
		}
		printModules(io.Out, mods)
		return nil
	case "load", "swap":
		fs, data, m, grants := moduleFlags("module "+sub, io)
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return fmt.Errorf("usage: pkhost module %s NAME FILE.wasm", sub)
		}
		m.Name = pos[0]
		if *grants != "" {
			for _, g := range strings.Split(*grants, ",") {
				m.Grants = append(m.Grants, abi.Group(strings.TrimSpace(g)))
			}
		}
		wasm, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		c, err := dial(*data)
		if err != nil {
			return err
		}
		if sub == "load" {
			st, err := c.Load(ctx, *m, wasm)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "loaded %s version %s (%s)\n", st.Name, st.Version[:12], st.State)
			return nil
		}
		res, err := c.Swap(ctx, *m, wasm)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "swapped %s %s -> %s: paused %v, %d queued events handed over, %d bytes of state\n",
			m.Name, res.From[:12], res.To[:12], res.Pause, res.Queued, res.StateBytes)
		return nil
	case "deploy":
		fs, data, m, grants := moduleFlags("module deploy", io)
		canary := fs.Int("canary", 0, "run on N nodes first, watch them for --window, then everywhere")
		window := fs.Duration("window", 10*time.Second, "canary health window")
		guard := fs.Int("guard", 0, "run on N nodes only, re-placed when one dies (0: everywhere)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return errors.New("usage: pkhost module deploy NAME FILE.wasm [--canary N]")
		}
		m.Name = pos[0]
		if *grants != "" {
			for _, g := range strings.Split(*grants, ",") {
				m.Grants = append(m.Grants, abi.Group(strings.TrimSpace(g)))
			}
		}
		wasm, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		c, err := dial(*data)
		if err != nil {
			return err
		}
		if *canary > 0 {
			fmt.Fprintf(io.Err, "deploying %s to %d canary node(s), watching for %v...\n", m.Name, *canary, *window)
		}
		res, err := c.Deploy(ctx, *m, wasm, node.DeployOptions{Canary: *canary, Window: *window, Guard: *guard})
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "deployed %s version %s (%s)\n", m.Name, res.Version[:12], res.Phase)
		return nil
	case "history":
		fs, data := flags("module history", io)
		pos, c, err := connect(fs, data, args, 1, "usage: pkhost module history NAME")
		if err != nil {
			return err
		}
		h, err := c.History(ctx, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GENERATION\tVERSION\tPHASE\tWRITTEN BY\tNOTE")
		for _, r := range h.History {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Generation, r.Version[:12], r.Phase, r.Clock.Node, r.Note)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t(current)\n", h.Generation, h.Version[:12], h.Phase, h.Clock.Node)
		return tw.Flush()
	case "rollback":
		fs, data := flags("module rollback", io)
		pos, c, err := connect(fs, data, args, 1, "usage: pkhost module rollback NAME")
		if err != nil {
			return err
		}
		if err := c.Rollback(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "rolled back %s\n", pos[0])
		return nil
	case "unload":
		fs, data := flags("module unload", io)
		purge := fs.Bool("purge", false, "also delete the module's key-value store")
		pos, c, err := connect(fs, data, args, 1, "usage: pkhost module unload NAME")
		if err != nil {
			return err
		}
		if err := c.Unload(ctx, pos[0], *purge); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "unloaded %s\n", pos[0])
		return nil
	case "logs":
		fs, data := flags("module logs", io)
		pos, c, err := connect(fs, data, args, 1, "usage: pkhost module logs NAME")
		if err != nil {
			return err
		}
		lines, err := c.Logs(ctx, pos[0])
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintf(io.Out, "%s %-5s %s\n", l.Time.Format("15:04:05.000"), l.Level, l.Msg)
		}
		return nil
	case "call":
		fs, data := flags("module call", io)
		timeout := fs.Duration("timeout", 0, "call timeout (default 5s)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) < 1 || len(pos) > 2 {
			return errors.New("usage: pkhost module call NAME [DATA]")
		}
		c, err := dial(*data)
		if err != nil {
			return err
		}
		var req []byte
		if len(pos) == 2 {
			req = []byte(pos[1])
		}
		reply, err := c.Call(ctx, pos[0], req, *timeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "%s\n", reply)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q: want ls, load, swap, unload, logs, call, deploy, history, rollback", sub)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func cmdToken(ctx context.Context, args []string, io IO) error {
	fs, data := flags("token", io)
	_, c, err := connect(fs, data, args, 0, "")
	if err != nil {
		return err
	}
	t, err := c.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.Out, t)
	return nil
}

func cmdNodes(ctx context.Context, args []string, io IO) error {
	fs, data := flags("nodes", io)
	asJSON := fs.Bool("json", false, "print as JSON")
	_, c, err := connect(fs, data, args, 0, "")
	if err != nil {
		return err
	}
	ci, err := c.Nodes(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(ci)
	}
	voter := map[string]string{}
	for _, s := range ci.Consensus.Servers {
		voter[s.ID] = "non-voter"
		if s.Voter {
			voter[s.ID] = "voter"
		}
	}
	tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSTATE\tRAFT\tVERSION")
	for _, m := range ci.Members {
		role := voter[m.ID]
		if m.ID == ci.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Address, m.State, orNone(role), m.Meta.Version)
	}
	return tw.Flush()
}

func cmdTopic(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 {
		return errors.New("want a subcommand: ls, pub, sub")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "ls", "list":
		fs, data := flags("topic ls", io)
		_, c, err := connect(fs, data, args, 0, "")
		if err != nil {
			return err
		}
		ts, err := c.Topics(ctx)
		if err != nil {
			return err
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
		tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tKIND\tSCOPE\tSEQ\tPUBLISHED\tDELIVERED\tDROPPED\tSUBSCRIBERS")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", t.Name, t.Kind, t.Scope, t.Seq, t.Published, t.Delivered, t.Dropped, t.Subscribers)
		}
		return tw.Flush()
	case "pub", "publish":
		fs, data := flags("topic pub", io)
		latest := fs.Bool("latest", false, "publish to a latest-value topic")
		clusterScope := fs.Bool("cluster", false, "publish to a cluster-scoped latest-value topic (replicated to every node)")
		stdin := fs.Bool("stdin", false, "publish each line of standard input as one message")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		kind := ""
		if *latest {
			kind = "latest"
		}
		if *clusterScope {
			kind = "cluster"
		}
		c, err := dial(*data)
		if err != nil {
			return err
		}
		switch {
		case *stdin && len(pos) == 1:
			sc := bufio.NewScanner(io.In)
			sc.Buffer(make([]byte, 64<<10), abi.MaxPayload)
			n := 0
			for sc.Scan() {
				if _, err := c.Publish(ctx, pos[0], sc.Bytes(), kind); err != nil {
					return fmt.Errorf("message %d: %w", n+1, err)
				}
				n++
			}
			fmt.Fprintf(io.Err, "published %d messages\n", n)
			return sc.Err()
		case len(pos) == 2:
			seq, err := c.Publish(ctx, pos[0], []byte(pos[1]), kind)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "seq %d\n", seq)
			return nil
		}
		return errors.New("usage: pkhost topic pub TOPIC DATA | pkhost topic pub TOPIC --stdin")
	case "sub", "subscribe":
		fs, data := flags("topic sub", io)
		n := fs.Int("n", 0, "exit after N messages (0: run until interrupted)")
		prefix := fs.Bool("prefix", false, "TOPIC is a prefix (e.g. vital/)")
		asJSON := fs.Bool("json", false, "print each message as a JSON line")
		pos, c, err := connect(fs, data, args, 1, "usage: pkhost topic sub TOPIC [-n N]")
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		enc := json.NewEncoder(io.Out)
		err = c.Subscribe(ctx, pos[0], *prefix, *n, nil, func(ev api.Event) error {
			if *asJSON {
				return enc.Encode(ev)
			}
			if *prefix {
				_, err := fmt.Fprintf(io.Out, "%s %s\n", ev.Topic, ev.Payload())
				return err
			}
			_, err := fmt.Fprintf(io.Out, "%s\n", ev.Payload())
			return err
		})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown subcommand %q: want ls, pub, sub", sub)
}

// envPeriod reads a period from the environment: a duration, "off"
// (returned as -1), or unset (0: the default). A value that is neither is
// reported and ignored.
func envPeriod(log *slog.Logger, name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	if v == "off" {
		return -1
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		log.Warn("ignoring a bad period: want a positive duration or off", "var", name, "value", v)
		return 0
	}
	return d
}
