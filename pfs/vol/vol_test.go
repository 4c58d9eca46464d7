package vol

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/place"
)

const csize = 64 << 10 // the fixed chunk size of the tests

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testFiles are the sizes the brief asks for: empty, one byte, exact
// multiples of the chunk size, a zero-filled one and a few MiB.
func testFiles() map[string][]byte {
	return map[string][]byte{
		"empty":     {},
		"one":       {42},
		"chunk":     randBytes(1, csize),
		"chunks3":   randBytes(2, 3*csize),
		"zeros":     make([]byte, 4*csize),
		"small":     randBytes(3, 5000),
		"dir/big":   randBytes(4, 3<<20+17),
		"dir/big64": randBytes(5, 64*csize),
	}
}

func put(t testing.TB, v *Volume, ns, name string, data []byte) names.Version {
	t.Helper()
	ver, err := v.Put(context.Background(), ns, name, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	if ver.Size != uint64(len(data)) {
		t.Fatalf("put %s: size %d, want %d", name, ver.Size, len(data))
	}
	return ver
}

// readAll reads ns/name three ways (io.Copy through WriteTo, Read, ReadAt
// at odd offsets) and checks they agree.
func readAll(t testing.TB, v *Volume, ns, name string) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	f, err := v.Open(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(struct{ io.Reader }{f})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(plain, buf.Bytes()) {
		t.Fatalf("%s: Read and WriteTo differ", name)
	}
	if n := f.Size(); n > 10 {
		p := make([]byte, 7)
		if _, err := f.ReadAt(p, n/2-3); err != nil {
			return nil, err
		}
		if !bytes.Equal(p, plain[n/2-3:n/2+4]) {
			t.Fatalf("%s: ReadAt differs", name)
		}
	}
	return buf.Bytes(), nil
}

func checkAll(t *testing.T, v *Volume, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := readAll(t, v, "t", name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %s: wrong bytes (%d, want %d)", name, len(got), len(want))
		}
	}
}

// checkFull asserts every chunk of every file is fully placed.
func checkFull(t *testing.T, v *Volume, files map[string][]byte) {
	t.Helper()
	for name := range files {
		ver, _ := v.names.Index().Latest("t", name)
		red, err := v.Redundancy(context.Background(), ver.Object)
		if err != nil {
			t.Fatalf("redundancy %s: %v", name, err)
		}
		for _, r := range red {
			if r.Placed != r.Expected || r.Good < r.Expected && r.Chunk.K > 1 {
				t.Fatalf("%s chunk at %d: placed %d good %d of %d: %+v", name, r.Offset, r.Placed, r.Good, r.Expected, r.Blocks)
			}
		}
	}
}

func TestRS32SurvivesTwoAndRepairs(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	files := testFiles()
	for name, data := range files {
		put(t, v, "t", name, data)
	}
	checkAll(t, v, files)
	checkFull(t, v, files)

	// Shards are where placement says: shard i on the i-th ranked node.
	ver, _ := v.names.Index().Latest("t", "chunks3")
	red, err := v.Redundancy(context.Background(), ver.Object)
	if err != nil || len(red) != 3 {
		t.Fatalf("redundancy: %v, %d chunks", err, len(red))
	}
	for _, r := range red {
		if r.Chunk.K != 3 || r.Chunk.M != 2 || r.Expected != 5 || r.Good != 5 {
			t.Fatalf("chunk coding %d/%d, %d good of %d", r.Chunk.K, r.Chunk.M, r.Good, r.Expected)
		}
		rank := place.Rank(r.Chunk.ID, e.net.live())
		for i, b := range r.Blocks {
			if len(b.Nodes) != 1 || b.Nodes[0] != rank[i] {
				t.Fatalf("shard %d on %v, want %s", i, b.Nodes, rank[i])
			}
		}
	}

	// Any two nodes down: everything reads.
	e.net.kill("n1", "n3")
	checkAll(t, v, files)

	// A third: reads that need it fail clearly, and never give wrong bytes.
	e.net.kill("n4")
	failed := 0
	var example error
	for name, want := range files {
		got, err := readAll(t, v, "t", name)
		if err == nil {
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: wrong bytes with 3 nodes down", name)
			}
			continue
		}
		failed++
		example = err
		var me *MissingError
		if !errors.As(err, &me) || !errors.Is(err, ErrMissing) {
			t.Fatalf("%s: %v is not a *MissingError", name, err)
		}
		if me.Have >= me.Need || len(me.Nodes()) == 0 || !strings.Contains(err.Error(), me.ID.Short()) {
			t.Fatalf("%s: unhelpful error %v", name, err)
		}
		if me.What == "chunk" && me.Need == 3 && me.Have != 2 {
			t.Fatalf("%s: have %d shards with 2 nodes up, %v", name, me.Have, err)
		}
	}
	if failed == 0 {
		t.Fatal("no read failed with 3 of 5 nodes down")
	}
	t.Logf("with 3 of 5 down, %d of %d files fail, e.g. %v", failed, len(files), example)

	// n4 comes back with its disk; n1 and n3 are replaced by empty ones.
	e.net.revive("n4", false)
	checkAll(t, v, files)
	e.net.revive("n1", true)
	e.net.revive("n3", true)
	qrep := v.RepairQueued(context.Background()) // what the reads found
	rep, err := v.RepairAll(context.Background(), false)
	if err != nil || rep.Failed != 0 || qrep.Failed != 0 {
		t.Fatalf("repair: %+v %+v %v", qrep, rep, err)
	}
	t.Logf("queued repair: %+v; full repair: %+v", qrep, rep)
	checkFull(t, v, files)
	// Lose two other nodes now: still all there.
	e.net.kill("n0", "n2")
	checkAll(t, v, files)
}

// TestRepairReadsK: rebuilding a lost shard reads k of the others, not
// all of them; when one of those is gone too, it reads one more and both
// lost shards come back.
func TestRepairReadsK(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	data := randBytes(23, 4*csize)
	ver := put(t, v, "t", "f", data)
	red, err := v.Redundancy(context.Background(), ver.Object)
	if err != nil || len(red) != 4 {
		t.Fatalf("redundancy: %v, %d chunks", err, len(red))
	}
	shardIDs := func(r ChunkRedundancy) []cid.ID { return r.Chunk.Shards }
	for _, r := range red {
		e.net.getsOf(shardIDs(r)...)
	}
	// One shard of every chunk lost (a replaced disk).
	e.net.kill("n3")
	e.net.revive("n3", true)
	rep, err := v.RepairAll(context.Background(), false)
	if err != nil || rep.Failed != 0 || rep.Rebuilt != len(red) {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	for _, r := range red {
		if got := e.net.getsOf(shardIDs(r)...); got != 3 {
			t.Fatalf("chunk %s: rebuilding one shard read %d shards, want k=3", r.Chunk.ID.Short(), got)
		}
	}
	// Shard 0 of the first chunk lost and shard 1 corrupt (which a
	// shallow repair's Has does not see): the rebuild reads shards 1-3,
	// finds shard 1 bad, and reads shard 4 in its place.
	r := red[0]
	if err := e.net.mem(r.Blocks[0].Want).Delete(context.Background(), r.Blocks[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.net.mem(r.Blocks[1].Want).Corrupt(r.Blocks[1].ID); err != nil {
		t.Fatal(err)
	}
	rep, err = v.RepairAll(context.Background(), false)
	if err != nil || rep.Failed != 0 || rep.Rebuilt != 1 {
		t.Fatalf("second repair: %+v %v", rep, err)
	}
	if e.net.getsOf(r.Blocks[4].ID) != 1 || e.net.getsOf(r.Blocks[2].ID, r.Blocks[3].ID) != 2 {
		t.Fatal("the rebuild did not fall back to shard 4 when shard 1 was bad")
	}
	if b, err := e.net.mem(r.Blocks[0].Want).Get(context.Background(), r.Blocks[0].ID); err != nil || cid.Sum(b) != r.Blocks[0].ID {
		t.Fatalf("shard 0 not rebuilt: %v", err)
	}
	if got, err := readAll(t, v, "t", "f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after repair: %v", err)
	}
}

func TestRepairFromScratch(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	files := testFiles()
	for name, data := range files {
		put(t, v, "t", name, data)
	}
	e.net.kill("n2", "n4")
	e.net.revive("n2", true)
	e.net.revive("n4", true)
	rep, err := v.RepairAll(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing == 0 || rep.Rebuilt == 0 || rep.Copied == 0 || rep.Failed != 0 || rep.BytesMoved == 0 {
		t.Fatalf("repair: %+v", rep)
	}
	checkFull(t, v, files)
	rep, err = v.RepairAll(context.Background(), true)
	if err != nil || rep.Missing+rep.Corrupt+rep.Failed != 0 {
		t.Fatalf("second repair: %+v %v", rep, err)
	}

	// Responsibility: the nodes together repair everything once.
	e.net.kill("n1")
	e.net.revive("n1", true)
	total := RepairReport{}
	for _, n := range e.net.live() {
		r, err := e.volume(t, n, 3, 2, csize).Repair(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total.add(r)
	}
	if total.Chunks+total.Objects != rep.Chunks+rep.Objects || total.Failed != 0 {
		t.Fatalf("per-node repair: %+v, all: %+v", total, rep)
	}
	checkFull(t, v, files)
}

func TestCorruptBlockDetectedAndRepaired(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	data := randBytes(7, 2*csize)
	ver := put(t, v, "t", "f", data)
	red, err := v.Redundancy(context.Background(), ver.Object)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt data shard 0 of chunk 0: a read needs it first.
	b := red[0].Blocks[0]
	if err := e.net.mem(b.Want).Corrupt(b.ID); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, v, "t", "f")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a corrupt shard: %v", err)
	}
	if v.Queued() == 0 {
		t.Fatal("corrupt shard not queued for repair")
	}
	rep := v.RepairQueued(context.Background())
	if rep.Corrupt != 1 || rep.Rebuilt+rep.Copied != 1 || rep.Failed != 0 {
		t.Fatalf("repair: %+v", rep)
	}
	checkFull(t, v, map[string][]byte{"f": data})

	// Scrub on the node holding a corrupt block deletes it; repair rewrites it.
	b = red[1].Blocks[4]
	if err := e.net.mem(b.Want).Corrupt(b.ID); err != nil {
		t.Fatal(err)
	}
	srep, err := e.volume(t, b.Want, 3, 2, csize).Scrub(context.Background())
	if err != nil || srep.Corrupt != 1 {
		t.Fatalf("scrub: %+v %v", srep, err)
	}
	rep, err = v.RepairAll(context.Background(), false)
	if err != nil || rep.Missing != 1 || rep.Rebuilt != 1 {
		t.Fatalf("repair after scrub: %+v %v", rep, err)
	}
	checkFull(t, v, map[string][]byte{"f": data})

	// A whole-copy chunk and an object with a corrupt copy.
	small := randBytes(8, 100)
	ver = put(t, v, "t", "s", small)
	red, _ = v.Redundancy(context.Background(), ver.Object)
	rank := place.Rank(red[0].Chunk.ID, e.net.live())
	_ = e.net.mem(rank[0]).Corrupt(red[0].Chunk.ID)
	_ = e.net.mem(place.Rank(ver.Object, e.net.live())[0]).Corrupt(ver.Object)
	if got, err := readAll(t, v, "t", "s"); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("read with corrupt copies: %v", err)
	}
	rep = v.RepairQueued(context.Background())
	if rep.Corrupt != 2 || rep.Copied != 2 || rep.Failed != 0 {
		t.Fatalf("repair of copies: %+v", rep)
	}
	checkFull(t, v, map[string][]byte{"s": small})
}

func TestFailedPutKeepsOldVersionAndGCRemovesOrphans(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	v.cfg.Grace = 0 // only the recently-written set protects; see below
	old := randBytes(9, 5*csize)
	put(t, v, "t", "f", old)
	before := e.net.blocks()

	// n2 takes 10 more blocks and then fails: RS(3,2) on 5 nodes has no
	// spare, so the put must fail, naming the chunk and the node.
	e.net.failAfter("n2", 10)
	_, err := v.Put(context.Background(), "t", "f", bytes.NewReader(randBytes(10, 40*csize)), nil)
	var pe *PlaceError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "n2") || !strings.Contains(err.Error(), "stored 4 of 5") {
		t.Fatalf("put error: %v", err)
	}
	e.net.failAfter("n2", -1)
	if h := v.History("t", "f"); len(h) != 1 {
		t.Fatalf("history after failed put: %d versions", len(h))
	}
	if got, err := readAll(t, v, "t", "f"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old version after failed put: %v", err)
	}
	orphans := e.net.blocks() - before
	if orphans == 0 {
		t.Fatal("the failed put left no blocks; the test does not test GC")
	}

	// Inside the grace period the orphans are kept (a put could be writing
	// them), after it they go.
	v.cfg.Grace = 1 << 40
	g, err := v.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Deleted != 0 || g.Deferred != orphans {
		t.Fatalf("gc in grace: %+v %v (orphans %d)", g, err, orphans)
	}
	e.clock.advance(1 << 41)
	g, err = v.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Deleted != orphans || g.Deferred != 0 {
		t.Fatalf("gc: %+v %v (orphans %d)", g, err, orphans)
	}
	if e.net.blocks() != before {
		t.Fatalf("%d blocks after gc, %d before the failed put", e.net.blocks(), before)
	}
	if got, err := readAll(t, v, "t", "f"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old version after gc: %v", err)
	}
}

func TestPutFallsToNextRankedNode(t *testing.T) {
	e := newEnv(7)
	v := e.volume(t, "n0", 3, 2, csize)
	e.net.failAfter("n3", 0)
	files := map[string][]byte{"a": randBytes(11, 20*csize), "b": randBytes(12, 10)}
	for name, data := range files {
		put(t, v, "t", name, data)
	}
	checkAll(t, v, files)
	e.net.failAfter("n3", -1)
	rep, err := v.RepairAll(context.Background(), false)
	if err != nil || rep.Missing == 0 || rep.Copied != rep.Missing {
		t.Fatalf("repair moved nothing back: %+v %v", rep, err)
	}
	checkFull(t, v, files)
	// The copies the fallback wrote are now extra: GC removes them.
	before := e.net.blocks()
	g, err := v.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Misplaced != rep.Copied || g.Deleted != 0 || e.net.blocks() != before-g.Misplaced {
		t.Fatalf("gc of misplaced copies: %+v %v (repair copied %d)", g, err, rep.Copied)
	}
	checkFull(t, v, files)
	e.net.kill("n1", "n5")
	checkAll(t, v, files)
}

func TestConcurrentWritersOneName(t *testing.T) {
	e := newEnv(5)
	a := e.volume(t, "n0", 3, 2, csize)
	b := e.volume(t, "n1", 3, 2, csize)
	da, db := randBytes(13, 3*csize), randBytes(14, 3*csize)
	var wg sync.WaitGroup
	for _, x := range []struct {
		v *Volume
		d []byte
	}{{a, da}, {b, db}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put(t, x.v, "t", "f", x.d)
		}()
	}
	wg.Wait()
	ha, hb := a.History("t", "f"), b.History("t", "f")
	if len(ha) != 2 || len(hb) != 2 || ha[0] != hb[0] || ha[1] != hb[1] {
		t.Fatalf("histories differ: %v / %v", ha, hb)
	}
	// Same wall clock: the order is by logical counter, then node.
	if names.Compare(ha[0], ha[1]) >= 0 {
		t.Fatal("history not in order")
	}
	latest, _ := a.names.Index().Latest("t", "f")
	want := da
	if latest.Node == "n1" {
		want = db
	}
	for _, v := range []*Volume{a, b} {
		if got, err := readAll(t, v, "t", "f"); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("latest differs: %v", err)
		}
	}
	// A later write from either supersedes both, even with a stopped clock.
	dc := randBytes(15, 10)
	ver := put(t, a, "t", "f", dc)
	if l, _ := b.names.Index().Latest("t", "f"); l != ver {
		t.Fatalf("latest %v, want %v", l, ver)
	}
}

func TestFewerNodesThanStripe(t *testing.T) {
	e := newEnv(2)
	v := e.volume(t, "n0", 3, 2, csize)
	files := testFiles()
	for name, data := range files {
		put(t, v, "t", name, data)
	}
	ver, _ := v.names.Index().Latest("t", "dir/big")
	red, _ := v.Redundancy(context.Background(), ver.Object)
	if red[0].Chunk.K != 1 || red[0].Chunk.M != 1 || red[0].Good != 2 {
		t.Fatalf("2 nodes, RS(3,2): chunk %d/%d with %d copies", red[0].Chunk.K, red[0].Chunk.M, red[0].Good)
	}
	e.net.kill("n0")
	checkAll(t, v, files)
	e.net.revive("n0", true)
	e.net.kill("n1")
	if _, err := readAll(t, v, "t", "dir/big"); !errors.Is(err, ErrMissing) {
		t.Fatalf("read with both copies gone: %v", err)
	}
	e.net.revive("n1", false)
	if _, err := v.RepairAll(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.net.kill("n1")
	checkAll(t, v, files)
}

func TestGCKeepLast(t *testing.T) {
	e := newEnv(5)
	v := e.volume(t, "n0", 3, 2, csize)
	v.cfg.Grace = -1
	base := randBytes(16, 6*csize)
	var vers []names.Version
	for i := range 4 {
		d := append(append([]byte(nil), base...), randBytes(uint64(100+i), 2*csize)...) // shares 6 chunks
		vers = append(vers, put(t, v, "t", "f", d))
		e.clock.advance(1)
	}
	other := randBytes(17, 3*csize)
	put(t, v, "u", "g", other)
	put(t, v, "t", "gone", randBytes(18, csize))
	if _, err := v.Remove(context.Background(), "t", "gone"); err != nil {
		t.Fatal(err)
	}
	g, err := v.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Deleted != 0 {
		t.Fatalf("gc keeping everything deleted %d: %v", g.Deleted, err)
	}
	before := e.net.blocks()
	g, err = v.GC(context.Background(), GCOptions{Retention: names.Policy{KeepLast: 1}, AllNodes: true})
	if err != nil || g.Deleted == 0 || g.Expired != 4 {
		t.Fatalf("gc KeepLast=1: %+v %v", g, err)
	}
	// 3 old versions × 2 own chunks × 5 shards + their root objects × 3
	// copies; "gone"'s tombstone is its current version, so its data goes
	// too.
	if want := 3*2*5 + 3*3 + 5 + 3; g.Deleted != want || e.net.blocks() != before-want {
		t.Fatalf("deleted %d blocks, want %d", g.Deleted, want)
	}
	if got, err := readAll(t, v, "t", "f"); err != nil || len(got) != 8*csize {
		t.Fatalf("latest after gc: %v", err)
	}
	if got, err := readAll(t, v, "u", "g"); err != nil || !bytes.Equal(got, other) {
		t.Fatalf("other namespace after gc: %v", err)
	}
	if _, err := v.OpenVersion(context.Background(), vers[0]); !errors.Is(err, ErrMissing) {
		t.Fatalf("an expired version still opens: %v", err)
	}
}

func TestNamesAPI(t *testing.T) {
	e := newEnv(3)
	v := e.volume(t, "n0", 0, 0, csize)
	ctx := context.Background()
	var progress []int64
	d := randBytes(19, 5*csize+3)
	ver, err := v.Put(ctx, "docs", "a/b.txt", bytes.NewReader(d), &PutOptions{Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 6 || progress[5] != int64(len(d)) {
		t.Fatalf("progress %v", progress)
	}
	put(t, v, "docs", "a/c.txt", []byte("c"))
	put(t, v, "docs", "z", []byte("z"))
	if l := v.List("docs", "a/"); len(l) != 2 || l[0].Name != "a/b.txt" {
		t.Fatalf("list: %v", l)
	}
	if _, err := v.Remove(ctx, "docs", "a/b.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(ctx, "docs", "a/b.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open removed: %v", err)
	}
	if _, err := v.Open(ctx, "docs", "never"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open never written: %v", err)
	}
	if _, err := v.Remove(ctx, "docs", "never"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remove never written: %v", err)
	}
	h := v.History("docs", "a/b.txt")
	if len(h) != 2 || h[0] != ver || !h[1].Removed() {
		t.Fatalf("history: %v", h)
	}
	f, err := v.OpenVersion(ctx, h[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(f); !bytes.Equal(got, d) {
		t.Fatal("old version differs")
	}
	g, err := v.Get(ctx, ver.Object)
	if err != nil || g.Size() != int64(len(d)) {
		t.Fatalf("get: %v", err)
	}
	u, err := v.Stat(ctx)
	if err != nil || u.Files != 2 || u.Versions != 4 || len(u.Nodes) != 3 {
		t.Fatalf("stat: %+v %v", u, err)
	}
	for n, nu := range u.Nodes {
		if nu.Blocks == 0 {
			t.Fatalf("node %s holds nothing", n)
		}
	}
	if _, err := v.Put(ctx, "Bad NS", "x", bytes.NewReader(nil), nil); err == nil {
		t.Fatal("bad namespace accepted")
	}
}

func TestDiskStores(t *testing.T) {
	e := newEnv(0)
	for i := range 3 {
		st, err := openDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		e.net.add(string(rune('a'+i)), st)
	}
	v := e.volume(t, "a", 0, 0, csize)
	files := testFiles()
	for name, data := range files {
		put(t, v, "t", name, data)
	}
	checkAll(t, v, files)
	e.net.kill("b")
	checkAll(t, v, files)
}

var _ blockstore.Store = nodeStore{}

func TestGCSparesInFlightPut(t *testing.T) {
	e := newEnv(5)
	w := e.volume(t, "n0", 3, 2, csize)
	gc := e.volume(t, "n1", 3, 2, csize) // another node's GC: it did not write the blocks
	data := randBytes(20, 40*csize)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := w.Put(context.Background(), "t", "f", pr, nil)
		done <- err
	}()
	if _, err := pw.Write(data[:20*csize]); err != nil {
		t.Fatal(err)
	}
	for e.net.blocks() < 10*5 { // wait until some blocks are stored
		runtime.Gosched()
	}
	g, err := gc.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Deleted != 0 || g.Deferred == 0 {
		t.Fatalf("gc during a put: %+v %v", g, err)
	}
	pw.Write(data[20*csize:])
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Hour)
	g, err = gc.GC(context.Background(), GCOptions{AllNodes: true})
	if err != nil || g.Deleted != 0 || g.Deferred != 0 {
		t.Fatalf("gc after the put: %+v %v", g, err)
	}
	if got, err := readAll(t, w, "t", "f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after gc: %v", err)
	}
}

// backgroundVolumes opens a volume on every node of e that repairs every
// 5 ms and scrubs every scrub (0: never), with clock if not nil, and
// returns the first one.
func backgroundVolumes(t *testing.T, e *testEnv, scrub time.Duration, clock ScrubClock) *Volume {
	var first *Volume
	for _, n := range e.net.live() {
		v, err := Open(Config{
			Cluster: view{e.net, n}, Names: e.names, Splitter: chunk.Fixed(csize),
			RepairEvery: 5 * time.Millisecond, ScrubEvery: scrub, ScrubClock: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		if first == nil {
			first = v
		}
	}
	return first
}

func TestBackgroundRepair(t *testing.T) {
	// Every node runs its own background repair of what it is responsible
	// for; reads repair what they find at once.
	e := newEnv(5)
	v := backgroundVolumes(t, e, 0, nil)
	data := randBytes(21, 4*csize)
	ver := put(t, v, "t", "f", data)
	red, _ := v.Redundancy(context.Background(), ver.Object)
	// One shard corrupt (found by a read), one deleted (found by Repair).
	_ = e.net.mem(red[0].Blocks[1].Want).Corrupt(red[0].Blocks[1].ID)
	_ = e.net.mem(red[2].Blocks[3].Want).Delete(context.Background(), red[2].Blocks[3].ID)
	if got, err := readAll(t, v, "t", "f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		red, _ := v.Redundancy(context.Background(), ver.Object)
		full := true
		for _, r := range red {
			full = full && r.Placed == r.Expected && r.Good == r.Expected
		}
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background repair did not restore redundancy: %+v", red)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBackgroundScrub(t *testing.T) {
	// A corrupt parity shard is never touched by reads and passes Repair's
	// existence check: only a scrub finds it, and repair then rewrites it.
	e := newEnv(5)
	v := backgroundVolumes(t, e, 5*time.Millisecond, nil)
	data := randBytes(22, 2*csize)
	ver := put(t, v, "t", "f", data)
	red, _ := v.Redundancy(context.Background(), ver.Object)
	parity := red[0].Blocks[len(red[0].Blocks)-1]
	if err := e.net.mem(parity.Want).Corrupt(parity.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := e.net.mem(parity.Want).Get(context.Background(), parity.ID)
		if err == nil && cid.Sum(b) == parity.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corrupt parity shard not scrubbed and rewritten: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// memScrubClock is a ScrubClock in memory that counts the scrubs recorded.
type memScrubClock struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

func (c *memScrubClock) LastScrub() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *memScrubClock) Scrubbed(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last, c.count = t, c.count+1
	return nil
}

func (c *memScrubClock) scrubs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// TestScrubClock: with a daily scrub whose last run, remembered across a
// restart, was a day ago, the volumes scrub at once and record it; with a
// last run just now, they wait.
func TestScrubClock(t *testing.T) {
	due := &memScrubClock{last: time.Now().Add(-24 * time.Hour)}
	e := newEnv(5)
	v := backgroundVolumes(t, e, 24*time.Hour, due)
	data := randBytes(24, 2*csize)
	put(t, v, "t", "f", data)
	deadline := time.Now().Add(10 * time.Second)
	// The nodes share the clock here, so the first to scrub puts the
	// others' next one a day away.
	for due.scrubs() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("an overdue scrub did not run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if since := time.Since(due.LastScrub()); since > time.Minute {
		t.Fatalf("recorded scrub time is %v old", since)
	}

	fresh := &memScrubClock{last: time.Now()}
	backgroundVolumes(t, newEnv(5), 24*time.Hour, fresh)
	time.Sleep(50 * time.Millisecond)
	if n := fresh.scrubs(); n != 0 {
		t.Fatalf("%d scrubs ran right after one", n)
	}
}

// memGCMemory is a GCMemory in memory, standing in for a file.
type memGCMemory struct {
	seen  map[string]map[cid.ID]time.Duration
	saves int
}

func (m *memGCMemory) LoadSeen() (map[string]map[cid.ID]time.Duration, error) { return m.seen, nil }
func (m *memGCMemory) SaveSeen(s map[string]map[cid.ID]time.Duration) error {
	m.seen, m.saves = s, m.saves+1
	return nil
}

// TestGCGraceAcrossRestarts: orphans seen for 40 minutes before a restart
// and 30 after it are collected (a node restarted more often than the
// grace still collects), but the time the node was down does not count.
func TestGCGraceAcrossRestarts(t *testing.T) {
	e := newEnv(5)
	mem := &memGCMemory{}
	open := func() *Volume {
		v, err := Open(Config{Cluster: view{e.net, "n0"}, Names: e.names, Policy: erasure.Policy{K: 3, M: 2},
			Splitter: chunk.Fixed(csize), Now: e.clock.Now, Grace: time.Hour, GCMemory: mem})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v
	}
	v := open()
	put(t, v, "t", "f", randBytes(30, 4*csize))
	before := e.net.blocks()
	e.net.failAfter("n2", 2)
	if _, err := v.Put(context.Background(), "t", "f", bytes.NewReader(randBytes(31, 20*csize)), nil); err == nil {
		t.Fatal("the put did not fail; the test needs orphans")
	}
	e.net.failAfter("n2", -1)
	orphans := e.net.blocks() - before
	e.clock.advance(2 * time.Hour) // past the put's own protection

	gc := func(v *Volume, wantDeleted int) {
		t.Helper()
		g, err := v.GC(context.Background(), GCOptions{AllNodes: true})
		if err != nil || g.Deleted != wantDeleted || g.Deleted+g.Deferred != orphans {
			t.Fatalf("gc: %+v %v; want %d deleted of %d orphans", g, err, wantDeleted, orphans)
		}
	}
	gc(v, 0) // first seen now
	e.clock.advance(40 * time.Minute)
	gc(v, 0)
	if mem.saves != 2 || len(mem.seen["n0"]) == 0 || mem.seen["n0"][firstKey(mem.seen["n0"])] != 40*time.Minute {
		t.Fatalf("saved after 2 GCs: %d saves, %v", mem.saves, mem.seen["n0"])
	}

	v.Close()
	e.clock.advance(10 * time.Hour) // down for 10 hours: does not count
	v = open()
	gc(v, 0) // seen for 40 minutes
	e.clock.advance(25 * time.Minute)
	gc(v, orphans) // 65 minutes
	if got := e.net.blocks() - before; got != 0 {
		t.Fatalf("%d of %d orphans left after 65 minutes seen across a restart", got, orphans)
	}
	if len(mem.seen["n0"]) != 0 {
		t.Fatalf("ages of deleted blocks still saved: %v", mem.seen["n0"])
	}
	// Nothing unreferenced, GC after GC: saved once, not every time.
	saves := mem.saves
	if _, err := v.GC(context.Background(), GCOptions{AllNodes: true}); err != nil {
		t.Fatal(err)
	}
	if mem.saves != saves {
		t.Fatalf("an unchanged empty state was saved again (%d saves, then %d)", saves, mem.saves)
	}
}

func firstKey(m map[cid.ID]time.Duration) cid.ID {
	for k := range m {
		return k
	}
	return cid.Undef
}
