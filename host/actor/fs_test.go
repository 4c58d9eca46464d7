package actor

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/disk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

const fsprobePkg = "./tests/guests/fsprobe"

// testPFS is p-fs on one in-process node: a disk block store and names in
// memory. With stall set, block writes wait for their context to end.
type testPFS struct {
	v     *vol.Volume
	names *vol.MemNames
	store blockstore.Store
	stall atomic.Bool
}

func (p *testPFS) Volume() *vol.Volume { return p.v }
func (p *testPFS) Index() *names.Index { return p.names.Index() }
func (p *testPFS) Self() string        { return "test" }
func (p *testPFS) Live() []string      { return []string{"test"} }
func (p *testPFS) Store(string) blockstore.Store {
	return stallStore{p.store, &p.stall}
}

type stallStore struct {
	blockstore.Store
	stall *atomic.Bool
}

func (s stallStore) Put(ctx context.Context, id cid.ID, data []byte) error {
	if s.stall.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Store.Put(ctx, id, data)
}

func newTestPFS(t *testing.T) *testPFS {
	t.Helper()
	st, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &testPFS{names: &vol.MemNames{}, store: st}
	p.v, err = vol.Open(vol.Config{Cluster: p, Names: p.names, Grace: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.v.Close() })
	return p
}

var fsGrants = append(abi.DefaultGrants(), abi.GroupFS)

// TestFSSyscalls checks the fs group through real wasm (tests/guests/fsprobe)
// against a real p-fs volume; each row cites abi/README.md.
func TestFSSyscalls(t *testing.T) {
	if abi.MaxFSName != names.MaxName {
		t.Fatalf("abi.MaxFSName %d != names.MaxName %d", abi.MaxFSName, names.MaxName)
	}
	p := newTestPFS(t)
	e := newEnv(t, Policy{}, func(c *Config) { c.FS = func() (PFS, error) { return p, nil } })
	ctx := context.Background()
	wasm := wasmbuild.Go(t, fsprobePkg, "")
	if _, err := e.sys.Load(ctx, Manifest{Name: "f", Grants: fsGrants, BudgetMS: 5000}, wasm, nil); err != nil {
		t.Fatal(err)
	}
	call := func(req string) string {
		t.Helper()
		reply, err := e.sys.Call(ctx, "f", []byte(req), 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		return string(reply)
	}
	put := call("put a/b hello+world")
	id, ok := strings.CutPrefix(put, "OK ")
	if !ok || len(id) != 64 {
		t.Fatalf("put = %q", put)
	}
	// A file in another namespace: its id is out of the modules' reach.
	other, err := p.v.Put(ctx, "files", "secret", bytes.NewReader([]byte("not for modules")), nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct{ req, want, ref string }{
		{"read a/b 0 5", "OK hello", "§ fs_read"},
		{"read a/b 6 100", "OK world", "§ fs_read: fewer only at the end of the file"},
		{"read a/b 11 10", "OK", "§ fs_read: 0 at or past it"},
		{"read a/b 99 10", "OK", "§ fs_read: 0 at or past it"},
		{"read a/b -1 10", "EINVAL", "§ fs_read: EINVAL — negative offset"},
		{"read " + id + " 0 100", "OK hello world", "§ fs: a ref is a name or a content id"},
		{"stat a/b", "OK 11 " + id + " 1 true", "§ fs_stat"},
		{"stat " + id, "OK 11 " + id + " 0 false", "§ fs_stat: for an id both are 0"},
		{"list a", "OK a/b", "§ fs_list"},
		{"list -", "OK a/b", "§ fs_list: empty = all"},
		{"list zz", "OK", "§ fs_list"},
		{"read nope 0 1", "ENOENT", "§ fs_read: ENOENT — no such name"},
		{"stat nope", "ENOENT", "§ fs_stat: ENOENT"},
		{"read " + strings.Repeat("ab", 32) + " 0 1", "ENOENT", "§ fs_read: ENOENT — an id that is no version of a name in shared"},
		{"read " + other.Object.String() + " 0 1", "ENOENT", "§ p-fs: other namespaces are out of reach, also by id"},
		{"read " + strings.Repeat("0", 64) + " 0 1", "ENOENT", "§ fs_read: ENOENT"},
		{"put " + strings.Repeat("ab", 32) + " x", "EINVAL", "§ fs_put: EINVAL — a name that is 64 hex digits"},
		{"put a//b x", "EINVAL", "§ fs_put: EINVAL — empty segments"},
		{"put ../x x", "EINVAL", "§ fs_put: EINVAL — segments . and .."},
		{"read a//b 0 1", "EINVAL", "§ fs_read: EINVAL — bad ref"},
		{"rm a//b", "EINVAL", "§ fs_remove: EINVAL"},
		{"putn big 4194305", "EMSGSIZE", "§ fs_put: EMSGSIZE — data_len > 4 MiB"},
		{"putn big 4194304", "", "§ fs_put: files ≤ 4 MiB"},
		{"readall big", "OK 4194304 " + sum(4194304) + " true", "§ fs_read: in steps of ≤ 4 MiB"},
		{"read big 4194303 10", "OK ]", "§ fs_read: the last byte"}, // 4194303 % 251 = 93 = ']'
		{"read big 4194304 10", "OK", "§ fs_read: 0 at the end"},
		{"put a/b v2", "", "§ fs_put: a new version"},
		{"stat a/b", "OK 2 ", "§ fs_stat: versions counts its history"},
		{"rm a/b", "OK", "§ fs_remove"},
		{"read a/b 0 1", "ENOENT", "§ fs_remove: reads of the name then give ENOENT"},
		{"stat a/b", "ENOENT", "§ fs_remove"},
		{"rm a/b", "ENOENT", "§ fs_remove: ENOENT — already removed"},
		{"rm never", "ENOENT", "§ fs_remove: ENOENT — no such name"},
		{"list -", "OK big", "§ fs_list: removed names are left out"},
		{"read " + id + " 0 5", "OK hello", "§ fs_remove: the content stays readable by id"},
	}
	for _, r := range rows {
		// want "" is any OK with a result; a want ending in a space is a prefix.
		got := call(r.req)
		switch {
		case r.want == "" && strings.HasPrefix(got, "OK "),
			strings.HasSuffix(r.want, " ") && strings.HasPrefix(got, r.want),
			got == r.want:
			continue
		}
		t.Errorf("%.60q = %.80q, want %.80q (abi/README.md %s)", r.req, got, r.want, r.ref)
	}
	if h := p.v.History(abi.FSNamespace, "a/b"); len(h) != 3 || !h[2].Removed() {
		t.Errorf("history of a/b: %+v, want two versions and a removal", h)
	}

	// A module without the grant does not load, and the error names the
	// syscall (abi/README.md § Conventions).
	_, err = e.sys.Load(ctx, Manifest{Name: "nofs"}, wasm, nil)
	if err == nil || !strings.Contains(err.Error(), "pk.fs_") || !strings.Contains(err.Error(), `group "fs"`) {
		t.Fatalf("load without the fs grant: %v", err)
	}
}

// sum is the byte sum of n bytes i%251 (what fsprobe's putn writes).
func sum(n int) string {
	s := 0
	for i := range n {
		s += i % 251
	}
	return strconv.Itoa(s)
}

// TestFSUnavailable: ENOTSUP without a cluster, EUNAVAILABLE while p-fs is
// not ready, and ETIMEDOUT — within the caller's budget, so the module is
// not interrupted — when p-fs does not answer (abi/README.md § p-fs).
func TestFSUnavailable(t *testing.T) {
	ctx := context.Background()
	wasm := wasmbuild.Go(t, fsprobePkg, "")
	for _, c := range []struct {
		name string
		fs   func() (PFS, error)
		want string
	}{
		{"no cluster", nil, "ENOTSUP"},
		{"starting", func() (PFS, error) { return nil, errors.New("p-fs is starting") }, "EUNAVAILABLE"},
	} {
		e := newEnv(t, Policy{}, func(cfg *Config) { cfg.FS = c.fs })
		if _, err := e.sys.Load(ctx, Manifest{Name: "f", Grants: fsGrants}, wasm, nil); err != nil {
			t.Fatal(err)
		}
		for _, req := range []string{"put x y", "read x 0 1", "stat x", "list -", "rm x"} {
			if reply, err := e.sys.Call(ctx, "f", []byte(req), 5*time.Second); err != nil || string(reply) != c.want {
				t.Errorf("%s: %s = %q %v, want %s", c.name, req, reply, err, c.want)
			}
		}
	}

	p := newTestPFS(t)
	p.stall.Store(true)
	e := newEnv(t, Policy{FSTimeout: 10 * time.Second}, func(cfg *Config) { cfg.FS = func() (PFS, error) { return p, nil } })
	if _, err := e.sys.Load(ctx, Manifest{Name: "f", Grants: fsGrants, BudgetMS: 300}, wasm, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reply, err := e.sys.Call(ctx, "f", []byte("put x y"), 5*time.Second)
	if err != nil || string(reply) != "ETIMEDOUT" {
		t.Fatalf("stalled put = %q %v, want ETIMEDOUT", reply, err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("the stalled put took %v, more than the 300 ms budget", d)
	}
	a, _ := e.sys.Get("f")
	if st := a.Status(); st.Crashes != 0 {
		t.Errorf("the module crashed on a timed-out put: %+v", st)
	}
	if h := p.v.History(abi.FSNamespace, "x"); len(h) != 0 {
		t.Errorf("a timed-out put published %+v", h)
	}
}
