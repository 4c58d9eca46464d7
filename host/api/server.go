// Package api is the node's local control API, the one the pkhost CLI
// speaks: HTTP/1.1 with JSON bodies over a unix socket in the data directory
// (or loopback TCP with --api). The endpoints are listed in README.md §
// Control API. The server side sits on a [Backend] (the node); the client
// side is [Client].
//
// The socket is created 0600: anyone who can reach it controls the node.
// Imports: host/node, host/actor, host/bus and host/manifest for their
// types, the stdlib.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/actor"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/manifest"
	"github.com/p-kernel/p-kernel/host/node"
	"github.com/p-kernel/p-kernel/host/pfshost"
	"github.com/p-kernel/p-kernel/host/runtime"
)

// Backend is what the API controls.
type Backend interface {
	ID() string
	StatusJSON() any
	Load(ctx context.Context, m actor.Manifest, wasm []byte) (actor.Status, error)
	Swap(ctx context.Context, m actor.Manifest, wasm []byte) (actor.SwapResult, error)
	Unload(ctx context.Context, name string, purge bool) error
	Actors() *actor.System
	Bus() *bus.Bus

	// The collective (errors when the node runs alone).
	Deploy(ctx context.Context, m actor.Manifest, wasm []byte, opts node.DeployOptions) (node.DeployResult, error)
	Rollback(ctx context.Context, name string) error
	History(name string) (*manifest.Module, error)
	Token() (string, error)
	ClusterInfo() *node.ClusterStatus
	ClusterManifest() *manifest.State // nil when the node runs alone
	FS() (*pfshost.Service, error)
}

// MaxModuleSize bounds an uploaded module.
const MaxModuleSize = 256 << 20

// Handler returns the API's HTTP handler. Over TCP it refuses requests a
// browser makes on behalf of another site (see [localOnly]).
func Handler(b Backend) http.Handler {
	s := &server{b: b}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.HandleFunc("GET /dashboard", s.dashboard)
	mux.HandleFunc("GET /v1/dashboard", s.dashboardJSON)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /v1/version", s.version)
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/modules", s.modules)
	mux.HandleFunc("POST /v1/modules/{name}", s.load)
	mux.HandleFunc("PUT /v1/modules/{name}", s.swap)
	mux.HandleFunc("DELETE /v1/modules/{name}", s.unload)
	mux.HandleFunc("GET /v1/modules/{name}/logs", s.logs)
	mux.HandleFunc("POST /v1/modules/{name}/call", s.call)
	mux.HandleFunc("GET /v1/topics", s.topics)
	mux.HandleFunc("POST /v1/publish", s.publish)
	mux.HandleFunc("GET /v1/subscribe", s.subscribe)
	mux.HandleFunc("GET /v1/cluster/token", s.token)
	mux.HandleFunc("GET /v1/nodes", s.nodes)
	mux.HandleFunc("POST /v1/deploy/{name}", s.deploy)
	mux.HandleFunc("GET /v1/modules/{name}/history", s.history)
	mux.HandleFunc("POST /v1/modules/{name}/rollback", s.rollback)
	mux.HandleFunc("POST /v1/fs/put", s.fsPut)
	mux.HandleFunc("GET /v1/fs/get", s.fsGet)
	mux.HandleFunc("GET /v1/fs/ls", s.fsList)
	mux.HandleFunc("GET /v1/fs/log", s.fsLog)
	mux.HandleFunc("POST /v1/fs/rm", s.fsRemove)
	mux.HandleFunc("GET /v1/fs/stat", s.fsStat)
	mux.HandleFunc("POST /v1/fs/repair", s.fsRepair)
	mux.HandleFunc("POST /v1/fs/gc", s.fsGC)
	return localOnly(mux)
}

type server struct {
	b       Backend
	fsUsage fsCache
}

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // an abi errno name when one applies
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var e abi.Errno
	body := Error{Error: err.Error()}
	switch {
	case errors.As(err, &e):
		body.Code = e.Name()
		switch e {
		case abi.EAGAIN, abi.EUNAVAILABLE:
			code = http.StatusServiceUnavailable
		case abi.ETIMEDOUT:
			code = http.StatusGatewayTimeout
		case abi.ENOENT:
			code = http.StatusNotFound
		default:
			code = http.StatusBadRequest
		}
	case errors.Is(err, actor.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, node.ErrNoCluster):
		code = http.StatusConflict
	case errors.Is(err, actor.ErrExists):
		code = http.StatusConflict
	case errors.Is(err, runtime.ErrMalformed), errors.Is(err, runtime.ErrABIVersion),
		errors.Is(err, runtime.ErrNotGranted), errors.Is(err, runtime.ErrUnknownImport),
		errors.Is(err, runtime.ErrMissingExport), errors.Is(err, runtime.ErrMemoryLimit),
		errors.Is(err, runtime.ErrTrap), errors.Is(err, runtime.ErrExit), errors.Is(err, runtime.ErrBudget),
		errors.Is(err, actor.ErrStartFailed), errors.Is(err, errBadRequest):
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, body)
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"node": s.b.ID(), "abi": fmt.Sprintf("%d.%d", abi.Major, abi.Minor)})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.b.StatusJSON()) }

func (s *server) modules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.b.Actors().Statuses())
}

// manifestFrom reads manifest fields from query parameters.
func manifestFrom(r *http.Request) (actor.Manifest, error) {
	q := r.URL.Query()
	m := actor.Manifest{Name: r.PathValue("name")}
	if g := q.Get("grants"); g != "" {
		for _, x := range strings.Split(g, ",") {
			m.Grants = append(m.Grants, abi.Group(strings.TrimSpace(x)))
		}
	}
	for _, f := range []struct {
		key string
		dst *uint32
	}{{"memory_mib", &m.MemoryMiB}, {"budget_ms", &m.BudgetMS}, {"checkpoint_ms", &m.CheckpointMS}} {
		if v := q.Get(f.key); v != "" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return m, badRequest("%s=%q is not a number", f.key, v)
			}
			*f.dst = uint32(n)
		}
	}
	if v := q.Get("mailbox"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return m, badRequest("mailbox=%q is not a number", v)
		}
		m.Mailbox = n
	}
	return m, nil
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, badRequest("body larger than %d bytes", limit)
	}
	return b, nil
}

// withModule reads the manifest and the wasm body of a load or swap.
func withModule(w http.ResponseWriter, r *http.Request, do func(actor.Manifest, []byte) (any, error)) {
	m, err := manifestFrom(r)
	if err != nil {
		fail(w, err)
		return
	}
	wasm, err := readBody(r, MaxModuleSize)
	if err != nil {
		fail(w, err)
		return
	}
	res, err := do(m, wasm)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, res)
}

func (s *server) load(w http.ResponseWriter, r *http.Request) {
	withModule(w, r, func(m actor.Manifest, wasm []byte) (any, error) { return s.b.Load(r.Context(), m, wasm) })
}

func (s *server) swap(w http.ResponseWriter, r *http.Request) {
	withModule(w, r, func(m actor.Manifest, wasm []byte) (any, error) { return s.b.Swap(r.Context(), m, wasm) })
}

func (s *server) unload(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Unload(r.Context(), r.PathValue("name"), r.URL.Query().Get("purge") == "1"); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"unloaded": r.PathValue("name")})
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	a, err := s.b.Actors().Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, a.Logs())
}

func (s *server) call(w http.ResponseWriter, r *http.Request) {
	req, err := readBody(r, abi.MaxPayload)
	if err != nil {
		fail(w, err)
		return
	}
	ms, _ := strconv.Atoi(r.URL.Query().Get("timeout_ms"))
	reply, err := s.b.Actors().Call(r.Context(), r.PathValue("name"), req, time.Duration(ms)*time.Millisecond)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(reply)
}

func (s *server) topics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.b.Bus().Topics())
}

// PublishResult is the body of a successful publish.
type PublishResult struct {
	Seq uint64 `json:"seq"`
}

func kindOf(s string) (uint32, error) {
	switch s {
	case "":
		return abi.KindAny, nil
	case "queue":
		return abi.KindQueue, nil
	case "latest", "cluster":
		return abi.KindLatest, nil
	}
	return 0, badRequest("kind %q: want queue, latest or cluster", s)
}

func (s *server) publish(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic := q.Get("topic")
	if strings.HasPrefix(topic, abi.SysTopicRoot) {
		fail(w, fmt.Errorf("topics under %s are published by the host only: %w", abi.SysTopicRoot, abi.EPERM))
		return
	}
	kind, err := kindOf(q.Get("kind"))
	if err != nil {
		fail(w, err)
		return
	}
	data, err := readBody(r, abi.MaxPayload)
	if err != nil {
		fail(w, err)
		return
	}
	if q.Get("kind") == "cluster" {
		if _, e := s.b.Bus().Declare(topic, abi.KindLatest, abi.ScopeCluster); e != abi.OK {
			fail(w, fmt.Errorf("cluster topic %q: %w", topic, e))
			return
		}
	}
	seq, e := s.b.Bus().Publish(nil, topic, data, kind, bus.DefaultWait)
	if e != abi.OK {
		if e == abi.EAGAIN {
			fail(w, fmt.Errorf("published as seq %d, but a subscriber's queue stayed full and its copy was dropped (counted in status): %w", seq, e))
			return
		}
		fail(w, fmt.Errorf("publish %q: %w", topic, e))
		return
	}
	writeJSON(w, 200, PublishResult{seq})
}

// Event is one line of a subscription stream (NDJSON).
type Event struct {
	Topic    string `json:"topic"`
	Seq      uint64 `json:"seq"`
	Data     string `json:"data,omitempty"`     // when the payload is UTF-8
	DataB64  []byte `json:"data_b64,omitempty"` // otherwise
	Retained bool   `json:"retained,omitempty"`
	Latest   bool   `json:"latest,omitempty"`
}

// Payload returns the event's bytes.
func (e Event) Payload() []byte {
	if e.DataB64 != nil {
		return e.DataB64
	}
	return []byte(e.Data)
}

func (s *server) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic := q.Get("topic")
	prefix := q.Get("prefix") == "1"
	limit, _ := strconv.Atoi(q.Get("n"))
	in := bus.NewInbox(4096)
	if e := s.b.Bus().Subscribe(in, topic, prefix); e != abi.OK {
		fail(w, fmt.Errorf("subscribe %q: %w", topic, e))
		return
	}
	defer s.b.Bus().Remove(in)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for n := 0; limit <= 0 || n < limit; n++ {
		m, err := in.Next(r.Context())
		if err != nil {
			return
		}
		ev := Event{Topic: m.Topic, Seq: m.Seq, Retained: m.Flags&abi.MsgRetained != 0, Latest: m.Flags&abi.MsgLatest != 0}
		if utf8.Valid(m.Data) {
			ev.Data = string(m.Data)
		} else {
			ev.DataB64 = m.Data
		}
		if err := enc.Encode(ev); err != nil {
			return
		}
		if fl != nil && in.Len() == 0 {
			fl.Flush()
		}
	}
}

// Listen opens the API endpoint: addr "" means the unix socket
// <dataDir>/pkhost.sock; otherwise a TCP address, which must be loopback.
// The endpoint is recorded in <dataDir>/api for the CLI.
func Listen(dataDir, addr string) (net.Listener, error) {
	var l net.Listener
	var err error
	var where string
	if addr == "" {
		sock := filepath.Join(dataDir, "pkhost.sock")
		if c, err := net.DialTimeout("unix", sock, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("a node is already serving %s", sock)
		}
		os.Remove(sock) // stale socket of a node that died
		l, err = net.Listen("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
		os.Chmod(sock, 0o600)
		where = "unix:" + sock
	} else {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--api %q: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--api %q: the control API has no authentication and listens on loopback only", addr)
		}
		l, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("control API: %w", err)
		}
		where = "tcp:" + l.Addr().String()
	}
	if err = os.WriteFile(filepath.Join(dataDir, "api"), []byte(where+"\n"), 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	t, err := s.b.Token()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"token": t})
}

func (s *server) nodes(w http.ResponseWriter, r *http.Request) {
	ci := s.b.ClusterInfo()
	if ci == nil {
		fail(w, node.ErrNoCluster)
		return
	}
	writeJSON(w, 200, ci)
}

func (s *server) deploy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var opts node.DeployOptions
	var ms int
	for key, dst := range map[string]*int{"canary": &opts.Canary, "guard": &opts.Guard, "window_ms": &ms} {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				fail(w, badRequest("%s=%q is not a count", key, v))
				return
			}
			*dst = n
		}
	}
	opts.Window = time.Duration(ms) * time.Millisecond
	withModule(w, r, func(m actor.Manifest, wasm []byte) (any, error) { return s.b.Deploy(r.Context(), m, wasm, opts) })
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	m, err := s.b.History(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, m)
}

func (s *server) rollback(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Rollback(r.Context(), r.PathValue("name")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"rolled_back": r.PathValue("name")})
}
