package actor

import (
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
)

// Errors of System operations, wrapped with detail.
var (
	ErrExists   = errors.New("module already loaded")
	ErrNotFound = errors.New("no such module")
	ErrStopped  = errors.New("module stopped")
	// ErrStartFailed wraps a guest's non-zero pk_init or pk_restore result.
	ErrStartFailed = errors.New("module failed to start")
)

// Config wires a System to its node.
type Config struct {
	NodeID  string
	Runtime *runtime.Runtime
	Bus     *bus.Bus
	Store   *store.Store
	Logger  *slog.Logger
	// Status renders the node status document (node_status syscall).
	Status func() []byte
	// Policy tunes supervision; zero values take the defaults.
	Policy Policy
	// Checkpoint, if set, is called with every snapshot persisted (from
	// the actor's persister goroutine), e.g. to replicate it.
	Checkpoint func(module string, snap []byte)
	// Mounts, if set, gives an instance of a module its WASI file systems
	// by guest path (the node mounts p-fs at /shared for modules granted
	// the fs group).
	Mounts func(m Manifest) map[string]experimentalsys.FS
	// FS, if set, returns the node's p-fs for the fs syscalls (an error
	// while p-fs is not ready: EUNAVAILABLE). Nil means the node has no
	// cluster, so no p-fs: every fs syscall gives ENOTSUP.
	FS func() (PFS, error)
}

// Policy is the supervisor's restart policy.
type Policy struct {
	BackoffMin  time.Duration // first restart delay (default 100 ms)
	BackoffMax  time.Duration // cap (default 10 s)
	CrashLimit  int           // crashes within CrashWindow that quarantine (default 5)
	CrashWindow time.Duration // default 1 minute
	PublishWait time.Duration // backpressure wait of a publishing module (default 1 s)
	CallTimeout time.Duration // default call timeout (5 s)
	FSTimeout   time.Duration // longest wait of one fs syscall (10 s); the caller's budget may cut it
}

func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.BackoffMin, 100*time.Millisecond)
	def(&p.BackoffMax, 10*time.Second)
	def(&p.CrashWindow, time.Minute)
	def(&p.PublishWait, bus.DefaultWait)
	def(&p.CallTimeout, 5*time.Second)
	def(&p.FSTimeout, 10*time.Second)
	if p.CrashLimit <= 0 {
		p.CrashLimit = 5
	}
	return p
}

// System is the set of actors on one node.
type System struct {
	cfg    Config
	policy Policy
	log    *slog.Logger
	start  time.Time

	mu     sync.RWMutex
	actors map[string]*Actor
	closed bool
}

// New returns an empty System.
func New(cfg Config) *System {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Status == nil {
		cfg.Status = func() []byte { return []byte("{}") }
	}
	return &System{cfg: cfg, policy: cfg.Policy.withDefaults(), log: cfg.Logger, start: time.Now(), actors: map[string]*Actor{}}
}

// Load starts a module: compile, check, instantiate, init, and restore from
// snapshot (nil for a fresh start). It returns when the module runs, or with
// the reason it could not start; a failed load leaves nothing behind.
func (s *System) Load(ctx context.Context, m Manifest, wasm []byte, snapshot []byte) (*Actor, error) {
	m, err := m.Normalize()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStopped
	}
	if _, ok := s.actors[m.Name]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s (use swap to replace it)", ErrExists, m.Name)
	}
	a := newActor(s, m)
	s.actors[m.Name] = a // reserve the name
	s.mu.Unlock()

	reason := uint32(1) // abi.ReasonFresh
	if len(snapshot) > 0 {
		reason = 6 // abi.ReasonResume
	}
	if err := a.start(ctx, wasm, snapshot, reason); err != nil {
		s.mu.Lock()
		delete(s.actors, m.Name)
		s.mu.Unlock()
		return nil, err
	}
	return a, nil
}

// Get finds a loaded module.
func (s *System) Get(name string) (*Actor, error) {
	s.mu.RLock()
	a := s.actors[name]
	s.mu.RUnlock()
	if a == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return a, nil
}

// Swap hot-swaps a module to new bytes (and manifest); see [Actor.Swap].
func (s *System) Swap(ctx context.Context, m Manifest, wasm []byte) (SwapResult, error) {
	a, err := s.Get(m.Name)
	if err != nil {
		return SwapResult{}, err
	}
	return a.Swap(ctx, m, wasm)
}

// Unload stops a module and removes it.
func (s *System) Unload(ctx context.Context, name string) error {
	a, err := s.Get(name)
	if err != nil {
		return err
	}
	err = a.stop(ctx, 4) // abi.ReasonUnload
	s.mu.Lock()
	if s.actors[name] == a {
		delete(s.actors, name)
	}
	s.mu.Unlock()
	return err
}

// Actors lists the loaded modules by name.
func (s *System) Actors() []*Actor {
	s.mu.RLock()
	out := make([]*Actor, 0, len(s.actors))
	for _, a := range s.actors {
		out = append(out, a)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Close stops every module (final snapshots are persisted).
func (s *System) Close(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range s.Actors() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.stop(ctx, 5) // abi.ReasonShutdown
		}()
	}
	wg.Wait()
}

// Call sends a request to a module from the host (the control API) and
// waits for the reply.
func (s *System) Call(ctx context.Context, name string, req []byte, timeout time.Duration) ([]byte, error) {
	if timeout <= 0 {
		timeout = s.policy.CallTimeout
	}
	reply, e := s.route("", nil, name, req, timeout)
	if e != 0 {
		return nil, fmt.Errorf("call %s: %w", name, e)
	}
	return reply, nil
}

// Statuses returns every module's status.
func (s *System) Statuses() []Status {
	as := s.Actors()
	out := make([]Status, len(as))
	for i, a := range as {
		out[i] = a.Status()
	}
	return out
}

func (s *System) nodeStatus() []byte { return s.cfg.Status() }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
