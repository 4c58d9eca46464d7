package runtime

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/internal/guard"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/zeebo/blake3"
)

// Hash is the BLAKE3-256 of a module's bytes: its version.
type Hash [32]byte

// HashOf returns the BLAKE3-256 of b.
func HashOf(b []byte) Hash { return blake3.Sum256(b) }

// String is the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short is the first 12 hex digits, for humans.
func (h Hash) Short() string { return h.String()[:12] }

// ParseHash parses the hex form.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("bad module hash %q: want 64 hex digits", s)
	}
	copy(h[:], b)
	return h, nil
}

// Config configures a [Runtime]. The zero value is valid: no disk cache, the
// compiler where wazero supports it.
type Config struct {
	// CacheDir holds compiled machine code between runs ("" = memory only).
	CacheDir string
	// Interpreter forces wazero's interpreter even where the compiler works.
	Interpreter bool
	// MaxMemoryPages is the node-wide cap on any guest memory, in 64 KiB
	// pages (default 16384 = 1 GiB). A module's own limit is at most this.
	MaxMemoryPages uint32
	// HostModules instantiates the syscall module ("pk") in the runtime.
	HostModules func(ctx context.Context, r wazero.Runtime) error
	Logger      *slog.Logger
}

// DefaultMaxMemoryPages is the default node-wide cap: 1 GiB.
const DefaultMaxMemoryPages = 16384

// Runtime is a node's wasm engine.
type Runtime struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	cacheDir string
	log      *slog.Logger
	maxPages uint32
	wd       *watchdog

	closeOnce sync.Once

	mu   sync.Mutex
	mods map[modKey]*Module
}

type modKey struct {
	hash  Hash
	pages uint32
}

// New starts a runtime: wazero (compiler or interpreter), the compilation
// cache, WASI, and the host modules from cfg.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MaxMemoryPages == 0 {
		cfg.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithMemoryLimitPages(cfg.MaxMemoryPages).WithCloseOnContextDone(false)
	r := &Runtime{log: cfg.Logger, maxPages: cfg.MaxMemoryPages, mods: map[modKey]*Module{}}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("compile cache: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(filepath.Clean(cfg.CacheDir))
		if err != nil {
			return nil, fmt.Errorf("compile cache: %w", err)
		}
		r.cache, r.cacheDir = c, filepath.Clean(cfg.CacheDir)
		rc = rc.WithCompilationCache(c)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		r.rt.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	if cfg.HostModules != nil {
		if err := cfg.HostModules(ctx, r.rt); err != nil {
			r.rt.Close(ctx)
			return nil, fmt.Errorf("host modules: %w", err)
		}
	}
	r.wd = startWatchdog()
	return r, nil
}

// Close stops the runtime and every instance in it. Later calls do
// nothing.
func (r *Runtime) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		r.wd.stop()
		err = r.rt.Close(ctx)
		if r.cache != nil {
			r.cache.Close(ctx)
		}
	})
	return err
}

// LoadOptions are the manifest parts that decide whether a module may load.
type LoadOptions struct {
	Grants         []abi.Group // capability groups; core is implied
	MaxMemoryPages uint32      // 0 = the node-wide cap
}

// Module is a compiled, checked module. Modules with the same bytes and
// memory cap share one compilation; [Module.Release] drops a reference and
// the last one frees it.
type Module struct {
	Hash     Hash
	Size     int
	MaxPages uint32

	r        *Runtime
	key      modKey
	ready    chan struct{}
	err      error
	compiled wazero.CompiledModule
	refs     int // guarded by r.mu
	exports  map[string]api.FunctionDefinition
	imports  []api.FunctionDefinition
}

// Load checks and compiles wasm, or takes another reference to an already
// compiled copy of the same bytes. The grants are checked on every call.
func (r *Runtime) Load(ctx context.Context, wasm []byte, opts LoadOptions) (*Module, error) {
	pages := opts.MaxMemoryPages
	if pages == 0 || pages > r.maxPages {
		pages = r.maxPages
	}
	key := modKey{HashOf(wasm), pages}
	r.mu.Lock()
	m, ok := r.mods[key]
	if !ok {
		m = &Module{Hash: key.hash, Size: len(wasm), MaxPages: pages, r: r, key: key, ready: make(chan struct{})}
		r.mods[key] = m
	}
	m.refs++
	r.mu.Unlock()

	if !ok {
		m.err = m.compile(ctx, wasm)
		close(m.ready)
	} else {
		select {
		case <-m.ready:
		case <-ctx.Done():
			m.Release(ctx)
			return nil, ctx.Err()
		}
	}
	if err := m.err; err != nil {
		m.Release(ctx)
		return nil, err
	}
	if err := m.checkImports(opts.Grants); err != nil {
		m.Release(ctx)
		return nil, err
	}
	return m, nil
}

// clearCache removes every file of the on-disk compile cache, keeping its
// directories (wazero creates them only when the cache is opened).
func (r *Runtime) clearCache() {
	err := filepath.WalkDir(r.cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Remove(p)
		}
		if err != nil {
			r.log.Warn("compile cache: removing", "path", p, "err", err)
		}
		return nil
	})
	if err != nil {
		r.log.Warn("compile cache: emptying", "err", err)
	}
}

func (m *Module) compile(ctx context.Context, wasm []byte) error {
	inst, err := guard.Instrument(wasm, guard.Options{MaxMemoryPages: m.MaxPages})
	switch {
	case errors.Is(err, guard.ErrMemoryLimit):
		return fmt.Errorf("%w: %v", ErrMemoryLimit, err)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	c, err := m.r.rt.CompileModule(ctx, inst)
	if err != nil && m.r.cacheDir != "" && strings.Contains(err.Error(), "compilationcache:") {
		// A damaged entry of the on-disk compile cache (a power cut on a
		// FAT data partition can leave one empty): wazero fails the
		// compile rather than compiling afresh. The cache is only a
		// cache: empty it and compile again.
		m.r.log.Warn("compile cache damaged: emptied, compiling again", "dir", m.r.cacheDir, "err", err)
		m.r.clearCache()
		c, err = m.r.rt.CompileModule(ctx, inst)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m.compiled = c
	m.exports = c.ExportedFunctions()
	m.imports = c.ImportedFunctions()
	if err := m.checkExports(); err != nil {
		return err
	}
	return nil
}

var exportSigs = []struct {
	name     string
	required bool
	params   []api.ValueType
	results  []api.ValueType
}{
	{abi.ExportABIVersion, true, nil, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportAlloc, true, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportInit, true, nil, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportEvent, true, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportSnapshot, false, nil, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportRestore, false, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{abi.ExportInitialize, false, nil, nil},
}

func (m *Module) checkExports() error {
	if _, ok := m.compiled.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("%w: the module exports no memory named %q", ErrMissingExport, abi.ExportMemory)
	}
	for _, s := range exportSigs {
		def, ok := m.exports[s.name]
		if !ok {
			if s.required {
				return fmt.Errorf("%w: the module does not export %s (is it a pk guest? see abi/README.md)", ErrMissingExport, s.name)
			}
			continue
		}
		if !sameTypes(def.ParamTypes(), s.params) || !sameTypes(def.ResultTypes(), s.results) {
			return fmt.Errorf("%w: %s has type %s, want %s", ErrMissingExport, s.name,
				sig(def.ParamTypes(), def.ResultTypes()), sig(s.params, s.results))
		}
	}
	return nil
}

func (m *Module) checkImports(grants []abi.Group) error {
	granted := map[abi.Group]bool{abi.GroupCore: true}
	for _, g := range grants {
		granted[g] = true
	}
	for _, def := range m.imports {
		mod, name, _ := def.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
			continue
		case abi.ImportModule:
		default:
			return fmt.Errorf("%w: %s.%s (a pk guest may import only %q and %q)", ErrUnknownImport,
				mod, name, abi.ImportModule, wasi_snapshot_preview1.ModuleName)
		}
		s, ok := abi.LookupSyscall(name)
		if !ok {
			return fmt.Errorf("%w: %s.%s is not a syscall of pk ABI v%d.%d", ErrUnknownImport, mod, name, abi.Major, abi.Minor)
		}
		if !granted[s.Group] {
			return fmt.Errorf("%w: the module imports pk.%s (group %q), which its manifest does not grant", ErrNotGranted, name, s.Group)
		}
		want := make([]api.ValueType, len(s.Params))
		for i, p := range s.Params {
			want[i] = api.ValueType(p)
		}
		if !sameTypes(def.ParamTypes(), want) || !sameTypes(def.ResultTypes(), []api.ValueType{api.ValueTypeI32}) {
			return fmt.Errorf("%w: pk.%s imported as %s, want %s", ErrUnknownImport, name,
				sig(def.ParamTypes(), def.ResultTypes()), sig(want, []api.ValueType{api.ValueTypeI32}))
		}
	}
	return nil
}

// Syscalls lists the pk syscalls the module imports.
func (m *Module) Syscalls() []string {
	var out []string
	for _, def := range m.imports {
		if mod, name, _ := def.Import(); mod == abi.ImportModule {
			out = append(out, name)
		}
	}
	return out
}

// Release drops a reference; the last one closes the compiled module. wazero
// shares state between compilations of identical bytes, which is why closing
// goes through this count and never straight to wazero.
func (m *Module) Release(ctx context.Context) {
	r := m.r
	r.mu.Lock()
	m.refs--
	last := m.refs == 0
	if last && r.mods[m.key] == m {
		delete(r.mods, m.key)
	}
	r.mu.Unlock()
	if last && m.compiled != nil {
		m.compiled.Close(ctx)
	}
}

// Refs reports the number of live references (for tests and status).
func (m *Module) Refs() int {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	return m.refs
}

// Loaded reports how many distinct compiled modules the runtime holds.
func (r *Runtime) Loaded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mods)
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sig(params, results []api.ValueType) string {
	s := "("
	for i, p := range params {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(p)
	}
	s += ") -> ("
	for i, p := range results {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(p)
	}
	return s + ")"
}
