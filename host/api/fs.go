package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/p-kernel/p-kernel/host/pfshost"
	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/vol"
)

// p-fs endpoints. Files stream in the request or response body; a read
// that fails after the first byte reports its error in the trailer
// Pfs-Error (the client treats a missing trailer or a short body as a
// failure), so a reader never mistakes a broken transfer for a file.

// DefaultNamespace is the namespace of names given without one.
const DefaultNamespace = "files"

func (s *server) fs(w http.ResponseWriter) (*pfshost.Service, bool) {
	f, err := s.b.FS()
	if err != nil {
		fail(w, err)
		return nil, false
	}
	return f, true
}

func nsOf(r *http.Request) string {
	if ns := r.URL.Query().Get("ns"); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// failFS maps p-fs errors to HTTP codes.
func failFS(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = http.StatusNotFound
	case errors.Is(err, names.ErrInvalid), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, vol.ErrMissing):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, Error{Error: err.Error()})
}

func (s *server) fsPut(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	name := r.URL.Query().Get("name")
	v, err := f.Volume().Put(r.Context(), nsOf(r), name, r.Body, nil)
	if err != nil {
		failFS(w, err)
		return
	}
	writeJSON(w, 200, fsVersion(v))
}

// open resolves ?id=, or ?name= with an optional ?version= (an index into
// the name's history, 1 = oldest, negative counts from the newest).
func (s *server) open(ctx context.Context, f *pfshost.Service, r *http.Request) (*vol.File, error) {
	q := r.URL.Query()
	if id := q.Get("id"); id != "" {
		c, err := cid.Parse(id)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		return f.Volume().Get(ctx, c)
	}
	ns, name := nsOf(r), q.Get("name")
	if q.Get("version") == "" {
		return f.Volume().Open(ctx, ns, name)
	}
	n, err := strconv.Atoi(q.Get("version"))
	if err != nil || n == 0 {
		return nil, badRequest("version %q: want 1 (oldest) … N, or -1 (newest) …", q.Get("version"))
	}
	h := f.Index().History(ns, name)
	if n < 0 {
		n = len(h) + 1 + n
	}
	if n < 1 || n > len(h) {
		return nil, fmt.Errorf("%s/%s has %d versions, not %s: %w", ns, name, len(h), q.Get("version"), fs.ErrNotExist)
	}
	return f.Volume().OpenVersion(ctx, h[n-1])
}

func (s *server) fsGet(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	file, err := s.open(r.Context(), f, r)
	if err != nil {
		failFS(w, err)
		return
	}
	defer file.Close()
	w.Header().Set("Trailer", "Pfs-Error")
	w.Header().Set("Pfs-Id", file.ID().String())
	w.Header().Set("Pfs-Size", strconv.FormatInt(file.Size(), 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(200)
	if _, err := io.Copy(w, file); err != nil {
		w.Header().Set("Pfs-Error", err.Error())
		return
	}
	w.Header().Set("Pfs-Error", "")
}

// FSVersion is a name version as the API shows it.
type FSVersion struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ID        string `json:"id,omitempty"` // empty for a removal
	Size      uint64 `json:"size"`
	Time      int64  `json:"time_ns"`
	Node      string `json:"node"`
	Removed   bool   `json:"removed,omitempty"`
}

func fsVersion(v names.Version) FSVersion {
	out := FSVersion{Namespace: v.Namespace, Name: v.Name, Size: v.Size, Time: v.Time.Wall, Node: v.Node, Removed: v.Removed()}
	if !v.Removed() {
		out.ID = v.Object.String()
	}
	return out
}

func fsVersions(vs []names.Version) []FSVersion {
	out := make([]FSVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, fsVersion(v))
	}
	return out
}

func (s *server) fsList(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.fs(w); ok {
		writeJSON(w, 200, fsVersions(f.Index().List(nsOf(r), r.URL.Query().Get("prefix"))))
	}
}

func (s *server) fsLog(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	h := f.Index().History(nsOf(r), r.URL.Query().Get("name"))
	if len(h) == 0 {
		failFS(w, fmt.Errorf("%s/%s: %w", nsOf(r), r.URL.Query().Get("name"), fs.ErrNotExist))
		return
	}
	writeJSON(w, 200, fsVersions(h))
}

func (s *server) fsRemove(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	v, err := f.Volume().Remove(r.Context(), nsOf(r), r.URL.Query().Get("name"))
	if err != nil {
		failFS(w, err)
		return
	}
	writeJSON(w, 200, fsVersion(v))
}

// FSStat is the answer of /v1/fs/stat: usage, and for a file its
// redundancy.
type FSStat struct {
	Nodes      map[string]FSNodeUsage `json:"nodes"`
	NodeErrors map[string]string      `json:"node_errors,omitempty"`
	Namespaces int                    `json:"namespaces"`
	Files      int                    `json:"files"`
	Versions   int                    `json:"versions"`
	File       *FSFileStat            `json:"file,omitempty"`
}

// FSNodeUsage is what one node stores.
type FSNodeUsage struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

// FSFileStat is the redundancy of one file version.
type FSFileStat struct {
	Version FSVersion `json:"version"`
	Chunks  int       `json:"chunks"`
	// Expected, Good and Placed sum over the chunks: blocks the coding
	// wants, distinct blocks with a good copy on a live node, and blocks
	// good on the node placement ranks for them.
	Expected int `json:"expected_blocks"`
	Good     int `json:"good_blocks"`
	Placed   int `json:"placed_blocks"`
	// Readable is false when some chunk has fewer good blocks than it
	// needs.
	Readable bool `json:"readable"`
	// Holders counts the good blocks each node holds.
	Holders map[string]int `json:"holders"`
}

func (s *server) fsStat(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	u, err := f.Volume().Stat(r.Context())
	if err != nil {
		failFS(w, err)
		return
	}
	out := FSStat{Nodes: map[string]FSNodeUsage{}, NodeErrors: map[string]string{}, Namespaces: u.Namespaces, Files: u.Files, Versions: u.Versions}
	for n, x := range u.Nodes {
		out.Nodes[n] = FSNodeUsage{x.Blocks, x.Bytes}
	}
	for n, e := range u.NodeErrors {
		out.NodeErrors[n] = e.Error()
	}
	q := r.URL.Query()
	if q.Get("name") != "" || q.Get("id") != "" {
		file, err := s.open(r.Context(), f, r)
		if err != nil {
			failFS(w, err)
			return
		}
		file.Close()
		red, err := f.Volume().Redundancy(r.Context(), file.ID())
		if err != nil {
			failFS(w, err)
			return
		}
		fst := &FSFileStat{Version: fsVersion(file.Version()), Chunks: len(red), Readable: true, Holders: map[string]int{}}
		for _, c := range red {
			fst.Expected += c.Expected
			fst.Good += c.Good
			fst.Placed += c.Placed
			if c.Good < c.Need {
				fst.Readable = false
			}
			for _, b := range c.Blocks {
				for _, n := range b.Nodes {
					fst.Holders[n]++
				}
			}
		}
		out.File = fst
	}
	writeJSON(w, 200, out)
}

// FSRepair is the answer of /v1/fs/repair.
type FSRepair struct {
	Chunks     int      `json:"chunks"`
	Objects    int      `json:"objects"`
	Blocks     int      `json:"blocks"`
	Missing    int      `json:"missing"`
	Corrupt    int      `json:"corrupt"`
	Copied     int      `json:"copied"`
	Rebuilt    int      `json:"rebuilt"`
	Failed     int      `json:"failed"`
	BytesMoved int64    `json:"bytes_moved"`
	Errors     []string `json:"errors,omitempty"`
}

func (s *server) fsRepair(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	rep, err := f.Volume().RepairAll(r.Context(), r.URL.Query().Get("deep") != "")
	if err != nil {
		failFS(w, err)
		return
	}
	out := FSRepair{Chunks: rep.Chunks, Objects: rep.Objects, Blocks: rep.Blocks, Missing: rep.Missing, Corrupt: rep.Corrupt,
		Copied: rep.Copied, Rebuilt: rep.Rebuilt, Failed: rep.Failed, BytesMoved: rep.BytesMoved}
	for _, e := range rep.Errors {
		out.Errors = append(out.Errors, e.Error())
	}
	writeJSON(w, 200, out)
}

// FSGC is the answer of /v1/fs/gc.
type FSGC struct {
	Versions   int   `json:"versions_kept"`
	Expired    int   `json:"versions_expired"`
	Marked     int   `json:"blocks_referenced"`
	Scanned    int   `json:"blocks_scanned"`
	Deferred   int   `json:"blocks_deferred"`
	Deleted    int   `json:"blocks_deleted"`
	Misplaced  int   `json:"misplaced_deleted"`
	BytesFreed int64 `json:"bytes_freed"`
}

// fsGC collects blocks: ?keep_last=N, ?keep_for=DURATION (the current
// version always stays), ?all=1 sweeps every live node.
func (s *server) fsGC(w http.ResponseWriter, r *http.Request) {
	f, ok := s.fs(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	var opts vol.GCOptions
	if v := q.Get("keep_last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			failFS(w, badRequest("keep_last %q: want a number ≥ 1", v))
			return
		}
		opts.Retention.KeepLast = n
	}
	if v := q.Get("keep_for"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			failFS(w, badRequest("keep_for %q: want a duration such as 720h", v))
			return
		}
		opts.Retention.KeepFor = d
	}
	opts.AllNodes = q.Get("all") != ""
	rep, err := f.Volume().GC(r.Context(), opts)
	if err != nil {
		failFS(w, err)
		return
	}
	writeJSON(w, 200, FSGC{rep.Versions, rep.Expired, rep.Marked, rep.Scanned, rep.Deferred, rep.Deleted, rep.Misplaced, rep.BytesFreed})
}
