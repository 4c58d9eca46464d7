package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/wasmbuild"
)

// loneNode serves the API of a node running alone (no cluster, no
// embedded modules) over loopback TCP.
func loneNode(t *testing.T) (*node.Node, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	n, err := node.New(ctx, node.Config{DataDir: t.TempDir(), NoEmbedded: true, CompileCacheDir: wasmbuild.SharedCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(n))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		n.Close(ctx)
	})
	return n, srv
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestDashboardPage: the page is served at / and /dashboard, is
// self-contained (no URL but the SVG namespace), and forbids loading
// anything from elsewhere.
func TestDashboardPage(t *testing.T) {
	_, srv := loneNode(t)
	for _, p := range []string{"/", "/dashboard"} {
		resp, body := get(t, srv.URL+p)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, `id="node-count"`) || !strings.Contains(body, `"/v1/events"`) {
			t.Fatalf("GET %s: not the dashboard", p)
		}
		for _, u := range regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^"' )]*`).FindAllString(body, -1) {
			if u != "http://www.w3.org/2000/svg" {
				t.Errorf("the page names an outside URL: %s", u)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
	}
	if resp, _ := get(t, srv.URL+"/nope"); resp.StatusCode != 404 {
		t.Fatalf("GET /nope: %d", resp.StatusCode)
	}
}

// TestEvents: the stream sends a snapshot at once and then one at least
// every second.
func TestEvents(t *testing.T) {
	n, srv := loneNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var times []time.Time
	for len(times) < 3 && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		times = append(times, time.Now())
		var d Dashboard
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		if d.Node.ID != n.ID() || d.Alive != 1 || d.Degrade != "SOLO" || d.Cluster || len(d.Members) != 1 || !d.Members[0].Self {
			t.Fatalf("snapshot: %+v", d)
		}
	}
	if len(times) < 3 {
		t.Fatalf("stream ended after %d events: %v", len(times), sc.Err())
	}
	if gap := times[2].Sub(times[1]); gap > 1500*time.Millisecond {
		t.Fatalf("%v between snapshots", gap)
	}
}

// TestMetricsFormat parses /metrics back: every sample belongs to a
// family announced by HELP and TYPE, names and labels are well formed,
// counters end in _total, and the values say what the node is.
func TestMetricsFormat(t *testing.T) {
	_, srv := loneNode(t)
	resp, body := get(t, srv.URL+"/metrics")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q", ct)
	}
	fams := parseMetrics(t, body)
	for name, want := range map[string]float64{
		"pkhost_cluster_members_alive": 1, "pkhost_cluster_leader": 0, "pkhost_cluster_enabled": 0,
		`pkhost_degrade_level{level="SOLO"}`: 1, `pkhost_degrade_level{level="FULL"}`: 0,
	} {
		fam, _, _ := strings.Cut(name, "{")
		v, ok := fams[fam].samples[name]
		if !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for k, v := range fams["pkhost_info"].samples {
		if v != 1 || !strings.Contains(k, `node="`) {
			t.Errorf("pkhost_info: %s %v", k, v)
		}
	}
	for _, f := range []string{"pkhost_bus_published_total", "pkhost_raft_term", "go_goroutines", "pkhost_modules", "pkhost_module_events_total"} {
		if _, ok := fams[f]; !ok {
			t.Errorf("no family %s", f)
		}
	}
}

type family struct {
	help, typ string
	samples   map[string]float64 // name{labels} -> value
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)`)
)

// parseMetrics parses the text exposition format strictly enough to catch
// what a Prometheus server would refuse.
func parseMetrics(t *testing.T, text string) map[string]*family {
	t.Helper()
	fams := map[string]*family{}
	if !strings.HasSuffix(text, "\n") {
		t.Fatal("exposition does not end in a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "), strings.HasPrefix(line, "# TYPE "):
			f := strings.SplitN(line[7:], " ", 2)
			if len(f) != 2 || !metricName.MatchString(f[0]) {
				t.Fatalf("line %d: %q", i+1, line)
			}
			fam := fams[f[0]]
			if fam == nil {
				if strings.HasPrefix(line, "# TYPE ") {
					t.Fatalf("line %d: TYPE before HELP for %s", i+1, f[0])
				}
				fam = &family{samples: map[string]float64{}}
				fams[f[0]] = fam
			}
			if strings.HasPrefix(line, "# HELP ") {
				if fam.help != "" {
					t.Fatalf("line %d: second HELP for %s", i+1, f[0])
				}
				fam.help = f[1]
			} else {
				if fam.typ != "" || len(fam.samples) > 0 {
					t.Fatalf("line %d: TYPE repeated or after samples for %s", i+1, f[0])
				}
				switch f[1] {
				case "counter", "gauge", "untyped":
				default:
					t.Fatalf("line %d: type %q", i+1, f[1])
				}
				fam.typ = f[1]
				if f[1] == "counter" && !strings.HasSuffix(f[0], "_total") {
					t.Errorf("counter %s does not end in _total", f[0])
				}
			}
		case strings.HasPrefix(line, "#") || line == "":
			t.Fatalf("line %d: unexpected %q", i+1, line)
		default:
			m := sampleLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", i+1, line)
			}
			fam := fams[m[1]]
			if fam == nil || fam.help == "" || fam.typ == "" {
				t.Fatalf("line %d: sample of %s without HELP and TYPE before it", i+1, m[1])
			}
			for rest := m[3]; rest != ""; {
				lm := labelPair.FindStringSubmatch(rest)
				if lm == nil {
					t.Fatalf("line %d: bad labels %q", i+1, m[3])
				}
				rest = rest[len(lm[0]):]
			}
			v, err := strconv.ParseFloat(m[4], 64)
			if err != nil {
				t.Fatalf("line %d: value %q: %v", i+1, m[4], err)
			}
			key := m[1] + m[2]
			if _, dup := fam.samples[key]; dup {
				t.Fatalf("line %d: duplicate sample %s", i+1, key)
			}
			fam.samples[key] = v
		}
	}
	for name, f := range fams {
		if f.typ == "" {
			t.Errorf("%s has HELP but no TYPE", name)
		}
	}
	return fams
}

// TestMetricsEscaping: label values and help text are escaped.
func TestMetricsEscaping(t *testing.T) {
	m := &metricsWriter{seen: map[string]bool{}}
	m.one("x_total", "counter", "a \\ b\nc", 2, "l", "q\"u\\o\nte")
	m.one("y", "gauge", "y", 0.5)
	fams := parseMetrics(t, m.buf.String())
	if fams["x_total"].help != `a \\ b\nc` || fams["x_total"].samples[`x_total{l="q\"u\\o\nte"}`] != 2 || fams["y"].samples["y"] != 0.5 {
		t.Fatalf("%s", m.buf.String())
	}
}

// TestLocalOnly: over TCP, requests for another host name (DNS rebinding)
// or from another origin (a cross-site page) are refused; the API's own
// page and programs are served.
func TestLocalOnly(t *testing.T) {
	_, srv := loneNode(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		hdr  []string
		want int
	}{
		{nil, 200},
		{[]string{"Host", "localhost"}, 200},
		{[]string{"Origin", srv.URL}, 200},
		{[]string{"Sec-Fetch-Site", "same-origin"}, 200},
		{[]string{"Host", "evil.example:" + strings.Split(host, ":")[1]}, 403},
		{[]string{"Origin", "http://evil.example"}, 403},
		{[]string{"Origin", "null"}, 403},
		{[]string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		if resp, body := get(t, srv.URL+"/v1/version", c.hdr...); resp.StatusCode != c.want {
			t.Errorf("%v: %d %s, want %d", c.hdr, resp.StatusCode, body, c.want)
		}
	}
	if !loopbackHost("[::1]:80") || !loopbackHost("127.0.0.2") || loopbackHost("10.0.0.1:80") || loopbackHost("localhost.evil.example") {
		t.Fatal("loopbackHost")
	}
}
