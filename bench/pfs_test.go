package bench

// p-fs (issue 4). Put and get throughput on one node and on three, the dedup
// of the chunkers on successive versions of real source trees, and the time
// to rebuild a lost node's shards, each next to its baseline in the same
// process:
//
//   - one node: a vol.Volume over a disk store in a temp dir (a one-node
//     Cluster, so one copy of each chunk) against copying the same file
//     file-to-file with one fsync, and against writing the bytes Put stores
//     (the chunks, as one file each, write + fsync) — what a crash-safe
//     store of separate blocks must do at the least;
//   - three nodes: three meshes over real QUIC on loopback, each serving its
//     own disk store with host/blocknet (the data path of host/pfshost,
//     without membership and gossip: those carry no block bytes), and a
//     vol.Volume on the first over blocknet.Remote stores, against one mesh
//     stream pushing the same bytes between two of the same meshes, and two
//     streams pushing them to both peers at once (the bytes a three-copy put
//     must send);
//   - repair: five such nodes, RS(3,2), one node's store swapped for an
//     empty one, RepairAll on a survivor.
//
// TestPFS runs all of it once on small sizes.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/blocknet"
	"github.com/p-kernel/p-kernel/host/cluster"
	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/disk"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

// pfsNode is one p-fs node of the benchmarks: a mesh serving a block store
// that can be swapped (a node that lost its disk).
type pfsNode struct {
	m  *mesh.Mesh
	mu sync.RWMutex
	st blockstore.Store
}

func (n *pfsNode) id() string { return n.m.Addr().String() }

func (n *pfsNode) store() blockstore.Store {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.st
}

func (n *pfsNode) setStore(st blockstore.Store) {
	n.mu.Lock()
	n.st = st
	n.mu.Unlock()
}

// pfsView is vol.Cluster for node self of nodes; with no mesh (one node)
// it is just the local store.
type pfsView struct {
	self  int
	nodes []*pfsNode
}

func (v pfsView) Self() string { return v.nodes[v.self].id() }

func (v pfsView) Live() []string {
	var out []string
	for _, n := range v.nodes {
		out = append(out, n.id())
	}
	return out
}

func (v pfsView) Store(node string) blockstore.Store {
	me := v.nodes[v.self]
	if node == me.id() {
		return me.store()
	}
	return &blocknet.Remote{Node: node, Dial: func(ctx context.Context) (net.Conn, error) {
		return me.m.Dial(ctx, node, cluster.ProtoBlocks)
	}}
}

// soloView is vol.Cluster of one node without a mesh.
type soloView struct{ st blockstore.Store }

func (soloView) Self() string                    { return "solo" }
func (soloView) Live() []string                  { return []string{"solo"} }
func (v soloView) Store(string) blockstore.Store { return v.st }

func pfsDisk(tb testing.TB) blockstore.Store {
	tb.Helper()
	dir := tb.TempDir()
	st, err := disk.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	// The store makes a fan-out directory on the first put into it; make
	// them all now, so every iteration measures a store in use, as the
	// runs before lazy directories did.
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(dir, "blocks", fmt.Sprintf("%02x", i)), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// pfsMeshes starts n meshes of one cluster, each serving its node's store
// (mkStore) over the block protocol and discarding pushes on clProtoBig.
func pfsMeshes(tb testing.TB, n int, mkStore func() blockstore.Store) []*pfsNode {
	tb.Helper()
	secret := mesh.NewSecret()
	var nodes []*pfsNode
	for range n {
		m, err := mesh.Listen(context.Background(), mesh.Config{Listen: "127.0.0.1:0", Identity: clKey(),
			Secret: secret, Logger: quietLog()})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { m.Close() })
		nd := &pfsNode{m: m, st: mkStore()}
		m.Handle(cluster.ProtoBlocks, func(s *mesh.Stream) {
			blocknet.Serve(context.Background(), s, nd.store(), quietLog())
		})
		m.Handle(clProtoBig, sinkServe)
		nodes = append(nodes, nd)
	}
	return nodes
}

// pfsVolume opens a volume on node self with the nodes' shared names.
func pfsVolume(tb testing.TB, nodes []*pfsNode, self int, nm vol.Names) *vol.Volume {
	tb.Helper()
	v, err := vol.Open(vol.Config{Cluster: pfsView{self, nodes}, Names: nm, Log: quietLog()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// pfsStamp makes data unique for iteration i (so puts do not deduplicate
// against earlier ones) by writing i into every 4 KiB.
func pfsStamp(data []byte, i int) {
	for off := 0; off+8 <= len(data); off += 4 << 10 {
		binary.LittleEndian.PutUint64(data[off:], uint64(i)<<32|uint64(off))
	}
}

func pfsRand(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{4})
	r.Read(b)
	return b
}

// sinkServe reads a push to EOF and answers with one byte, so the sender
// knows the bytes arrived.
func sinkServe(s *mesh.Stream) {
	io.Copy(io.Discard, s)
	s.Write([]byte{1})
	s.Close()
}

// push sends data on a new stream to addr and waits for the sink's answer.
func push(m *mesh.Mesh, addr string, data []byte) error {
	s, err := m.Dial(context.Background(), addr, clProtoBig)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Write(data); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	var ack [1]byte
	_, err = io.ReadFull(s, ack[:])
	return err
}

// writeFsync creates path, fills it and fsyncs it.
func writeFsync(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsyncFile writes b to a new file at path and fsyncs it.
func fsyncFile(path string, b []byte) error {
	return writeFsync(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// copyFile copies src to dst and fsyncs dst: the plain file copy.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFsync(dst, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

func chunksOf(data []byte) [][]byte {
	var out [][]byte
	c := chunk.Default().New(bytes.NewReader(data))
	for {
		p, err := c.Next()
		if err == io.EOF {
			return out
		}
		out = append(out, bytes.Clone(p))
	}
}

// putFrom puts the file at path, reading it as a caller of vol.Put would.
func putFrom(v *vol.Volume, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = v.Put(context.Background(), "bench", name, f, nil)
	return err
}

func getAll(v *vol.Volume, name string, size int) error {
	f, err := v.Open(context.Background(), "bench", name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err == nil && n != int64(size) {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	return err
}

// A pfsCase prepares iteration i untimed (prep) and then runs it (run).
type pfsCase struct {
	name  string
	setup func(tb testing.TB, data []byte) (prep, run func(i int) error)
}

func pfsSingle(tb testing.TB) *vol.Volume {
	tb.Helper()
	v, err := vol.Open(vol.Config{Cluster: soloView{pfsDisk(tb)}, Names: &vol.MemNames{}, Log: quietLog()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

func pfsThree(tb testing.TB, mk func() blockstore.Store) *vol.Volume {
	return pfsVolume(tb, pfsMeshes(tb, 3, mk), 0, &vol.MemNames{})
}

func memStore() blockstore.Store { return blockstore.NewMem() }

// putCase puts a source file that prep rewrites with iteration i's bytes.
func putCase(name string, open func(tb testing.TB) *vol.Volume) pfsCase {
	return pfsCase{name, func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		v := open(tb)
		src := filepath.Join(tb.TempDir(), "src")
		return srcPrep(src, data), func(int) error { return putFrom(v, "f", src) }
	}}
}

func srcPrep(src string, data []byte) func(int) error {
	return func(i int) error {
		pfsStamp(data, i)
		return os.WriteFile(src, data, 0o644)
	}
}

// getCase reads back a file put once.
func getCase(name string, open func(tb testing.TB) *vol.Volume) pfsCase {
	return pfsCase{name, func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		v := open(tb)
		pfsStamp(data, -1)
		if _, err := v.Put(context.Background(), "bench", "g", bytes.NewReader(data), nil); err != nil {
			tb.Fatal(err)
		}
		return nil, func(int) error { return getAll(v, "g", len(data)) }
	}}
}

var pfsCases = []pfsCase{
	putCase("put/node=1", pfsSingle),
	// The same file copied file-to-file, one fsync: the plain copy.
	{"put/copy-file", func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		src := filepath.Join(tb.TempDir(), "src")
		dir := tb.TempDir()
		return srcPrep(src, data), func(i int) error { return copyFile(filepath.Join(dir, fmt.Sprint(i)), src) }
	}},
	// The bytes a one-node put stores (its chunks), one file each with
	// write + fsync, one after the other: the least a store of separately
	// durable blocks does, without the rename and directory fsync that make
	// a block appear whole or not at all.
	fsyncBlocks("put/fsync-blocks", 1),
	// The same, 16 files at a time as a put has blocks in flight.
	fsyncBlocks("put/fsync-blocks-16", 16),
	// The same with the disk store's protocol (temp file, write, fsync,
	// rename, fsync the directory), 16 blocks at a time as a put has them
	// in flight: the disk store alone, given the blocks.
	{"put/diskstore", func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		st := pfsDisk(tb)
		var cs [][]byte
		var ids []cid.ID
		return func(i int) error {
				pfsStamp(data, i)
				cs = chunksOf(data)
				ids = ids[:0]
				for _, c := range cs {
					ids = append(ids, cid.Sum(c))
				}
				return nil
			}, func(int) error {
				return parN(16, len(cs), func(j int) error { return st.Put(context.Background(), ids[j], cs[j]) })
			}
	}},
	putCase("put/node=3", func(tb testing.TB) *vol.Volume {
		return pfsThree(tb, func() blockstore.Store { return pfsDisk(tb) })
	}),
	putCase("put/node=3-mem", func(tb testing.TB) *vol.Volume { return pfsThree(tb, memStore) }),
	// One mesh stream pushing the same bytes between two of the meshes.
	{"put/quic-1stream", func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		nodes := pfsMeshes(tb, 2, memStore)
		return nil, func(int) error { return push(nodes[0].m, nodes[1].id(), data) }
	}},
	// The same bytes to two peers at once: what a three-copy put sends.
	{"put/quic-2peers", func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		nodes := pfsMeshes(tb, 3, memStore)
		return nil, func(int) error {
			errs := make(chan error, 2)
			for _, p := range nodes[1:] {
				go func() { errs <- push(nodes[0].m, p.id(), data) }()
			}
			return cmpErr(<-errs, <-errs)
		}
	}},
	getCase("get/node=1", pfsSingle),
	{"get/read-file", func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		src := filepath.Join(tb.TempDir(), "src")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		return nil, func(int) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(io.Discard, f)
			return err
		}
	}},
	getCase("get/node=3", func(tb testing.TB) *vol.Volume {
		return pfsThree(tb, func() blockstore.Store { return pfsDisk(tb) })
	}),
}

// fsyncBlocks writes the chunks of the data, one file each with write +
// fsync, par at a time.
func fsyncBlocks(name string, par int) pfsCase {
	return pfsCase{name, func(tb testing.TB, data []byte) (func(int) error, func(int) error) {
		dir := tb.TempDir()
		var cs [][]byte
		return func(i int) error {
				pfsStamp(data, i)
				cs = chunksOf(data)
				return nil
			}, func(i int) error {
				return parN(par, len(cs), func(j int) error {
					return fsyncFile(filepath.Join(dir, fmt.Sprintf("%d-%d", i, j)), cs[j])
				})
			}
	}}
}

// parN runs f(0..n-1), par at a time, and returns the first error.
func parN(par, n int, f func(j int) error) error {
	sem := make(chan struct{}, par)
	errs := make(chan error, n)
	for j := range n {
		sem <- struct{}{}
		go func() { defer func() { <-sem }(); errs <- f(j) }()
	}
	var first error
	for range n {
		first = cmpErr(first, <-errs)
	}
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

const pfsSize = 64 << 20

// BenchmarkPFS is put and get throughput (MB/s of file bytes) on one node
// and three, with their baselines.
//
//	go test -run '^$' -bench '^BenchmarkPFS$' -benchtime 4x -count 5 ./bench/
func BenchmarkPFS(b *testing.B) {
	data := pfsRand(pfsSize)
	for _, c := range pfsCases {
		b.Run(c.name, func(b *testing.B) {
			prep, run := c.setup(b, data)
			b.SetBytes(int64(len(data)))
			for i := 0; b.Loop(); i++ {
				if prep != nil {
					b.StopTimer()
					if err := prep(i); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if err := run(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPFS(t *testing.T) {
	data := pfsRand(4 << 20)
	for _, c := range pfsCases {
		t.Run(c.name, func(t *testing.T) {
			prep, run := c.setup(t, data)
			if prep != nil {
				if err := prep(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := run(0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Dedup: successive versions of real source trees from the module cache,
// imported as p-fs imports a tree (each file chunked on its own), and, for
// comparison with pfs/chunk/README.md, as one tar-like stream.

type pfsDedup struct {
	files, logical, stored, v2, v2new int
	chunks                            int
}

// dedupTrees stores every regular file of each tree in turn (per file, or
// all files as one stream) and counts the bytes that are new.
func dedupTrees(tb testing.TB, s chunk.Splitter, perFile bool, trees ...string) pfsDedup {
	seen := map[cid.ID]bool{}
	var d pfsDedup
	add := func(r io.Reader, last bool) {
		c := s.New(r)
		for {
			b, err := c.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				tb.Fatal(err)
			}
			d.chunks++
			d.logical += len(b)
			if last {
				d.v2 += len(b)
			}
			if id := cid.Sum(b); !seen[id] {
				seen[id] = true
				d.stored += len(b)
				if last {
					d.v2new += len(b)
				}
			}
		}
	}
	for t, dir := range trees {
		var stream bytes.Buffer
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			d.files++
			if perFile {
				add(bytes.NewReader(b), t == len(trees)-1)
			} else {
				rel, _ := filepath.Rel(dir, p)
				fmt.Fprintf(&stream, "%s %d\n", rel, len(b))
				stream.Write(b)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		if !perFile {
			add(&stream, t == len(trees)-1)
		}
	}
	return d
}

// pfsCorpus returns the module versions found in the module cache, oldest
// first, by corpus name.
func pfsCorpus(tb testing.TB) map[string][]string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		tb.Skipf("go env: %v", err)
	}
	mc := strings.TrimSpace(string(out))
	c := map[string][]string{}
	for name, vs := range map[string][]string{
		"x-sys":  {"golang.org/x/sys@v0.44.0", "golang.org/x/sys@v0.47.0"},
		"x-sync": {"golang.org/x/sync@v0.10.0", "golang.org/x/sync@v0.22.0"},
	} {
		var dirs []string
		for _, v := range vs {
			if _, err := os.Stat(filepath.Join(mc, v)); err == nil {
				dirs = append(dirs, filepath.Join(mc, v))
			}
		}
		if len(dirs) == len(vs) {
			c[name] = dirs
		}
	}
	if len(c) == 0 {
		tb.Skip("no module versions in the module cache to compare")
	}
	return c
}

var pfsChunkers = []struct {
	name string
	s    chunk.Splitter
}{{"fastcdc-64k-256k-1m", chunk.Default()}, {"fixed-256k", chunk.Fixed(0)}}

// BenchmarkPFSDedup reports the dedup ratio (file bytes / stored chunk
// bytes) and the share of the second version already stored after the
// first; ns/op is the chunking and hashing of both trees.
//
//	go test -run '^$' -bench '^BenchmarkPFSDedup$' -benchtime 1x ./bench/
func BenchmarkPFSDedup(b *testing.B) {
	corpus := pfsCorpus(b)
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		for _, ch := range pfsChunkers {
			for _, mode := range []string{"per-file", "stream"} {
				b.Run(name+"/"+ch.name+"/"+mode, func(b *testing.B) {
					var d pfsDedup
					for b.Loop() {
						d = dedupTrees(b, ch.s, mode == "per-file", corpus[name]...)
					}
					b.ReportMetric(float64(d.logical)/float64(d.stored), "dedup-ratio")
					b.ReportMetric(100*float64(d.v2-d.v2new)/float64(d.v2), "v2-reused-%")
					b.ReportMetric(float64(d.stored)/1e6, "stored-MB")
					b.ReportMetric(float64(d.logical)/1e6, "file-MB")
					b.ReportMetric(float64(d.chunks), "chunks")
				})
			}
		}
	}
}

func TestPFSDedup(t *testing.T) {
	corpus := pfsCorpus(t)
	for name, dirs := range corpus {
		for _, ch := range pfsChunkers {
			d := dedupTrees(t, ch.s, true, dirs...)
			if d.stored > d.logical || d.v2new > d.v2 {
				t.Fatalf("%s %s: %+v", name, ch.name, d)
			}
			t.Logf("%s %s per file: ratio %.2f, v2 reused %.1f%%", name, ch.name,
				float64(d.logical)/float64(d.stored), 100*float64(d.v2-d.v2new)/float64(d.v2))
		}
	}
}

// Repair: five nodes, RS(3,2) (the default for five live nodes), size
// bytes put from node 0; node 4's disk is replaced with an empty one, then
// the survivors rebuild its shards: RepairAll on node 0 (one node does
// everything), or Repair on all five nodes at once, the new one included
// (each does the chunks it is first in placement for, as the background
// repair would). mem puts memory stores in place of the disks (the
// protocol without the fsyncs).
func pfsRepair(tb testing.TB, size int, all, mem bool, timer func(on bool)) vol.RepairReport {
	tb.Helper()
	mk := func() blockstore.Store { return pfsDisk(tb) }
	if mem {
		mk = memStore
	}
	nodes := pfsMeshes(tb, 5, mk)
	nm := &vol.MemNames{}
	var vs []*vol.Volume
	for i := range nodes {
		vs = append(vs, pfsVolume(tb, nodes, i, nm))
	}
	data := pfsRand(size)
	if _, err := vs[0].Put(context.Background(), "bench", "r", bytes.NewReader(data), nil); err != nil {
		tb.Fatal(err)
	}
	nodes[4].setStore(mk())
	timer(true)
	var rep vol.RepairReport
	if all {
		r, err := vs[0].RepairAll(context.Background(), false)
		if err != nil {
			tb.Fatal(err)
		}
		rep = r
	} else {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, v := range vs {
			wg.Go(func() {
				r, err := v.Repair(context.Background())
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					tb.Error(err)
				}
				rep.Rebuilt += r.Rebuilt
				rep.Copied += r.Copied
				rep.Failed += r.Failed
				rep.Missing += r.Missing
				rep.BytesMoved += r.BytesMoved
			})
		}
		wg.Wait()
	}
	timer(false)
	if rep.Failed > 0 || rep.Rebuilt == 0 {
		tb.Fatalf("repair: %+v", rep)
	}
	return rep
}

// BenchmarkPFSRepair reports s/GiB and MB/s of rebuilt shard bytes.
//
//	go test -run '^$' -bench '^BenchmarkPFSRepair$' -benchtime 1x -count 5 ./bench/
func BenchmarkPFSRepair(b *testing.B) {
	for _, mode := range []string{"repairall-1node", "repair-5nodes", "repairall-1node-mem"} {
		b.Run(mode, func(b *testing.B) {
			var moved int64
			var took time.Duration
			for b.Loop() {
				b.StopTimer()
				var start time.Time
				rep := pfsRepair(b, pfsSize, mode != "repair-5nodes", mode == "repairall-1node-mem", func(on bool) {
					if on {
						start = time.Now()
						b.StartTimer()
					} else {
						b.StopTimer()
						took += time.Since(start)
					}
				})
				moved += rep.BytesMoved
				b.StartTimer()
			}
			b.ReportMetric(took.Seconds()/(float64(moved)/(1<<30)), "s/GiB")
			b.ReportMetric(float64(moved)/1e6/took.Seconds(), "rebuilt-MB/s")
			b.ReportMetric(float64(moved)/1e6/float64(b.N), "rebuilt-MB")
		})
	}
}

func TestPFSRepair(t *testing.T) {
	start := time.Now()
	rep := pfsRepair(t, 4<<20, true, false, func(bool) {})
	t.Logf("rebuilt %d shards, %d bytes, in %v (setup included)", rep.Rebuilt, rep.BytesMoved, time.Since(start))
}
