package tests

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
	"github.com/p-kernel/p-kernel/tests/testenv"
)

// startCluster starts n pkhost processes forming one cluster.
func startCluster(t *testing.T, n int) []*testenv.Node {
	t.Helper()
	first := testenv.Start(t)
	token := strings.TrimSpace(first.MustCLI("token"))
	seed := first.MeshAddr()
	nodes := []*testenv.Node{first}
	for range n - 1 {
		nodes = append(nodes, testenv.Start(t, "--join", seed, "--token", token))
	}
	waitCluster(t, nodes, n, 60*time.Second)
	return nodes
}

// waitCluster waits until every live node sees want alive members and a
// leader, and at least min(want, 5) voters.
func waitCluster(t *testing.T, nodes []*testenv.Node, want int, d time.Duration) *node.ClusterStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok := true
		var last *node.ClusterStatus
		for _, n := range nodes {
			if n == nil {
				continue
			}
			ci, err := n.Client().Nodes(context.Background())
			if err != nil || ci.Alive != want || ci.Leader == "" || ci.Consensus.Voters < min(want, 5) {
				ok = false
				last = ci
				break
			}
			last = ci
		}
		if ok {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not settle on %d members: %+v", want, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runningVersion(t *testing.T, n *testenv.Node, name string) string {
	t.Helper()
	mods, err := n.Client().Modules(context.Background())
	if err != nil {
		return ""
	}
	for _, m := range mods {
		if m.Name == name && m.State == actor.StateRunning {
			return m.Version
		}
	}
	return ""
}

func waitEverywhere(t *testing.T, nodes []*testenv.Node, name, version string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for runningVersion(t, n, name) != version {
			if time.Now().After(deadline) {
				t.Fatalf("%s does not run %s %.12s (runs %.12q)\n%s", n.Data, name, version, runningVersion(t, n, name), n.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestClusterOfThree: three real pkhost processes over QUIC on loopback:
// a cluster-wide deploy runs everywhere; kill -9 of the leader gives a new
// leader and deploys work again; a failing canary is rolled back
// everywhere; a node with the wrong token is refused.
func TestClusterOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 3)
	v1 := writeFile(t, wasmbuild.Go(t, echoPkg, ""))
	v2 := writeFile(t, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("v2")))

	out := nodes[1].MustCLI("module", "deploy", "echo", v1)
	if !strings.Contains(out, "deployed echo") {
		t.Fatalf("deploy: %s", out)
	}
	h1, err := nodes[1].Client().History(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	ver1 := h1.Version
	waitEverywhere(t, nodes, "echo", ver1, 60*time.Second)

	// Status --json names the leader, members and the degrade level (the
	// degrade module raises it to FULL once three nodes held for 3 s).
	waitDegrade(t, nodes[2], "FULL")
	raw, _ := nodes[2].Client().Status(context.Background())
	for _, want := range []string{`"leader":"n`, `"members":[{"id":"n`, `"degrade":"FULL"`, `"state":"alive"`} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("status --json lacks %s:\n%s", want, raw)
		}
	}

	// kill -9 the leader.
	ci, _ := nodes[0].Client().Nodes(context.Background())
	var leader int
	for i, n := range nodes {
		if m, _ := n.Client().Nodes(context.Background()); m != nil && m.ID == ci.Leader {
			leader = i
		}
	}
	start := time.Now()
	nodes[leader].Kill()
	nodes[leader] = nil
	var survivors []*testenv.Node
	for _, n := range nodes {
		if n != nil {
			survivors = append(survivors, n)
		}
	}
	oldLeader := ci.Leader
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, err := survivors[0].Client().Nodes(context.Background())
		if err == nil && ci.Leader != "" && ci.Leader != oldLeader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader after the old one was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("new leader within %v of kill -9", time.Since(start))
	survivors[1].MustCLI("module", "deploy", "echo", v2)
	h, err := survivors[1].Client().History(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	ver2 := h.Version
	waitEverywhere(t, survivors, "echo", ver2, 60*time.Second)
	if h := survivors[0].MustCLI("module", "history", "echo"); !strings.Contains(h, ver1[:12]) || !strings.Contains(h, ver2[:12]) {
		t.Fatalf("history:\n%s", h)
	}

	// A canary that fails to start is rolled back everywhere.
	bad := writeFile(t, testenv.Guest{InitBody: []byte{testenv.OpUnreach}}.Bytes())
	_, errOut, code := survivors[0].CLI("module", "deploy", "echo", bad, "--canary", "1", "--window", "5s")
	if code == 0 || !strings.Contains(errOut, "rolled back") {
		t.Fatalf("bad canary deploy: code %d: %s", code, errOut)
	}
	waitEverywhere(t, survivors, "echo", ver2, 30*time.Second)
	h, _ = survivors[1].Client().History(context.Background(), "echo")
	if h.Version != ver2 || !strings.Contains(h.History[len(h.History)-1].Note, "failed to start") {
		t.Fatalf("manifest after the rollback: %+v", h)
	}

	// A canary that starts and then crash-loops is rolled back everywhere.
	loop := writeFile(t, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("crashloop")))
	_, errOut, code = survivors[0].CLI("module", "deploy", "echo", loop, "--canary", "1", "--window", "15s")
	if code == 0 || !strings.Contains(errOut, "crash loop") {
		t.Fatalf("crash-looping canary: code %d: %s", code, errOut)
	}
	waitEverywhere(t, survivors, "echo", ver2, 60*time.Second)

	// Garbage blasted at a node's UDP port is ignored.
	conn, err := net.Dial("udp", survivors[0].MeshAddr())
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 1200)
	for i := range 2000 {
		rand.Read(junk[:1+i%1200])
		conn.Write(junk[:1+i%1200])
	}
	conn.Close()
	if reply, err := survivors[0].Client().Call(context.Background(), "echo", []byte("tag"), 0); err != nil || string(reply) != "v2" {
		t.Fatalf("after the garbage: %q %v", reply, err)
	}
	waitCluster(t, survivors, 2, 30*time.Second)

	// Join (spawn): a node with an empty data directory and the token runs
	// what the cluster runs; time from start to useful.
	start = time.Now()
	spawned := testenv.Start(t, "--join", survivors[0].MeshAddr(), "--token", strings.TrimSpace(survivors[0].MustCLI("token")))
	waitEverywhere(t, []*testenv.Node{spawned}, "echo", ver2, 60*time.Second)
	t.Logf("join: empty data directory to running the cluster's modules in %v", time.Since(start))

	// The wrong token is refused at the handshake.
	other := testenv.Start(t)
	wrong := strings.TrimSpace(other.MustCLI("token"))
	out, err = testenv.RunFailing(t, 60*time.Second, "--data", t.TempDir(), "--listen", "127.0.0.1:0",
		"--join", survivors[0].MeshAddr(), "--token", wrong, "--join-timeout", "3s")
	if err == nil {
		t.Fatalf("a node with the wrong token started:\n%s", out)
	}
	if ci, _ := survivors[0].Client().Nodes(context.Background()); ci.Alive != 3 {
		t.Fatalf("a stranger got in: %+v", ci.Members)
	}
}

// TestHealGuardedModule: a module deployed as guarded on one node is
// re-placed on a survivor when its node is killed, and resumes from its
// last replicated checkpoint.
func TestHealGuardedModule(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 3)
	ctx := context.Background()
	echo := writeFile(t, wasmbuild.Go(t, echoPkg, ""))
	nodes[0].MustCLI("module", "deploy", "echo", echo, "--guard", "1")
	h, err := nodes[0].Client().History(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	placed := -1
	deadline := time.Now().Add(30 * time.Second)
	for placed < 0 {
		for i, n := range nodes {
			if runningVersion(t, n, "echo") == h.Version {
				placed = i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the guarded module never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, n := range nodes {
		if i != placed && runningVersion(t, n, "echo") != "" {
			t.Fatalf("guarded module with 1 replica also runs on node %d", i)
		}
	}
	c := nodes[placed].Client()
	for range 5 {
		c.Publish(ctx, "echo/in", []byte("x"), "")
	}
	waitModule(t, c, "echo", 10*time.Second, func(m actor.Status) bool { return m.Events >= 6 })
	time.Sleep(2500 * time.Millisecond) // a checkpoint (1 s) and its replication
	nodes[placed].Kill()
	start := time.Now()
	var survivors []*testenv.Node
	for i, n := range nodes {
		if i != placed {
			survivors = append(survivors, n)
		}
	}
	var heir *testenv.Node
	deadline = time.Now().Add(60 * time.Second)
	for heir == nil {
		for _, n := range survivors {
			if runningVersion(t, n, "echo") == h.Version {
				heir = n
			}
		}
		if time.Now().After(deadline) {
			for _, n := range survivors {
				t.Logf("survivor log:\n%s", lastLines(n.Log(), 30))
			}
			t.Fatal("the guarded module was not re-placed on a survivor")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("guarded module running again %v after kill -9", time.Since(start))
	if reply, err := heir.Client().Call(ctx, "echo", []byte("count"), 0); err != nil || string(reply) != "5" {
		t.Fatalf("the re-placed module did not resume its checkpoint: count %q %v", reply, err)
	}
}

// TestClusterOfFiveLosesMajority: five nodes; kill -9 three of them
// (including the leader if it is among the first three); the two survivors
// keep serving, re-form consensus within the bound, keep every manifest
// change acknowledged before the kill, take new writes; the dead come back
// and converge.
func TestClusterOfFiveLosesMajority(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 5)
	ctx := context.Background()
	v1 := writeFile(t, wasmbuild.Go(t, echoPkg, ""))
	nodes[4].MustCLI("module", "deploy", "echo", v1)
	h, _ := nodes[4].Client().History(ctx, "echo")
	waitEverywhere(t, nodes, "echo", h.Version, 60*time.Second)
	dataDirs := make([]string, 3)
	meshAddrs := make([]string, 3)
	for i := range 3 {
		dataDirs[i] = nodes[i].Data
		meshAddrs[i] = nodes[i].MeshAddr()
		nodes[i].Kill()
		nodes[i] = nil
	}
	start := time.Now()
	survivors := nodes[3:]
	// They keep serving their modules meanwhile.
	if reply, err := survivors[0].Client().Call(ctx, "echo", []byte("tag"), 0); err != nil || string(reply) != "v1" {
		t.Fatalf("survivor stopped serving: %q %v", reply, err)
	}
	if os.Getenv("PK_DEBUG") != "" {
		defer func() {
			for _, n := range survivors {
				t.Logf("survivor log:\n%s", lastLines(n.Log(), 400))
			}
		}()
	}
	waitCluster(t, survivors, 2, 60*time.Second)
	waitDegrade(t, survivors[0], "REDUCED")
	t.Logf("two survivors of five re-formed consensus %v after kill -9", time.Since(start))
	if hh, err := survivors[1].Client().History(ctx, "echo"); err != nil || hh.Version != h.Version {
		t.Fatalf("acknowledged deploy lost: %+v %v", hh, err)
	}
	v2 := writeFile(t, wasmbuild.Go(t, echoPkg, wasmbuild.Tag("v2")))
	survivors[0].MustCLI("module", "deploy", "echo", v2)
	h2, _ := survivors[0].Client().History(ctx, "echo")
	waitEverywhere(t, survivors, "echo", h2.Version, 60*time.Second)

	// The dead return from their data directories and converge on the
	// survivors' cluster: two on their old ports (a configured --listen),
	// one on a new port (a new DHCP lease).
	for i, d := range dataDirs {
		if i == 0 {
			nodes[i] = testenv.StartOn(t, d)
			continue
		}
		nodes[i] = testenv.StartOn(t, d, "--listen", meshAddrs[i])
	}
	waitCluster(t, nodes, 5, 90*time.Second)
	waitEverywhere(t, nodes, "echo", h2.Version, 90*time.Second)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitDegrade waits until the node's status reports the degrade level.
func waitDegrade(t *testing.T, n *testenv.Node, level string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, err := n.Client().Status(context.Background())
		if err == nil && strings.Contains(string(raw), `"degrade":"`+level+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("degrade never became %s", level)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPartitionHealTopics: three processes; one is cut off from the other
// two; both sides write a cluster topic; after the heal every node holds the
// later write, the cut-off node's other topic too, and the cluster is one.
func TestPartitionHealTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkhost processes")
	}
	nodes := startCluster(t, 3)
	addr := make([]string, 3)
	for i, n := range nodes {
		addr[i] = n.MeshAddr()
	}
	nodes[0].MustCLI("topic", "pub", "shared/x", "v0", "--cluster")
	waitTopic(t, nodes, "shared/x", "v0")
	nodes[0].Block(addr[2])
	nodes[1].Block(addr[2])
	nodes[2].Block(addr[0], addr[1])
	time.Sleep(time.Second) // the filters re-read their files every 100 ms
	nodes[0].MustCLI("topic", "pub", "shared/x", "left", "--cluster")
	time.Sleep(100 * time.Millisecond)
	nodes[2].MustCLI("topic", "pub", "shared/x", "right", "--cluster")
	nodes[2].MustCLI("topic", "pub", "only/right", "yes", "--cluster")
	time.Sleep(5 * time.Second) // long enough for the cut-off node to re-form alone
	if v := nodes[1].Topic("shared/x"); v != "left" {
		ci, _ := nodes[1].Client().Nodes(context.Background())
		b, _ := os.ReadFile(nodes[1].Data + ".faults")
		t.Fatalf("majority side during the partition: %q; n1 sees %+v; n1 blocks %q; addrs %v", v, ci.Members, b, addr)
	}
	for _, n := range nodes {
		n.Block()
	}
	waitTopic(t, nodes, "shared/x", "right")
	waitTopic(t, nodes, "only/right", "yes")
	waitCluster(t, nodes, 3, 60*time.Second)
}

func waitTopic(t *testing.T, nodes []*testenv.Node, topic, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range nodes {
		for n.Topic(topic) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s = %q, want %q", n.Data, topic, n.Topic(topic), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
