package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/node"
)

// Client talks to a node's control API.
type Client struct {
	hc   *http.Client
	base string
}

// ErrNoNode means no node is serving the data directory.
var ErrNoNode = errors.New("no node running")

// Dial connects to the node serving dataDir (it reads <dataDir>/api).
func Dial(dataDir string) (*Client, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "api"))
	if err != nil {
		return nil, fmt.Errorf("%w on data directory %s (start one with: pkhost run --data %s)", ErrNoNode, dataDir, dataDir)
	}
	where := strings.TrimSpace(string(b))
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	c := &Client{hc: &http.Client{Transport: tr}}
	switch {
	case strings.HasPrefix(where, "unix:"):
		sock := where[len("unix:"):]
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		c.base = "http://pkhost"
	case strings.HasPrefix(where, "tcp:"):
		c.base = "http://" + where[len("tcp:"):]
	default:
		return nil, fmt.Errorf("bad API endpoint %q in %s/api", where, dataDir)
	}
	return c, nil
}

// APIError is a failed request.
type APIError struct {
	Status int
	Msg    string
	Code   string // abi errno name, if any
}

func (e *APIError) Error() string { return e.Msg }

// Errno returns the abi errno the node reported, or 0.
func (e *APIError) Errno() abi.Errno {
	for _, x := range abi.Errnos() {
		if x.Name() == e.Code {
			return x
		}
	}
	return 0
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return fmt.Errorf("%w: %v", ErrNoNode, err)
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))
		}
		return &APIError{resp.StatusCode, e.Error, e.Code}
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		return json.Unmarshal(data, out)
	}
	return nil
}

// Status returns the node status document as raw JSON.
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	var b []byte
	err := c.do(ctx, "GET", "/v1/status", nil, &b)
	return b, err
}

// Modules lists the modules.
func (c *Client) Modules(ctx context.Context) ([]actor.Status, error) {
	var out []actor.Status
	return out, c.do(ctx, "GET", "/v1/modules", nil, &out)
}

func manifestQuery(m actor.Manifest) string {
	q := url.Values{}
	if len(m.Grants) > 0 {
		gs := make([]string, len(m.Grants))
		for i, g := range m.Grants {
			gs[i] = string(g)
		}
		q.Set("grants", strings.Join(gs, ","))
	}
	set := func(k string, v uint64) {
		if v != 0 {
			q.Set(k, strconv.FormatUint(v, 10))
		}
	}
	set("memory_mib", uint64(m.MemoryMiB))
	set("budget_ms", uint64(m.BudgetMS))
	set("mailbox", uint64(m.Mailbox))
	set("checkpoint_ms", uint64(m.CheckpointMS))
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Load starts a module.
func (c *Client) Load(ctx context.Context, m actor.Manifest, wasm []byte) (actor.Status, error) {
	var st actor.Status
	return st, c.do(ctx, "POST", "/v1/modules/"+url.PathEscape(m.Name)+manifestQuery(m), wasm, &st)
}

// Swap hot-swaps a module.
func (c *Client) Swap(ctx context.Context, m actor.Manifest, wasm []byte) (actor.SwapResult, error) {
	var res actor.SwapResult
	return res, c.do(ctx, "PUT", "/v1/modules/"+url.PathEscape(m.Name)+manifestQuery(m), wasm, &res)
}

// Unload stops and forgets a module.
func (c *Client) Unload(ctx context.Context, name string, purge bool) error {
	p := "/v1/modules/" + url.PathEscape(name)
	if purge {
		p += "?purge=1"
	}
	return c.do(ctx, "DELETE", p, nil, nil)
}

// Logs returns a module's recent log lines.
func (c *Client) Logs(ctx context.Context, name string) ([]actor.LogLine, error) {
	var out []actor.LogLine
	return out, c.do(ctx, "GET", "/v1/modules/"+url.PathEscape(name)+"/logs", nil, &out)
}

// Call sends a request to a module and returns its reply.
func (c *Client) Call(ctx context.Context, name string, req []byte, timeout time.Duration) ([]byte, error) {
	var out []byte
	p := "/v1/modules/" + url.PathEscape(name) + "/call"
	if timeout > 0 {
		p += "?timeout_ms=" + strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	return out, c.do(ctx, "POST", p, req, &out)
}

// Topics lists the topics.
func (c *Client) Topics(ctx context.Context) ([]bus.TopicStatus, error) {
	var out []bus.TopicStatus
	return out, c.do(ctx, "GET", "/v1/topics", nil, &out)
}

// Publish sends a message; kind is "", "queue" or "latest".
func (c *Client) Publish(ctx context.Context, topic string, data []byte, kind string) (uint64, error) {
	q := url.Values{"topic": {topic}}
	if kind != "" {
		q.Set("kind", kind)
	}
	var res PublishResult
	return res.Seq, c.do(ctx, "POST", "/v1/publish?"+q.Encode(), data, &res)
}

// Subscribe streams messages of a topic (or prefix) to fn until n messages
// (n ≤ 0: forever), ctx ends, or fn returns an error. ready, if non-nil, is
// called once the subscription is in place.
func (c *Client) Subscribe(ctx context.Context, topic string, prefix bool, n int, ready func(), fn func(Event) error) error {
	q := url.Values{"topic": {topic}}
	if prefix {
		q.Set("prefix", "1")
	}
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/subscribe?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoNode, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e Error
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &e)
		return &APIError{resp.StatusCode, e.Error, e.Code}
	}
	if ready != nil {
		ready()
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 2*abi.MaxPayload)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("bad event from node: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// Token returns the cluster's join token.
func (c *Client) Token(ctx context.Context) (string, error) {
	var out map[string]string
	err := c.do(ctx, "GET", "/v1/cluster/token", nil, &out)
	return out["token"], err
}

// Nodes returns the cluster status (members, leader, consensus).
func (c *Client) Nodes(ctx context.Context) (*node.ClusterStatus, error) {
	var out node.ClusterStatus
	return &out, c.do(ctx, "GET", "/v1/nodes", nil, &out)
}

// Deploy puts a module version into the cluster manifest.
func (c *Client) Deploy(ctx context.Context, m actor.Manifest, wasm []byte, opts node.DeployOptions) (node.DeployResult, error) {
	q := manifestQuery(m)
	sep := "?"
	if q != "" {
		sep = "&"
	}
	extra := url.Values{}
	if opts.Canary > 0 {
		extra.Set("canary", strconv.Itoa(opts.Canary))
	}
	if opts.Guard > 0 {
		extra.Set("guard", strconv.Itoa(opts.Guard))
	}
	if opts.Window > 0 {
		extra.Set("window_ms", strconv.FormatInt(opts.Window.Milliseconds(), 10))
	}
	if len(extra) > 0 {
		q += sep + extra.Encode()
	}
	var res node.DeployResult
	return res, c.do(ctx, "POST", "/v1/deploy/"+url.PathEscape(m.Name)+q, wasm, &res)
}

// History returns a module's cluster manifest entry and history.
func (c *Client) History(ctx context.Context, name string) (*manifest.Module, error) {
	var m manifest.Module
	return &m, c.do(ctx, "GET", "/v1/modules/"+url.PathEscape(name)+"/history", nil, &m)
}

// Rollback returns a module to its previous version cluster-wide.
func (c *Client) Rollback(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/v1/modules/"+url.PathEscape(name)+"/rollback", nil, nil)
}
