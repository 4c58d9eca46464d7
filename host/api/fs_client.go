package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// FSRef names what to read: an id, or a name (with an optional version
// number, 1 = oldest, -1 = newest).
type FSRef struct {
	Namespace, Name, ID string
	Version             int
}

func (r FSRef) query() string {
	q := url.Values{}
	if r.Namespace != "" {
		q.Set("ns", r.Namespace)
	}
	if r.ID != "" {
		q.Set("id", r.ID)
	} else {
		q.Set("name", r.Name)
	}
	if r.Version != 0 {
		q.Set("version", strconv.Itoa(r.Version))
	}
	return q.Encode()
}

// response turns a non-200 answer into an *APIError.
func response(resp *http.Response) error {
	if resp.StatusCode == 200 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e Error
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("%s: %s", resp.Status, data)
	}
	return &APIError{resp.StatusCode, e.Error, e.Code}
}

// FSPut stores the size bytes of r under ns/name (size < 0: unknown).
func (c *Client) FSPut(ctx context.Context, ns, name string, r io.Reader, size int64) (FSVersion, error) {
	var v FSVersion
	q := url.Values{"name": {name}}
	if ns != "" {
		q.Set("ns", ns)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v1/fs/put?"+q.Encode(), r)
	if err != nil {
		return v, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := response(resp); err != nil {
		return v, err
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// ErrShortRead is a read that ended before the file did.
var ErrShortRead = errors.New("the transfer broke off")

// FSGet copies a file to w. started, if set, is called with the file's id
// and size before the first byte. An error means w may hold a part of the
// file: callers writing to a file write to a temporary one first.
func (c *Client) FSGet(ctx context.Context, ref FSRef, w io.Writer, started func(id string, size int64)) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/fs/get?"+ref.query(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := response(resp); err != nil {
		return err
	}
	size, err := strconv.ParseInt(resp.Header.Get("Pfs-Size"), 10, 64)
	if err != nil {
		return fmt.Errorf("no size in the answer: %v", err)
	}
	if started != nil {
		started(resp.Header.Get("Pfs-Id"), size)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("%w after %d of %d bytes: %v", ErrShortRead, n, size, err)
	}
	if msg := resp.Trailer.Get("Pfs-Error"); msg != "" {
		return fmt.Errorf("%w after %d of %d bytes: %s", ErrShortRead, n, size, msg)
	}
	if n != size {
		return fmt.Errorf("%w: %d of %d bytes", ErrShortRead, n, size)
	}
	return nil
}

// FSList returns the live names under prefix.
func (c *Client) FSList(ctx context.Context, ns, prefix string) ([]FSVersion, error) {
	var out []FSVersion
	return out, c.do(ctx, "GET", "/v1/fs/ls?"+url.Values{"ns": {ns}, "prefix": {prefix}}.Encode(), nil, &out)
}

// FSLog returns a name's history, oldest first.
func (c *Client) FSLog(ctx context.Context, ns, name string) ([]FSVersion, error) {
	var out []FSVersion
	return out, c.do(ctx, "GET", "/v1/fs/log?"+url.Values{"ns": {ns}, "name": {name}}.Encode(), nil, &out)
}

// FSRemove writes a removal version of a name.
func (c *Client) FSRemove(ctx context.Context, ns, name string) (FSVersion, error) {
	var out FSVersion
	return out, c.do(ctx, "POST", "/v1/fs/rm?"+url.Values{"ns": {ns}, "name": {name}}.Encode(), nil, &out)
}

// FSStat returns usage, and with a name or id the file's redundancy.
func (c *Client) FSStat(ctx context.Context, ref *FSRef) (*FSStat, error) {
	var out FSStat
	path := "/v1/fs/stat"
	if ref != nil {
		path += "?" + ref.query()
	}
	return &out, c.do(ctx, "GET", path, nil, &out)
}

// FSRepair runs a repair of everything now (deep: read and verify every
// block rather than asking whether it is there).
func (c *Client) FSRepair(ctx context.Context, deep bool) (*FSRepair, error) {
	var out FSRepair
	path := "/v1/fs/repair"
	if deep {
		path += "?deep=1"
	}
	return &out, c.do(ctx, "POST", path, nil, &out)
}

// FSGC collects blocks no retained version reaches (keepLast, keepFor:
// the retention; zero keeps every version); all sweeps every live node.
func (c *Client) FSGC(ctx context.Context, keepLast int, keepFor string, all bool) (*FSGC, error) {
	q := url.Values{}
	if keepLast > 0 {
		q.Set("keep_last", strconv.Itoa(keepLast))
	}
	if keepFor != "" {
		q.Set("keep_for", keepFor)
	}
	if all {
		q.Set("all", "1")
	}
	var out FSGC
	return &out, c.do(ctx, "POST", "/v1/fs/gc?"+q.Encode(), nil, &out)
}
