package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/internal/guard"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// InstanceConfig configures one instance.
type InstanceConfig struct {
	// Name is the wazero module name; unique in the runtime.
	Name string
	// Context carries the host's per-instance values to the syscalls (see
	// host/syscall); every call into the guest runs under it.
	Context context.Context
	// Stdout and Stderr receive WASI output (nil = discarded).
	Stdout, Stderr io.Writer
	// Budget bounds every call into the guest (default 1 s).
	Budget time.Duration
	// StartBudget bounds _initialize, pk_init and pk_restore (default 10 s).
	StartBudget time.Duration
	// Mounts are the WASI file systems of the instance, by guest path
	// (none by default: a module sees no files).
	Mounts map[string]experimentalsys.FS
}

// Instance is one running copy of a module. Its methods must be called from
// one goroutine at a time, except [Instance.Interrupt].
type Instance struct {
	Module *Module

	ctx         context.Context
	mod         api.Module
	mem         api.Memory
	interrupt   api.MutableGlobal
	fEvent      api.Function
	fAlloc      api.Function
	fSnapshot   api.Function
	fRestore    api.Function
	budget      time.Duration
	startBudget time.Duration
	dl          deadline
	stack       [3]uint64
	evPtr       uint32 // event buffer registered by the guest
	evCap       uint32
	closed      bool
	version     uint32
}

// Instantiate creates an instance and runs _initialize and the ABI version
// check. It does not call pk_init: see [Instance.Init].
func (r *Runtime) Instantiate(ctx context.Context, m *Module, cfg InstanceConfig) (*Instance, error) {
	if cfg.Budget <= 0 {
		cfg.Budget = time.Second
	}
	if cfg.StartBudget <= 0 {
		cfg.StartBudget = 10 * time.Second
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	mc := wazero.NewModuleConfig().WithName(cfg.Name).WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader).
		WithArgs(cfg.Name)
	if cfg.Stdout != nil {
		mc = mc.WithStdout(cfg.Stdout)
	}
	if cfg.Stderr != nil {
		mc = mc.WithStderr(cfg.Stderr)
	}
	if len(cfg.Mounts) > 0 {
		fsc := wazero.NewFSConfig()
		for guest, f := range cfg.Mounts {
			fsc = fsc.(sysfs.FSConfig).WithSysFSMount(f, guest)
		}
		mc = mc.WithFSConfig(fsc)
	}
	in := &Instance{Module: m, ctx: cfg.Context, budget: cfg.Budget, startBudget: cfg.StartBudget}
	// Instantiation runs data/elem initialisers, no guest code (no start
	// function is configured), so it needs no budget.
	mod, err := r.rt.InstantiateModule(ctx, m.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in.mod = mod
	in.mem = mod.Memory()
	g, ok := mod.ExportedGlobal(guard.InterruptGlobal).(api.MutableGlobal)
	if !ok || in.mem == nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("%w: instrumented module lacks its guard global or memory", ErrMalformed)
	}
	in.interrupt = g
	in.fEvent = mod.ExportedFunction(abi.ExportEvent)
	in.fAlloc = mod.ExportedFunction(abi.ExportAlloc)
	in.fSnapshot = mod.ExportedFunction(abi.ExportSnapshot)
	in.fRestore = mod.ExportedFunction(abi.ExportRestore)
	r.wd.add(in)

	if f := mod.ExportedFunction(abi.ExportInitialize); f != nil {
		if err := in.call(abi.ExportInitialize, f, in.startBudget); err != nil {
			in.Close(ctx)
			return nil, err
		}
	}
	if err := in.call(abi.ExportABIVersion, mod.ExportedFunction(abi.ExportABIVersion), in.startBudget); err != nil {
		in.Close(ctx)
		return nil, err
	}
	in.version = uint32(in.stack[0])
	if maj, min := abi.SplitVersion(in.version); maj != abi.Major || min > abi.Minor {
		in.Close(ctx)
		return nil, fmt.Errorf("%w: module built for pk ABI v%d.%d; this host speaks v%d.%d", ErrABIVersion, maj, min, abi.Major, abi.Minor)
	}
	return in, nil
}

// ABIVersion is what the guest's pk_abi_version returned.
func (in *Instance) ABIVersion() uint32 { return in.version }

// call runs f with in.stack as its stack under the budget and maps failures.
func (in *Instance) call(name string, f api.Function, budget time.Duration) error {
	if in.closed {
		return &GuestError{name, ErrClosed}
	}
	in.begin(budget)
	err := f.CallWithStack(in.ctx, in.stack[:])
	if in.end() {
		return &GuestError{name, fmt.Errorf("%w: the call ran longer than its %v budget and was interrupted", ErrBudget, budget)}
	}
	if err == nil {
		return nil
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return &GuestError{name, fmt.Errorf("%w with code %d", ErrExit, exit.ExitCode())}
	}
	return &GuestError{name, fmt.Errorf("%w: %v", ErrTrap, err)}
}

// callErrno calls an export that returns an Errno.
func (in *Instance) callErrno(name string, f api.Function, budget time.Duration, args ...uint64) (abi.Errno, error) {
	copy(in.stack[:], args)
	if err := in.call(name, f, budget); err != nil {
		return 0, err
	}
	return abi.Errno(uint32(in.stack[0])), nil
}

// Init calls pk_init.
func (in *Instance) Init() (abi.Errno, error) {
	return in.callErrno(abi.ExportInit, in.mod.ExportedFunction(abi.ExportInit), in.startBudget)
}

// SetEventBuffer registers the guest buffer events are written into when
// they fit (the event_buffer syscall). cap 0 unregisters.
func (in *Instance) SetEventBuffer(ptr, cap uint32) abi.Errno {
	if cap != 0 && cap < abi.MinEventBuffer {
		return abi.EINVAL
	}
	if cap != 0 {
		if _, ok := in.mem.Read(ptr, cap); !ok {
			return abi.EFAULT
		}
	}
	in.evPtr, in.evCap = ptr, cap
	return abi.OK
}

// buffer returns a guest buffer of n bytes: the event buffer when it fits,
// else one from pk_alloc. The returned slice aliases guest memory.
func (in *Instance) buffer(n uint32) (uint32, []byte, error) {
	if n <= in.evCap {
		b, ok := in.mem.Read(in.evPtr, n)
		if ok {
			return in.evPtr, b, nil
		}
	}
	in.stack[0] = uint64(n)
	if err := in.call(abi.ExportAlloc, in.fAlloc, in.budget); err != nil {
		return 0, nil, err
	}
	ptr := uint32(in.stack[0])
	b, ok := in.mem.Read(ptr, n)
	if ptr == 0 || !ok {
		return 0, nil, &GuestError{abi.ExportAlloc, fmt.Errorf("%w: pk_alloc(%d) returned %#x", ErrGuestOOM, n, ptr)}
	}
	return ptr, b, nil
}

// DeliverMessage writes a MESSAGE event into the guest and calls pk_event.
// The returned Errno is the guest's own result; the error is set when the
// guest crashed (see [Crashed]).
func (in *Instance) DeliverMessage(seq uint64, flags uint32, topic string, payload []byte) (abi.Errno, error) {
	n := abi.MessageSize(topic, payload)
	ptr, b, err := in.buffer(uint32(n))
	if err != nil {
		return 0, err
	}
	abi.PutMessage(b, seq, flags, topic, payload)
	return in.callErrno(abi.ExportEvent, in.fEvent, in.budget, uint64(abi.EventMessage), uint64(ptr), uint64(n))
}

// Deliver writes an already encoded event and calls pk_event.
func (in *Instance) Deliver(kind abi.EventKind, payload []byte) (abi.Errno, error) {
	ptr, b, err := in.buffer(uint32(len(payload)))
	if err != nil {
		return 0, err
	}
	copy(b, payload)
	return in.callErrno(abi.ExportEvent, in.fEvent, in.budget, uint64(kind), uint64(ptr), uint64(len(payload)))
}

// HasSnapshot reports whether the guest exports pk_snapshot.
func (in *Instance) HasSnapshot() bool { return in.fSnapshot != nil }

// HasRestore reports whether the guest exports pk_restore.
func (in *Instance) HasRestore() bool { return in.fRestore != nil }

// Snapshot calls pk_snapshot; the guest hands its state over with the
// snapshot_write syscall, which the host routes to its own collector.
func (in *Instance) Snapshot() (abi.Errno, error) {
	if in.fSnapshot == nil {
		return abi.OK, nil
	}
	return in.callErrno(abi.ExportSnapshot, in.fSnapshot, in.startBudget)
}

// Restore writes state into the guest and calls pk_restore.
func (in *Instance) Restore(state []byte) (abi.Errno, error) {
	if in.fRestore == nil || len(state) == 0 {
		return abi.OK, nil
	}
	ptr, b, err := in.buffer(uint32(len(state)))
	if err != nil {
		return 0, err
	}
	copy(b, state)
	return in.callErrno(abi.ExportRestore, in.fRestore, in.startBudget, uint64(ptr), uint64(len(state)))
}

// Memory is the guest's linear memory, for the syscall layer.
func (in *Instance) Memory() api.Memory { return in.mem }

// MemoryBytes is the current size of guest memory.
func (in *Instance) MemoryBytes() uint64 { return uint64(in.mem.Size()) }

// Interrupt makes the guest trap at its next loop head or function entry. It
// may be called from any goroutine; the instance is unusable afterwards.
func (in *Instance) Interrupt() { in.interrupt.Set(1) }

// Close frees the instance. Safe to call twice.
func (in *Instance) Close(ctx context.Context) {
	if in.closed {
		return
	}
	in.closed = true
	in.Module.r.wd.remove(in)
	in.mod.Close(ctx)
}
