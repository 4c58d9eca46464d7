// Package node assembles one p-kernel node (tailscale's tsd in spirit): the
// data directory and identity, the wasm runtime with the pk syscalls, the
// bus, the durable store, the actor system, the first-party modules, and the
// modules the node ran before it stopped. It is the only package that knows
// every subsystem; the control API and the command sit on top of it.
//
// A Node is safe for concurrent use. Imports: every host package, abi.
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/embed"
	"github.com/p-kernel/p-kernel/host/internal/atomicfile"
	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/host/pfshost"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
	"github.com/p-kernel/p-kernel/host/syscall"
)

// Version is the pkhost version, set at link time with
// -ldflags "-X github.com/p-kernel/p-kernel/host/node.Version=...".
var Version = "dev"

// Config configures a node. DataDir is required.
type Config struct {
	DataDir     string
	Logger      *slog.Logger
	Interpreter bool // force wazero's interpreter
	// NoEmbedded skips the first-party modules (tests).
	NoEmbedded bool
	// CompileCacheDir holds compiled machine code (default
	// <DataDir>/cache/compiled). Nodes may share one.
	CompileCacheDir string
	Policy          actor.Policy

	// Listen is the UDP address of the cluster mesh; "" runs the node
	// alone, without the collective.
	Listen string
	// Join lists seed addresses of a cluster to join (with Token).
	Join  []string
	Token string
	// FastCluster shortens membership and raft timeouts (tests).
	FastCluster bool
	// PFSRepairEvery is the period of p-fs's background repair (0: one
	// minute; negative: no automatic repair).
	PFSRepairEvery time.Duration
	// PFSScrubEvery is the period of p-fs's background scrub of the local
	// blocks (0: 24 hours; negative: none).
	PFSScrubEvery time.Duration
	// JoinTimeout bounds joining (default 1 minute).
	JoinTimeout time.Duration
	// Filter, if set, drops mesh traffic to and from addresses (fault
	// injection for tests; see cli's PKHOST_FAULT_FILE).
	Filter func(net.Addr) bool

	// OnlyWhileCharging rests the node while it is not on external power
	// (see power.go). PowerSupplyDir is the sysfs power-supply class
	// (default /sys/class/power_supply; tests fake it) and PowerEvery how
	// often it is read (default 30 s).
	OnlyWhileCharging bool
	PowerSupplyDir    string
	PowerEvery        time.Duration
}

// Node is one running pkhost.
type Node struct {
	cfg Config

	sharedOnce sync.Once
	shared     *pfshost.SharedFS // /shared of modules granted fs
	key        ed25519.PrivateKey
	cl         *clusterState
	pw         *powerWatch
	id         string
	log        *slog.Logger
	start      time.Time
	rt         *runtime.Runtime
	bus        *bus.Bus
	store      *store.Store
	sys        *actor.System
}

// New opens the data directory and starts the node's subsystems and modules.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if cfg.CompileCacheDir == "" {
		cfg.CompileCacheDir = filepath.Join(cfg.DataDir, "cache", "compiled")
	}
	n := &Node{cfg: cfg, start: time.Now()}
	key, err := loadIdentity(cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	n.key = key
	n.id = mesh.NodeID(key.Public().(ed25519.PublicKey))
	n.log = cfg.Logger.With("node", n.id)
	n.store, err = store.Open(filepath.Join(cfg.DataDir, "state.db"))
	if err != nil {
		return nil, err
	}
	n.rt, err = runtime.New(ctx, runtime.Config{
		CacheDir:    cfg.CompileCacheDir,
		Interpreter: cfg.Interpreter,
		HostModules: syscall.Instantiate,
		Logger:      n.log,
	})
	if err != nil {
		n.store.Close()
		return nil, err
	}
	n.bus = bus.New()
	acfg := actor.Config{
		NodeID: n.id, Runtime: n.rt, Bus: n.bus, Store: n.store, Logger: n.log,
		Status:     func() []byte { b, _ := json.Marshal(n.Status()); return b },
		Policy:     cfg.Policy,
		Checkpoint: n.replicateCheckpoint,
		Mounts:     n.mounts,
	}
	if cfg.Listen != "" { // p-fs comes with the cluster
		acfg.FS = n.moduleFS
	}
	n.sys = actor.New(acfg)
	n.publishNode()
	n.startPower()
	n.restoreModules(ctx)
	if !cfg.NoEmbedded {
		n.loadEmbedded(ctx)
	}
	if cfg.Listen != "" {
		if err := n.startCluster(ctx); err != nil {
			n.Close(ctx)
			return nil, err
		}
	}
	return n, nil
}

// ID is the node id, derived from its Ed25519 public key.
func (n *Node) ID() string { return n.id }

// Bus is the node's message bus.
func (n *Node) Bus() *bus.Bus { return n.bus }

// Actors is the node's actor system.
func (n *Node) Actors() *actor.System { return n.sys }

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Close stops every module (their final snapshots are saved) and closes the
// runtime and the store.
func (n *Node) Close(ctx context.Context) error {
	n.stopPower()
	n.stopCluster()
	n.sys.Close(ctx)
	err := n.rt.Close(ctx)
	return errors.Join(err, n.store.Close())
}

// loadIdentity reads or creates the node's Ed25519 key. The node id is
// derived from its public key (mesh.NodeID: the first 80 bits of
// BLAKE3(public key) in lowercase base32).
//
// A key file of the wrong size (a power cut on a FAT partition once left
// an empty one) is moved aside to identity.key.bad and a new identity is
// made: a headless node that refused to start would reboot forever, while
// a node with a new identity joins again as a new member (the old one is
// declared dead and replaced).
func loadIdentity(dir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, "identity.key")
	seed, err := os.ReadFile(path)
	if err == nil && len(seed) != ed25519.SeedSize {
		log.Warn("identity: the key file is damaged: moved aside, and this node gets a new identity",
			"file", path, "bytes", len(seed), "want", ed25519.SeedSize, "moved_to", path+".bad")
		if err := os.Rename(path, path+".bad"); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		if err := atomicfile.Write(path, seed, 0o600); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// publishNode sets sys/node, the node's identity record.
func (n *Node) publishNode() {
	b, _ := json.Marshal(map[string]any{"id": n.id, "version": Version, "abi": fmt.Sprintf("%d.%d", abi.Major, abi.Minor),
		"go": goruntime.Version(), "os": goruntime.GOOS, "arch": goruntime.GOARCH})
	n.bus.Publish(nil, "sys/node", b, abi.KindLatest, 0)
}

// record is what the store keeps per loaded module.
type record struct {
	Manifest actor.Manifest `json:"manifest"`
	Embedded bool           `json:"embedded,omitempty"`
	Cluster  bool           `json:"cluster,omitempty"`  // placed by the cluster manifest
	Disabled bool           `json:"disabled,omitempty"` // an embedded module the user unloaded
}

func (n *Node) saveRecord(r record) error {
	b, _ := json.Marshal(r)
	return n.store.Put(store.NSManifests, []byte(r.Manifest.Name), b)
}

func (n *Node) records() map[string]record {
	out := map[string]record{}
	keys, _ := n.store.Keys(store.NSManifests, nil)
	for _, k := range keys {
		b, err := n.store.Get(store.NSManifests, k)
		var r record
		if err == nil && json.Unmarshal(b, &r) == nil {
			out[string(k)] = r
		}
	}
	return out
}

// restoreModules starts the modules the node ran when it stopped, each from
// its saved snapshot.
func (n *Node) restoreModules(ctx context.Context) {
	for name, r := range n.records() {
		if r.Disabled {
			continue
		}
		wasm, err := n.store.Get(store.NSModules, []byte(r.Manifest.Version))
		if err != nil {
			n.log.Error("cannot restore module: bytes missing", "module", name, "version", r.Manifest.Version, "err", err)
			continue
		}
		snap, _ := n.store.Get(store.NSSnapshots, []byte(name))
		if _, err := n.sys.Load(ctx, r.Manifest, wasm, snap); err != nil {
			n.log.Error("cannot restore module", "module", name, "err", err)
			continue
		}
		n.log.Info("module restored", "module", name, "version", r.Manifest.Version[:12], "state_bytes", len(snap))
	}
}

// loadEmbedded starts first-party modules not already running (a user's
// swapped version, restored above, wins) and not disabled by an unload.
func (n *Node) loadEmbedded(ctx context.Context) {
	recs := n.records()
	have := map[string]bool{}
	for _, m := range embed.Modules() {
		have[m.Name] = true
		if r, ok := recs[m.Name]; ok && (r.Disabled || !r.Embedded) {
			continue
		}
		if a, err := n.sys.Get(m.Name); err == nil {
			// Restored from the last run: if this binary embeds another
			// version, upgrade it in place, keeping its state.
			if a.Status().Version != runtime.HashOf(m.Wasm).String() {
				if _, err := n.swap(ctx, actor.Manifest{Name: m.Name, Grants: m.Grants}, m.Wasm, true, false); err != nil {
					n.log.Error("first-party module upgrade failed; the previous version runs on", "module", m.Name, "err", err)
				}
			}
			continue
		}
		if _, err := n.load(ctx, actor.Manifest{Name: m.Name, Grants: m.Grants}, m.Wasm, true, false); err != nil {
			n.log.Error("first-party module failed to start", "module", m.Name, "err", err)
		}
	}
	for _, name := range embed.Expected() {
		if !have[name] {
			n.log.Warn("first-party module not embedded in this binary (build with make)", "module", name)
		}
	}
}

// Load starts a module from its bytes and remembers it across restarts.
func (n *Node) Load(ctx context.Context, m actor.Manifest, wasm []byte) (actor.Status, error) {
	return n.load(ctx, m, wasm, false, false)
}

func (n *Node) load(ctx context.Context, m actor.Manifest, wasm []byte, embedded, fromCluster bool) (actor.Status, error) {
	m.Version = runtime.HashOf(wasm).String()
	if err := n.store.Put(store.NSModules, []byte(m.Version), wasm); err != nil {
		return actor.Status{}, err
	}
	// A fresh load starts from no state; a stale snapshot of an earlier
	// module with this name must not leak into it.
	n.store.Delete(store.NSSnapshots, []byte(m.Name))
	a, err := n.sys.Load(ctx, m, wasm, nil)
	if err != nil {
		return actor.Status{}, err
	}
	st := a.Status()
	m.Grants = st.Grants
	if err := n.saveRecord(record{Manifest: m, Embedded: embedded, Cluster: fromCluster}); err != nil {
		return st, err
	}
	n.log.Info("module loaded", "module", m.Name, "version", m.Version[:12])
	return st, nil
}

// Swap hot-swaps a running module to new bytes. Manifest fields left zero
// keep their current values.
func (n *Node) Swap(ctx context.Context, m actor.Manifest, wasm []byte) (actor.SwapResult, error) {
	return n.swap(ctx, m, wasm, false, false)
}

func (n *Node) swap(ctx context.Context, m actor.Manifest, wasm []byte, embedded, fromCluster bool) (actor.SwapResult, error) {
	cur, ok := n.records()[m.Name]
	if ok {
		m = merge(cur.Manifest, m)
	}
	m.Version = runtime.HashOf(wasm).String()
	if err := n.store.Put(store.NSModules, []byte(m.Version), wasm); err != nil {
		return actor.SwapResult{}, err
	}
	res, err := n.sys.Swap(ctx, m, wasm)
	if err != nil {
		return res, err
	}
	if err := n.saveRecord(record{Manifest: m, Embedded: embedded, Cluster: fromCluster || cur.Cluster}); err != nil {
		return res, err
	}
	n.log.Info("module swapped", "module", m.Name, "from", res.From[:12], "to", res.To[:12], "pause", res.Pause)
	return res, nil
}

func merge(cur, m actor.Manifest) actor.Manifest {
	if len(m.Grants) == 0 {
		m.Grants = cur.Grants
	}
	if m.MemoryMiB == 0 {
		m.MemoryMiB = cur.MemoryMiB
	}
	if m.BudgetMS == 0 {
		m.BudgetMS = cur.BudgetMS
	}
	if m.Mailbox == 0 {
		m.Mailbox = cur.Mailbox
	}
	if m.CheckpointMS == 0 {
		m.CheckpointMS = cur.CheckpointMS
	}
	return m
}

// Unload stops a module and forgets it; purge also deletes its key-value
// store. Unloading a first-party module keeps it unloaded across restarts.
func (n *Node) Unload(ctx context.Context, name string, purge bool) error {
	if err := n.sys.Unload(ctx, name); err != nil {
		return err
	}
	r, ok := n.records()[name]
	if ok && r.Embedded {
		r.Disabled = true
		n.saveRecord(r)
	} else {
		n.store.Delete(store.NSManifests, []byte(name))
	}
	if purge {
		return n.store.DropNamespace(store.KV(name))
	}
	return nil
}

// StatusJSON is Status for the control API.
func (n *Node) StatusJSON() any { return n.Status() }

// Manifest is the module manifest (re-exported for callers of Load).
type Manifest = actor.Manifest
