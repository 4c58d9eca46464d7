package tests

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/tests/testenv"
	"github.com/zeebo/blake3"
)

// pfsFile writes size pseudo-random bytes (from seed) to a file and returns
// its path and BLAKE3.
func pfsFile(t *testing.T, size int64, seed uint64) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("f%d-%d", size, seed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := blake3.New()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		f.Write(buf[:n])
		h.Write(buf[:n])
		left -= n
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// pfsGet reads name through node n and returns the BLAKE3 of what arrived,
// or the command's error output.
func pfsGet(t *testing.T, n *testenv.Node, name string) (string, error) {
	return pfsGetNS(t, n, "", name)
}

// pfsGetNS is pfsGet in namespace ns ("": the default).
func pfsGetNS(t *testing.T, n *testenv.Node, ns, name string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "got")
	args := []string{"fs", "get", name, out, "--quiet"}
	if ns != "" {
		args = append(args, "--ns", ns)
	}
	_, errOut, code := n.CLI(args...)
	if code != 0 {
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a failed get of %s left a file behind", name)
		}
		return "", fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errOut))
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := blake3.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// waitName waits until node n knows name (in the default namespace).
func waitName(t *testing.T, n *testenv.Node, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.Client().FSLog(ctx, "", name)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never learnt the name %s: %v", n.Data, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPFS waits until node n's p-fs reaches want nodes' block stores.
func waitPFS(t *testing.T, n *testenv.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := n.Client().FSStat(ctx, nil)
		cancel()
		if err == nil && len(st.Nodes) == want && len(st.NodeErrors) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("p-fs does not reach %d nodes: %+v %v", want, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fileStat is the redundancy of a name as node n reports it.
func fileStat(t *testing.T, n *testenv.Node, name string) *api.FSFileStat {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := n.Client().FSStat(ctx, &api.FSRef{Name: name})
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	return st.File
}

// TestPFSFiveNodes: p-fs on five pkhost processes with RS(3,2): files of
// every awkward size survive two dead nodes byte for byte; a third death
// makes the reads that need it fail clearly, never with wrong bytes; nodes
// that come back (one with an empty disk) get full redundancy back by
// repair; a corrupted shard on disk is caught on read and rewritten.
func TestPFSFiveNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	// No automatic repair at first: the shards lost with the dead nodes
	// must stay lost until the test brings nodes back (a repair on the
	// survivors would re-spread them and a third death would then lose
	// nothing).
	t.Setenv("PKHOST_PFS_REPAIR_EVERY", "off")
	t.Setenv("PKHOST_PFS_SCRUB_EVERY", "off")
	nodes := startCluster(t, 5)
	waitPFS(t, nodes[0], 5)
	type file struct {
		name, path, sum string
		size            int64
	}
	sizes := map[string]int64{"empty": 0, "one": 1, "max-chunk": 1 << 20, "four-max-chunks": 4 << 20, "odd": 3<<20 + 17}
	big := int64(200 << 20)
	if os.Getenv("CI") == "" && testing.Verbose() == false {
		big = 64 << 20 // the full 200 MiB in CI and with -v
	}
	sizes["big"] = big
	var files []file
	seed := uint64(1)
	for name, size := range sizes {
		path, sum := pfsFile(t, size, seed)
		seed++
		files = append(files, file{name, path, sum, size})
	}
	start := time.Now()
	for _, f := range files {
		out := nodes[0].MustCLI("fs", "put", f.path, f.name, "--quiet")
		fields := strings.Split(strings.TrimSpace(out), "\t")
		if len(fields) != 3 || fields[1] != fmt.Sprint(f.size)+" bytes" || len(fields[2]) != 64 {
			t.Fatalf("put %s: %q (want NAME, SIZE bytes, ID)", f.name, out)
		}
	}
	t.Logf("put %d files (%d MiB) in %v", len(files), (big+9<<20)>>20, time.Since(start))
	checkAll := func(via *testenv.Node, when string) {
		t.Helper()
		for _, f := range files {
			got, err := pfsGet(t, via, f.name)
			if err != nil || got != f.sum {
				t.Fatalf("%s: %s read through %s: %v (sum %s, want %s)", when, f.name, via.Data, err, got, f.sum)
			}
		}
	}
	// Names travel by gossip: wait until the reading node knows them all.
	for _, f := range files {
		waitName(t, nodes[1], f.name)
	}
	checkAll(nodes[1], "all alive")
	for _, f := range files {
		st := fileStat(t, nodes[1], f.name)
		if st.Good != st.Expected || !st.Readable {
			t.Fatalf("%s after put: %+v", f.name, st)
		}
		// RS(3,2): five shards per chunk, one on each node.
		if f.size >= 1<<20 && (st.Expected != 5*st.Chunks || len(st.Holders) != 5) {
			t.Fatalf("%s is not striped RS(3,2) over five nodes: %+v", f.name, st)
		}
	}

	// Two nodes die: everything still reads, byte for byte.
	dirs := []string{nodes[3].Data, nodes[4].Data}
	nodes[3].Kill()
	nodes[4].Kill()
	checkAll(nodes[1], "two nodes dead")

	// A third dies: reads that need it fail, saying what is missing.
	dir2 := nodes[2].Data
	nodes[2].Kill()
	failed := 0
	for _, f := range files {
		got, err := pfsGet(t, nodes[1], f.name)
		switch {
		case err == nil && got != f.sum:
			t.Fatalf("three nodes dead: %s read back wrong bytes", f.name)
		case err != nil:
			failed++
			if !strings.Contains(err.Error(), "need") {
				t.Errorf("three nodes dead: %s failed without saying what is missing: %v", f.name, err)
			}
		}
	}
	if failed == 0 {
		t.Fatal("three of five nodes dead and every file still read: the test kills nothing")
	}
	t.Logf("three nodes dead: %d of %d files unreadable, each with a clear error", failed, len(files))

	// They come back, one of them with an empty disk (its blocks are
	// gone); these three repair by themselves (every 2 s, after reads
	// that find damage, after membership changes), and a full repair on
	// a survivor restores every block.
	if err := os.RemoveAll(filepath.Join(dirs[1], "pfs")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PKHOST_PFS_REPAIR_EVERY", "2s")
	nodes[2] = testenv.StartOn(t, dir2)
	nodes[3] = testenv.StartOn(t, dirs[0])
	nodes[4] = testenv.StartOn(t, dirs[1])
	waitCluster(t, nodes, 5, 90*time.Second)
	waitPFS(t, nodes[0], 5)
	if out := nodes[0].MustCLI("fs", "repair"); !strings.Contains(out, " 0 failed") {
		t.Fatalf("fs repair: %s", out)
	}
	repairStart := time.Now()
	deadline := repairStart.Add(3 * time.Minute)
	for _, f := range files {
		for {
			st := fileStat(t, nodes[0], f.name)
			if st.Placed == st.Expected && st.Good == st.Expected {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not repaired: %+v", f.name, st)
			}
			time.Sleep(time.Second)
		}
	}
	t.Logf("every block back on its placed node %v after the restart", time.Since(repairStart).Round(time.Second))
	checkAll(nodes[4], "after repair")

	// Corrupt data shard 0 of the first chunk of a file on the node that
	// holds it. Scrubs are off (PKHOST_PFS_SCRUB_EVERY) and periodic
	// repair only checks that blocks exist, so it is the read, which
	// fetches data shards first, that must catch the damage: it still
	// returns the right bytes, the node holding the shard quarantines it,
	// and the block is rewritten.
	var odd file
	for _, f := range files {
		if f.name == "odd" {
			odd = f
		}
	}
	victim, want := dataShard(t, odd.path, nodes)
	b, _ := os.ReadFile(victim)
	os.Chmod(victim, 0o600)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	corruptStart := time.Now()
	checkAll(nodes[2], "a corrupt shard")
	quarantined := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(victim))), "quarantine", want)
	if _, err := os.Stat(quarantined); err != nil {
		t.Fatalf("the read did not catch the corrupt shard: %v", err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		b, err := os.ReadFile(victim)
		if err == nil {
			sum := blake3.Sum256(b)
			if hex.EncodeToString(sum[:]) == want {
				t.Logf("corrupt block caught by the read and rewritten %v after the damage", time.Since(corruptStart).Round(time.Second))
				break
			}
		}
		if time.Now().After(deadline) {
			for i, n := range nodes {
				for _, line := range strings.Split(n.Log(), "\n") {
					if strings.Contains(line, "pfs") && (strings.Contains(line, "WARN") || strings.Contains(line, "ERROR")) {
						t.Logf("node %d: %s", i, line)
					}
				}
			}
			t.Fatalf("corrupt block %s not rewritten", victim)
		}
		time.Sleep(time.Second)
	}
}

// dataShard returns the block file of data shard 0 of the first chunk of
// the file at path, as p-fs stores it with RS(3,2), and the shard's id: the
// test computes the shard the way a put does, then finds the node holding
// it.
func dataShard(t *testing.T, path string, nodes []*testenv.Node) (block, id string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, err := chunk.Default().New(f).Next()
	if err != nil {
		t.Fatal(err)
	}
	_, ids, err := erasure.Encode(first, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	id = ids[0].String()
	for _, n := range nodes {
		p := filepath.Join(n.Data, "pfs", "blocks", "blocks", id[:2], id)
		if _, err := os.Stat(p); err == nil {
			return p, id
		}
	}
	t.Fatalf("no node holds data shard 0 (%s) of %s", id, path)
	return "", ""
}

// TestPFSKillAndPartition: an acknowledged put survives kill -9 of its
// node; a put killed half-way leaves readers the old version or the new
// one, never a mix; two sides of a partition writing one name both keep
// their version, in the same order everywhere, after the heal.
func TestPFSKillAndPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 3)
	v1, sum1 := pfsFile(t, 8<<20, 11)
	v2, sum2 := pfsFile(t, 96<<20, 12)

	// Acknowledged, then kill -9 at once: after the restart it is there.
	nodes[0].MustCLI("fs", "put", v1, "doc", "--quiet")
	dir0 := nodes[0].Data
	nodes[0].Kill()
	nodes[0] = testenv.StartOn(t, dir0)
	waitCluster(t, nodes, 3, 90*time.Second)
	for i, n := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := pfsGet(t, n, "doc")
			if err == nil && got == sum1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged put after kill -9 and restart, read through node %d: %v (sum %s)", i, err, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// kill -9 of the writing node in the middle of a put of a new version.
	for _, delay := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			nodes[2].CLI("fs", "put", v2, "doc", "--quiet")
		}()
		time.Sleep(delay)
		dir2 := nodes[2].Data
		nodes[2].Kill()
		<-done
		got, err := pfsGet(t, nodes[1], "doc")
		if err != nil || (got != sum1 && got != sum2) {
			t.Fatalf("put killed after %v: reader got %v, sum %s (old %s, new %s)", delay, err, got, sum1, sum2)
		}
		t.Logf("put killed after %v: reader sees the %s version", delay, map[bool]string{true: "old", false: "new"}[got == sum1])
		nodes[2] = testenv.StartOn(t, dir2)
		waitCluster(t, nodes, 3, 90*time.Second)
	}

	// A partition: n0 alone, n1+n2 together; both sides write "split".
	a, sumA := pfsFile(t, 300<<10, 21)
	b, sumB := pfsFile(t, 500<<10, 22)
	addr := []string{nodes[0].MeshAddr(), nodes[1].MeshAddr(), nodes[2].MeshAddr()}
	nodes[0].Block(addr[1], addr[2])
	nodes[1].Block(addr[0])
	nodes[2].Block(addr[0])
	time.Sleep(3 * time.Second) // the filters apply, membership notices
	nodes[0].MustCLI("fs", "put", a, "split", "--quiet")
	nodes[2].MustCLI("fs", "put", b, "split", "--quiet")
	for _, n := range nodes {
		n.Block()
	}
	waitCluster(t, nodes, 3, 90*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	var logs []string
	for {
		logs = logs[:0]
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			h, err := n.Client().FSLog(ctx, "", "split")
			cancel()
			var ids []string
			if err == nil {
				for _, v := range h {
					ids = append(ids, v.ID)
				}
			}
			logs = append(logs, strings.Join(ids, ","))
		}
		if len(strings.Split(logs[0], ",")) == 2 && logs[0] == logs[1] && logs[1] == logs[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("histories of split after the heal: %q", logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i, n := range nodes {
		got, err := pfsGet(t, n, "split")
		if err != nil || (got != sumA && got != sumB) {
			t.Fatalf("split through node %d: %v", i, err)
		}
		for _, version := range []string{"1", "2"} {
			out := filepath.Join(t.TempDir(), "v")
			n.MustCLI("fs", "get", "split", out, "--version", version, "--quiet")
		}
	}
}

// TestPFSModulesShareFiles: modules granted fs see p-fs at /shared through
// ordinary file APIs (WASI); what one module writes on one node, another
// reads on another node and the CLI reads too, and the other way round. A
// module not granted fs sees no /shared.
func TestPFSModulesShareFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 2)
	wasm := filepath.Join(t.TempDir(), "files.wasm")
	if err := os.WriteFile(wasm, wasmbuild.Go(t, "./tests/guests/files", ""), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.MustCLI("module", "load", "files", wasm, "--grant", "log,call,fs")
	}
	call := func(n *testenv.Node, req string) string {
		t.Helper()
		return strings.TrimSpace(n.MustCLI("module", "call", "files", req))
	}
	if got := call(nodes[0], "write:notes/a.txt:hello"); got != "ok" {
		t.Fatalf("write through the module: %q", got)
	}
	if got := call(nodes[0], "append:notes/a.txt:, world"); got != "ok" {
		t.Fatalf("append through the module: %q", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for call(nodes[1], "read:notes/a.txt") != "hello, world" {
		if time.Now().After(deadline) {
			t.Fatalf("the other node's module reads %q", call(nodes[1], "read:notes/a.txt"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := nodes[1].MustCLI("fs", "cat", "notes/a.txt", "--ns", "shared"); got != "hello, world" {
		t.Fatalf("fs cat of a module's file: %q", got)
	}
	in := filepath.Join(t.TempDir(), "cli.txt")
	os.WriteFile(in, []byte("from the cli"), 0o644)
	nodes[1].MustCLI("fs", "put", in, "notes/cli.txt", "--ns", "shared")
	for call(nodes[0], "read:notes/cli.txt") != "from the cli" {
		if time.Now().After(deadline) {
			t.Fatalf("a module reads the CLI's file as %q", call(nodes[0], "read:notes/cli.txt"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := call(nodes[0], "ls:notes"); got != "a.txt,cli.txt" {
		t.Fatalf("ls: %q", got)
	}
	if got := call(nodes[0], "ls:"); got != "notes/" {
		t.Fatalf("ls /shared: %q", got)
	}
	if got := call(nodes[0], "rm:notes/cli.txt"); got != "ok" {
		t.Fatalf("rm: %q", got)
	}
	if got := call(nodes[0], "read:notes/cli.txt"); !strings.HasPrefix(got, "error:") {
		t.Fatalf("read after rm: %q", got)
	}
	if log := nodes[0].MustCLI("fs", "log", "notes/cli.txt", "--ns", "shared"); !strings.Contains(log, "(removed)") {
		t.Fatalf("history after a module's rm:\n%s", log)
	}
	// The pkhost binary itself is in p-fs, by its hash.
	bin, err := os.ReadFile(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := blake3.Sum256(bin)
	binName := node.BinaryName(hex.EncodeToString(sum[:]))
	for {
		if got, err := pfsGetNS(t, nodes[1], "sys", binName); err == nil {
			if got != hex.EncodeToString(sum[:]) {
				t.Fatalf("the binary in p-fs is not this pkhost: %s", got)
			}
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("the pkhost binary never appeared in p-fs as sys/%s:\n%s", binName, nodes[1].MustCLI("fs", "ls", "--ns", "sys"))
		}
		time.Sleep(time.Second)
	}

	// Without the fs grant there is no /shared.
	nodes[0].MustCLI("module", "load", "nofs", wasm, "--grant", "log,call")
	if got := strings.TrimSpace(nodes[0].MustCLI("module", "call", "nofs", "read:notes/a.txt")); !strings.HasPrefix(got, "error:") {
		t.Fatalf("a module without the fs grant read %q", got)
	}
}

// TestWholeClusterRestart: every node of a cluster goes down (one of them
// by kill -9 right after an acknowledged cluster-topic write), then all
// start again: cluster topics, module state and p-fs files all come back.
func TestWholeClusterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 3)
	echo := writeFile(t, wasmbuild.Go(t, echoPkg, ""))
	nodes[0].MustCLI("module", "deploy", "echo", echo)
	h, err := nodes[0].Client().History(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	waitEverywhere(t, nodes, "echo", h.Version, 60*time.Second)
	for range 5 {
		nodes[1].MustCLI("topic", "pub", "echo/in", "x")
	}
	count := func(n *testenv.Node) string {
		return strings.TrimSpace(n.MustCLI("module", "call", "echo", "count"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(nodes[1]) != "5" {
		if time.Now().After(deadline) {
			t.Fatalf("echo on node 1 counted %s, want 5", count(nodes[1]))
		}
		time.Sleep(100 * time.Millisecond)
	}
	file, sum := pfsFile(t, 3<<20, 31)
	nodes[0].MustCLI("fs", "put", file, "kept", "--quiet")
	nodes[0].MustCLI("topic", "pub", "shared/cfg", "v1", "--cluster")
	waitTopic(t, nodes, "shared/cfg", "v1")

	addrs := []string{nodes[0].MeshAddr(), nodes[1].MeshAddr()}
	// An acknowledged write, then kill -9 of the node that took it.
	nodes[2].MustCLI("topic", "pub", "shared/cfg", "v2", "--cluster")
	nodes[2].Kill()
	nodes[0].Stop()
	nodes[1].Stop()

	// Two come back on their ports (a configured --listen); the third on
	// a new one finds them there.
	for i, n := range nodes {
		if i < 2 {
			nodes[i] = testenv.StartOn(t, n.Data, "--listen", addrs[i])
		} else {
			nodes[i] = testenv.StartOn(t, n.Data)
		}
	}
	waitCluster(t, nodes, 3, 90*time.Second)
	waitTopic(t, nodes, "shared/cfg", "v2")
	waitEverywhere(t, nodes, "echo", h.Version, 60*time.Second)
	if got := count(nodes[1]); got != "5" {
		t.Fatalf("echo's state on node 1 after the restart: %s, want 5", got)
	}
	for i, n := range nodes {
		if got, err := pfsGet(t, n, "kept"); err != nil || got != sum {
			t.Fatalf("p-fs file through node %d after the restart: %v", i, err)
		}
	}
}
