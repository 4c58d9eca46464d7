package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p-kernel/p-kernel/tests/testenv"
)

// chromium finds a Chromium to drive: $PKHOST_CHROMIUM, else chromium,
// chromium-browser or google-chrome on PATH. Without one the test fails
// under CI=true (.ci/run installs Debian's chromium) and skips elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PKHOST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (install Debian's chromium: apt-get install chromium, or set PKHOST_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run this test")
	}
	t.Skip(msg + "; skipped outside CI")
	return ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDashboardInChromium opens the dashboard of a node in headless
// Chromium and watches the counter: 1 alone, 3 when two nodes join, 2
// when one of them is killed -9. Set PKHOST_DASHBOARD_SCREENSHOT=FILE.png
// to keep a picture of the page with the three nodes.
func TestDashboardInChromium(t *testing.T) {
	exe := chromium(t)
	start := time.Now()
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	first := testenv.Start(t, "--api", addr)
	base := "http://" + addr

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	chromeLog, err := os.Create(t.TempDir() + "/chromium.log")
	if err != nil {
		t.Fatal(err)
	}
	defer chromeLog.Close()
	browserLog := func() string { b, _ := os.ReadFile(chromeLog.Name()); return string(b) }
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(chromeLog))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open %s in Chromium: %v\n%s", base, err, browserLog())
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v\n%s", js, err, browserLog())
		}
		return v
	}

	// counter waits until the page's counter shows want.
	counter := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got := eval(`document.getElementById("node-count").dataset.count`)
			if got == want {
				t.Logf("%5.1fs: counter shows %s", time.Since(start).Seconds(), got)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counter shows %q (stream %s), want %s within %v", got, eval(`document.getElementById("conn").dataset.state`), want, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	counter("1", 30*time.Second)

	token := strings.TrimSpace(first.MustCLI("token"))
	seed := first.MeshAddr()
	nodes := []*testenv.Node{first}
	for range 2 {
		nodes = append(nodes, testenv.Start(t, "--join", seed, "--token", token))
	}
	counter("3", 60*time.Second)

	// The graph has the three members, alive, one of them the leader.
	var graph string
	waitFor(t, 10*time.Second, "the graph shows 3 alive members and the leader", func() bool {
		graph = eval(`[...document.querySelectorAll("#cluster-graph .member")].map(g =>
			g.dataset.state + (g.dataset.leader === "1" ? "*" : "")).sort().join(",")`)
		return graph == "alive,alive,alive*"
	}, func() string { return graph })
	// The degrade policy rises to FULL after a few stable seconds.
	waitFor(t, 30*time.Second, "degrade FULL", func() bool {
		return eval(`document.getElementById("degrade").dataset.level`) == "FULL"
	}, func() string { return eval(`document.getElementById("degrade").dataset.level`) })
	if shot := os.Getenv("PKHOST_DASHBOARD_SCREENSHOT"); shot != "" {
		waitFor(t, 20*time.Second, "p-fs usage measured", func() bool {
			return eval(`String(!!document.getElementById("pfs-local"))`) == "true"
		}, func() string { return "" })
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", shot)
	}

	// /metrics agrees.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\npkhost_cluster_members_alive 3\n") {
		t.Fatalf("/metrics with 3 nodes:\n%s", body)
	}

	nodes[2].Kill()
	counter("2", 60*time.Second)
	waitFor(t, 10*time.Second, "degrade REDUCED", func() bool {
		return eval(`document.getElementById("degrade").dataset.level`) == "REDUCED"
	}, func() string { return eval(`document.getElementById("degrade").dataset.level`) })

	// Nothing was loaded from anywhere but the node.
	urls, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("the page loaded %s", u)
		}
	}
	t.Logf("done in %.1fs", time.Since(start).Seconds())
}

// waitFor polls ok until it holds or d passes; last says what was seen.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, d, last())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
