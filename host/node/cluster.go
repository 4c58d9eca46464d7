package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/member"
	"github.com/p-kernel/p-kernel/host/pfshost"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
	"github.com/p-kernel/p-kernel/pfs/vol"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/zeebo/blake3"
)

// clusterState is the node's part in the collective: the cluster handle
// and the reconciler that makes the node run what the manifest says.
type clusterState struct {
	c    *cluster.Cluster
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	reported map[string]string // module -> version already reported failed

	pfs atomic.Pointer[pfshost.Service] // set once p-fs is up
}

// ErrNoCluster is returned by cluster operations on a node running alone.
var ErrNoCluster = errors.New("this node is not part of a cluster (start it with --listen)")

func (n *Node) startCluster(ctx context.Context) error {
	cs := &clusterState{kick: make(chan struct{}, 1), done: make(chan struct{}), reported: map[string]string{}}
	n.cl = cs
	jt := n.cfg.JoinTimeout
	if jt <= 0 {
		jt = time.Minute
	}
	jctx, cancel := context.WithTimeout(ctx, jt)
	defer cancel()
	// Cluster topics restored from disk are applied during Open.
	n.bus.ClusterScope = true
	c, err := cluster.Open(jctx, cluster.Config{
		DataDir: filepath.Join(n.cfg.DataDir, "cluster"), Listen: n.cfg.Listen, Join: n.cfg.Join, Token: n.cfg.Token,
		Identity: n.key, Meta: member.Meta{Version: Version, Roles: n.roles()}, Logger: n.log,
		Fetch:   func(hash string) ([]byte, error) { return n.store.Get(store.NSModules, []byte(hash)) },
		Applied: func(uint64, manifest.Command, error) { cs.poke() },
		MembersChanged: func() {
			n.publishMembers()
			cs.poke()
			if p := cs.pfs.Load(); p != nil {
				p.MembersChanged()
			}
		},
		TopicChanged: func(topic string, v []byte, deleted bool) {
			if pfshost.IsNameTopic(topic) {
				if p := cs.pfs.Load(); p != nil {
					p.TopicChanged(topic, v, deleted)
				} // else: pfshost.Open reads the topics it missed
				return
			}
			if !deleted && !strings.HasPrefix(topic, ckptPrefix) {
				if e := n.bus.Apply(topic, v); e != abi.OK {
					n.log.Warn("cluster topic not applied", "topic", topic, "err", e)
				}
			}
		},
		Fast:   n.cfg.FastCluster,
		Filter: n.cfg.Filter,
	})
	if err != nil {
		n.cl = nil
		n.bus.ClusterScope = false
		return err
	}
	cs.c = c
	p, err := pfshost.Open(pfshost.Config{Dir: filepath.Join(n.cfg.DataDir, "pfs"), Cluster: c, Log: n.log.With("part", "pfs"),
		RepairEvery: n.cfg.PFSRepairEvery, ScrubEvery: n.cfg.PFSScrubEvery})
	if err != nil {
		c.Close()
		n.cl = nil
		n.bus.ClusterScope = false
		return fmt.Errorf("p-fs: %w", err)
	}
	cs.pfs.Store(p)
	cs.wg.Add(1)
	go n.publishBinary(cs)
	n.bus.Replicate = c.SetTopic
	n.publishMembers()
	cs.wg.Add(1)
	go n.reconcileLoop(cs)
	cs.poke()
	n.log.Info("cluster ready", "listen", c.Addr(), "leader", c.Info().Leader)
	return nil
}

func (cs *clusterState) poke() {
	select {
	case cs.kick <- struct{}{}:
	default:
	}
}

func (n *Node) stopCluster() {
	cs := n.cl
	if cs == nil || cs.c == nil {
		return
	}
	close(cs.done)
	cs.wg.Wait()
	if p := cs.pfs.Load(); p != nil {
		p.Close()
	}
	cs.c.Close()
}

// groupFS is the capability that gives a module p-fs.
const groupFS = abi.GroupFS

// mounts gives a module granted p-fs the shared namespace at /shared.
func (n *Node) mounts(m actor.Manifest) map[string]experimentalsys.FS {
	if !slices.Contains(m.Grants, groupFS) {
		return nil
	}
	n.sharedOnce.Do(func() {
		n.shared = pfshost.NewSharedFS(func() *vol.Volume {
			if p, err := n.FS(); err == nil {
				return p.Volume()
			}
			return nil
		}, pfshost.SharedNamespace, filepath.Join(n.cfg.DataDir, "pfs", "spool"))
	})
	return map[string]experimentalsys.FS{"/shared": n.shared}
}

// FS is the node's p-fs.
func (n *Node) FS() (*pfshost.Service, error) {
	if n.cl == nil || n.cl.c == nil {
		return nil, fmt.Errorf("p-fs: %w", ErrNoCluster)
	}
	if p := n.cl.pfs.Load(); p != nil {
		return p, nil
	}
	return nil, errors.New("p-fs is starting")
}

// moduleFS is p-fs for the fs syscalls (actor.Config.FS).
func (n *Node) moduleFS() (actor.PFS, error) {
	p, err := n.FS()
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return p, nil
}

// publishMembers publishes sys/members: the live members and the degrade
// level the host derives from them (FULL 3+, REDUCED 2, SOLO 1). The
// degrade module turns this into policy.
func (n *Node) publishMembers() {
	cs := n.cl
	if cs == nil || cs.c == nil {
		return
	}
	ms := cs.c.Members()
	alive := 0
	for _, m := range ms {
		if m.State == "alive" || m.State == "suspect" {
			alive++
		}
	}
	b, _ := json.Marshal(map[string]any{"alive": alive, "level": Level(alive), "members": ms})
	n.bus.Publish(nil, "sys/members", b, abi.KindLatest, 0)
}

// Level is the degrade level for a number of live nodes.
func Level(alive int) string {
	switch {
	case alive >= 3:
		return "FULL"
	case alive == 2:
		return "REDUCED"
	}
	return "SOLO"
}

// reconcileLoop makes the node run what the manifest says, after every
// manifest or membership change and every 2 s (to notice crash loops).
func (n *Node) reconcileLoop(cs *clusterState) {
	defer cs.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-cs.done:
			return
		case <-cs.kick:
		case <-t.C:
		}
		n.reconcile(cs)
	}
}

// target is the version this node should run of a module, or "" for none.
func (n *Node) target(m *manifest.Module) string {
	if m.Removed {
		return ""
	}
	if m.Placement.Mode == "guarded" && len(m.Placement.Nodes) > 0 && !slices.Contains(m.Placement.Nodes, n.id) {
		return ""
	}
	if m.Phase == manifest.PhaseCanary && !slices.Contains(m.Canary, n.id) {
		// Not a canary: keep running the last active version, if any.
		for i := len(m.History) - 1; i >= 0; i-- {
			if m.History[i].Phase == manifest.PhaseActive {
				return m.History[i].Version
			}
		}
		return ""
	}
	return m.Version
}

func (n *Node) reconcile(cs *clusterState) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := cs.c.Manifest()
	if cs.c.IsLeader() {
		n.tendPlacement(ctx, cs, st)
	}
	recs := n.records()
	for _, name := range st.Names() {
		m := st.Modules[name]
		n.prefetch(ctx, cs, m)
		want := n.target(m)
		a, err := n.sys.Get(name)
		running := err == nil
		switch {
		case want == "" && running && recs[name].Cluster:
			if err := n.Unload(ctx, name, false); err == nil {
				n.log.Info("module removed by the cluster manifest", "module", name)
			}
		case want == "":
		case !running:
			n.apply(ctx, cs, m, want, func(spec actor.Manifest, wasm []byte) error {
				if m.Placement.Mode == "guarded" {
					// Re-placed here: resume from the replicated checkpoint.
					snap, _ := cs.c.TopicValue(ckptPrefix + m.Name)
					return n.loadFrom(ctx, spec, wasm, snap)
				}
				_, err := n.load(ctx, spec, wasm, false, true)
				return err
			})
		case a.Status().Version != want:
			n.apply(ctx, cs, m, want, func(spec actor.Manifest, wasm []byte) error {
				_, err := n.swap(ctx, spec, wasm, false, true)
				return err
			})
		default:
			n.watchHealth(ctx, cs, m, a.Status())
		}
	}
}

// apply loads or swaps to version want, fetching the bytes if needed; a
// failure of the manifest's current version is reported as a rollback.
func (n *Node) apply(ctx context.Context, cs *clusterState, m *manifest.Module, want string, do func(actor.Manifest, []byte) error) {
	var spec actor.Manifest
	if len(m.Spec) > 0 {
		json.Unmarshal(m.Spec, &spec)
	}
	spec.Name = m.Name
	wasm, err := n.store.Get(store.NSModules, []byte(want))
	if err != nil {
		if wasm, err = n.fetchModule(ctx, cs, want); err == nil {
			err = n.store.Put(store.NSModules, []byte(want), wasm)
		}
	}
	if err == nil {
		err = do(spec, wasm)
	}
	if err != nil {
		n.log.Error("cannot run the manifest's version", "module", m.Name, "version", want[:12], "err", err)
		if want == m.Version {
			n.reportFailure(ctx, cs, m, fmt.Sprintf("failed to start on %s: %v", n.id, err))
		}
	}
}

// watchHealth reports a crash-looping current version for rollback.
func (n *Node) watchHealth(ctx context.Context, cs *clusterState, m *manifest.Module, st actor.Status) {
	if st.Version == m.Version && st.State == actor.StateQuarantined {
		n.reportFailure(ctx, cs, m, fmt.Sprintf("crash loop on %s: %s", n.id, st.LastError))
	}
}

// reportFailure proposes a cluster-wide rollback of m's current version,
// once per version.
func (n *Node) reportFailure(ctx context.Context, cs *clusterState, m *manifest.Module, why string) {
	cs.mu.Lock()
	done := cs.reported[m.Name] == m.Version
	cs.reported[m.Name] = m.Version
	cs.mu.Unlock()
	if done {
		return
	}
	err := cs.c.Propose(ctx, manifest.Command{Op: manifest.OpRollback, Name: m.Name, Note: why, Clock: n.clock()})
	n.log.Warn("version failed; rollback proposed", "module", m.Name, "version", m.Version[:12], "why", why, "err", err)
}

func (n *Node) clock() manifest.Clock {
	return manifest.Clock{Wall: time.Now().UnixMilli(), Node: n.id}
}

func (n *Node) cluster() (*cluster.Cluster, error) {
	if n.cl == nil || n.cl.c == nil {
		return nil, ErrNoCluster
	}
	return n.cl.c, nil
}

// DeployOptions are the options of a cluster-wide deploy.
type DeployOptions struct {
	Canary int           // run on this many nodes first
	Window time.Duration // health window of the canary (default 10 s)
	Guard  int           // run as a guarded module on this many nodes (0: everywhere)
}

// DeployResult reports a deploy.
type DeployResult struct {
	Version string   `json:"version"`
	Canary  []string `json:"canary,omitempty"`
	Phase   string   `json:"phase"`
	Note    string   `json:"note,omitempty"`
}

// Deploy puts a module version into the cluster manifest; every node
// fetches and runs it. With a canary it first runs on opts.Canary nodes and
// is promoted if none reports a failure within the window; a failure rolls
// it back everywhere.
func (n *Node) Deploy(ctx context.Context, spec actor.Manifest, wasm []byte, opts DeployOptions) (DeployResult, error) {
	c, err := n.cluster()
	if err != nil {
		return DeployResult{}, err
	}
	spec, err = spec.Normalize()
	if err != nil {
		return DeployResult{}, err
	}
	// Check that it compiles and its imports are granted before the cluster
	// sees it.
	if m, err := n.rt.Load(ctx, wasm, runtime.LoadOptions{Grants: spec.Grants, MaxMemoryPages: spec.MemoryMiB * 16}); err != nil {
		return DeployResult{}, err
	} else {
		m.Release(ctx)
	}
	version := runtime.HashOf(wasm).String()
	if err := n.store.Put(store.NSModules, []byte(version), wasm); err != nil {
		return DeployResult{}, err
	}
	n.storeModule(ctx, n.cl, version, wasm)
	spec.Version = ""
	specJSON, _ := json.Marshal(spec)
	cmd := manifest.Command{Op: manifest.OpDeploy, Name: spec.Name, Version: version, Spec: specJSON, Clock: n.clock()}
	if opts.Guard > 0 {
		cmd.Placement = &manifest.Placement{Mode: "guarded", Replicas: opts.Guard, Nodes: n.pick(c, opts.Guard)}
	}
	if opts.Canary > 0 {
		cmd.Canary = n.pick(c, opts.Canary)
	}
	if err := c.Propose(ctx, cmd); err != nil {
		return DeployResult{}, err
	}
	n.awaitLocal(ctx, c, func(s *manifest.State) bool {
		m := s.Modules[spec.Name]
		return m != nil && m.Version == version
	})
	res := DeployResult{Version: version, Canary: cmd.Canary, Phase: manifest.PhaseActive}
	if opts.Canary == 0 {
		return res, nil
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Second
	}
	select {
	case <-time.After(opts.Window):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	m := c.Manifest().Modules[spec.Name]
	if m == nil || m.Version != version || m.Phase != manifest.PhaseCanary {
		res.Phase = manifest.PhaseRolledBack
		if m != nil && len(m.History) > 0 {
			res.Note = m.History[len(m.History)-1].Note
		}
		return res, fmt.Errorf("canary failed and was rolled back: %s", res.Note)
	}
	if err := c.Propose(ctx, manifest.Command{Op: manifest.OpPromote, Name: spec.Name, Version: version, Clock: n.clock()}); err != nil {
		return res, err
	}
	return res, nil
}

// pick chooses k live nodes (this one first), by id order after it;
// resting nodes last.
func (n *Node) pick(c *cluster.Cluster, k int) []string {
	var ids []string
	for id := range c.Alive() {
		if id != n.id {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	ids = awakeFirst(append([]string{n.id}, ids...), n.restingNodes(c))
	if k > len(ids) {
		k = len(ids)
	}
	return ids[:k]
}

// Rollback returns a module to its previous version cluster-wide.
func (n *Node) Rollback(ctx context.Context, name string) error {
	c, err := n.cluster()
	if err != nil {
		return err
	}
	before := c.Manifest().Modules[name]
	err = c.Propose(ctx, manifest.Command{Op: manifest.OpRollback, Name: name, Note: "rolled back by an operator on " + n.id, Clock: n.clock()})
	if err == nil && before != nil {
		n.awaitLocal(ctx, c, func(s *manifest.State) bool {
			m := s.Modules[name]
			return m != nil && m.Generation > before.Generation
		})
	}
	return err
}

// awaitLocal waits (up to 10 s) until this node's copy of the manifest
// satisfies ok, so that a write acknowledged through the leader is visible
// here too (read-your-writes for the CLI).
func (n *Node) awaitLocal(ctx context.Context, c *cluster.Cluster, ok func(*manifest.State) bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !ok(c.Manifest()) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// ClusterManifest is this node's copy of the cluster manifest (nil when
// the node runs alone): a copy, safe to keep.
func (n *Node) ClusterManifest() *manifest.State {
	c, err := n.cluster()
	if err != nil {
		return nil
	}
	return c.Manifest()
}

// History returns a module's manifest entry with its history.
func (n *Node) History(name string) (*manifest.Module, error) {
	c, err := n.cluster()
	if err != nil {
		return nil, err
	}
	m := c.Manifest().Modules[name]
	if m == nil {
		return nil, fmt.Errorf("%w: %q is not in the cluster manifest", actor.ErrNotFound, name)
	}
	return m, nil
}

// Token returns the cluster's join token.
func (n *Node) Token() (string, error) {
	c, err := n.cluster()
	if err != nil {
		return "", err
	}
	return c.Token(), nil
}

// ClusterInfo returns the cluster part of status, or nil.
func (n *Node) ClusterInfo() *ClusterStatus {
	c, err := n.cluster()
	if err != nil {
		return nil
	}
	in := c.Info()
	alive := 0
	for _, m := range in.Members {
		if m.State == "alive" || m.State == "suspect" {
			alive++
		}
	}
	return &ClusterStatus{Info: in, Degrade: Level(alive), Alive: alive}
}

// ClusterStatus is the cluster section of the status document.
type ClusterStatus struct {
	cluster.Info
	Alive   int    `json:"alive"`
	Degrade string `json:"degrade"`
}

// ckptPrefix names the cluster topics that carry guarded modules'
// checkpoints (host-internal: not delivered to the bus).
const ckptPrefix = "sys/ckpt/"

// replicateCheckpoint spreads the snapshots of guarded modules to every
// node, so that a survivor can resume the module where it was.
func (n *Node) replicateCheckpoint(module string, snap []byte) {
	cs := n.cl
	if cs == nil || cs.c == nil {
		return
	}
	if m := cs.c.Manifest().Modules[module]; m != nil && m.Placement.Mode == "guarded" {
		cs.c.SetTopic(ckptPrefix+module, snap)
	}
}

// loadFrom starts a cluster-placed module from a given snapshot.
func (n *Node) loadFrom(ctx context.Context, spec actor.Manifest, wasm, snap []byte) error {
	spec.Version = runtime.HashOf(wasm).String()
	if _, err := n.sys.Load(ctx, spec, wasm, snap); err != nil {
		return err
	}
	n.log.Info("guarded module placed here, resumed from its checkpoint", "module", spec.Name, "state_bytes", len(snap))
	return n.saveRecord(record{Manifest: spec, Cluster: true})
}

// tendPlacement (leader only) keeps every guarded module on its number of
// live nodes: dead nodes are replaced by live ones, in id order, and
// resting nodes by awake ones (placeGuarded).
func (n *Node) tendPlacement(ctx context.Context, cs *clusterState, st *manifest.State) {
	alive := cs.c.Alive()
	var live []string
	for id := range alive {
		live = append(live, id)
	}
	sort.Strings(live)
	resting := n.restingNodes(cs.c)
	for _, name := range st.Names() {
		m := st.Modules[name]
		if m.Removed || m.Placement.Mode != "guarded" {
			continue
		}
		keep := placeGuarded(m.Placement.Nodes, live, resting, m.Placement.Replicas)
		if sameNodes(keep, m.Placement.Nodes) || len(keep) == 0 {
			continue
		}
		p := m.Placement
		p.Nodes = keep
		err := cs.c.Propose(ctx, manifest.Command{Op: manifest.OpPlace, Name: name, Placement: &p, Clock: n.clock()})
		n.log.Info("guarded module re-placed", "module", name, "nodes", keep, "err", err)
	}
}

// prefetch copies the bytes of a module's current version to this node even
// where it does not run it, so that the bytes survive the nodes that do
// (a guarded module re-placed after its node died needs them).
func (n *Node) prefetch(ctx context.Context, cs *clusterState, m *manifest.Module) {
	if m.Removed {
		return
	}
	if _, err := n.store.Get(store.NSModules, []byte(m.Version)); err == nil {
		return
	}
	if wasm, err := n.fetchModule(ctx, cs, m.Version); err == nil {
		n.store.Put(store.NSModules, []byte(m.Version), wasm)
	}
}

// moduleName is where a module version's bytes live in p-fs (namespace
// sys).
func moduleName(hash string) string { return "modules/" + hash }

// fetchModule gets a module version's bytes from p-fs, else (a version
// deployed before p-fs, or p-fs unable to read it) from any peer that has
// them; either way they are checked against the hash.
func (n *Node) fetchModule(ctx context.Context, cs *clusterState, hash string) ([]byte, error) {
	if p := cs.pfs.Load(); p != nil {
		f, err := p.Volume().Open(ctx, sysNamespace, moduleName(hash))
		if err == nil {
			wasm, rerr := io.ReadAll(f)
			f.Close()
			if rerr == nil && runtime.HashOf(wasm).String() == hash {
				return wasm, nil
			}
			err = rerr
		}
		n.log.Debug("module bytes not in p-fs; asking peers", "version", hash[:12], "err", err)
	}
	return cs.c.FetchModule(ctx, hash)
}

// storeModule puts a module version's bytes into p-fs, where every node
// can read them even after the deploying node is gone.
func (n *Node) storeModule(ctx context.Context, cs *clusterState, hash string, wasm []byte) {
	p := cs.pfs.Load()
	if p == nil {
		return
	}
	if _, err := p.Volume().Open(ctx, sysNamespace, moduleName(hash)); err == nil {
		return
	}
	if _, err := p.Volume().Put(ctx, sysNamespace, moduleName(hash), bytes.NewReader(wasm), nil); err != nil {
		n.log.Warn("module bytes not stored in p-fs; peers will serve them", "version", hash[:12], "err", err)
	}
}

// BinaryName is where p-fs keeps a pkhost binary: by the BLAKE3 of its
// bytes, so a node (or a boot image updating itself) fetches exactly the
// binary it asks for: pkhost fs get --ns sys bin/HASH/pkhost-OS-ARCH.
func BinaryName(hash string) string {
	return "bin/" + hash + "/pkhost-" + goruntime.GOOS + "-" + goruntime.GOARCH
}

// publishBinary puts this node's own executable into p-fs (namespace sys)
// unless the cluster has it already. It waits a little first, so that a
// joining node learns the names the cluster has before deciding.
func (n *Node) publishBinary(cs *clusterState) {
	defer cs.wg.Done()
	select {
	case <-cs.done:
		return
	case <-time.After(5 * time.Second):
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open(exe)
	if err != nil {
		return
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return
	}
	hash := hex.EncodeToString(h.Sum(nil))
	name := BinaryName(hash)
	p := cs.pfs.Load()
	if _, ok := p.Index().Latest(sysNamespace, name); ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-cs.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return
	}
	if _, err := p.Volume().Put(ctx, sysNamespace, name, f, nil); err != nil {
		n.log.Warn("pkhost binary not stored in p-fs", "err", err)
		return
	}
	n.log.Info("pkhost binary stored in p-fs", "ns", sysNamespace, "name", name)
}

// sysNamespace is the p-fs namespace of the system's own files.
const sysNamespace = "sys"
