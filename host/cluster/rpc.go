package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/p-kernel/p-kernel/host/mesh"
)

// maxRPCFrame bounds an RPC frame (module bytes travel in them).
const maxRPCFrame = 256 << 20

// rpcRequest is the header of a node-to-node call.
type rpcRequest struct {
	Method string `json:"method"`
	ID     string `json:"id,omitempty"`
	Addr   string `json:"addr,omitempty"`
	Hash   string `json:"hash,omitempty"`
	Hops   int    `json:"hops,omitempty"`  // forwards so far (to the leader)
	Reset  bool   `json:"reset,omitempty"` // join: the node threw its raft state away
	// config: the caller's last log entry, to be found in the callee's log
	Term  uint64 `json:"term,omitempty"`
	Index uint64 `json:"index,omitempty"`
}

type rpcResponse struct {
	Error string `json:"error,omitempty"`
}

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxRPCFrame {
		return nil, fmt.Errorf("rpc frame of %d bytes is over the %d limit", size, maxRPCFrame)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// call makes one RPC to addr: request header and body out, body back.
func (c *Cluster) call(ctx context.Context, addr string, req rpcRequest, body []byte) ([]byte, error) {
	s, err := c.dialAny(ctx, addr, protoRPC)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	} else {
		s.SetDeadline(time.Now().Add(30 * time.Second))
	}
	h, _ := json.Marshal(req)
	if err := writeFrame(s, h); err != nil {
		return nil, err
	}
	if err := writeFrame(s, body); err != nil {
		return nil, err
	}
	rh, err := readFrame(s)
	if err != nil {
		return nil, fmt.Errorf("rpc %s to %s: %w", req.Method, addr, err)
	}
	var resp rpcResponse
	if err := json.Unmarshal(rh, &resp); err != nil {
		return nil, fmt.Errorf("rpc %s to %s: bad response: %w", req.Method, addr, err)
	}
	rb, err := readFrame(s)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, &RemoteError{Addr: addr, Msg: resp.Error}
	}
	return rb, nil
}

// RemoteError is an error reported by another node.
type RemoteError struct {
	Addr string
	Msg  string
}

func (e *RemoteError) Error() string { return e.Addr + ": " + e.Msg }

// serveRPC answers one incoming RPC stream.
func (c *Cluster) serveRPC(s *mesh.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(60 * time.Second))
	h, err := readFrame(s)
	if err != nil {
		return
	}
	body, err := readFrame(s)
	if err != nil {
		return
	}
	var req rpcRequest
	var out []byte
	if err = json.Unmarshal(h, &req); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err = c.handle(ctx, req, body)
		cancel()
	}
	var resp rpcResponse
	if err != nil {
		resp.Error = err.Error()
		out = nil
	}
	rh, _ := json.Marshal(resp)
	if writeFrame(s, rh) == nil {
		writeFrame(s, out)
	}
}

var errLoop = errors.New("forwarded too many times (no stable leader)")

func (c *Cluster) handle(ctx context.Context, req rpcRequest, body []byte) ([]byte, error) {
	switch req.Method {
	case "join":
		return nil, c.toLeader(ctx, req, body, func() error {
			if req.Reset {
				return c.cons.Rejoin(req.ID, req.Addr)
			}
			return c.cons.AddNonvoter(req.ID, req.Addr)
		})
	case "propose":
		return nil, c.toLeader(ctx, req, body, func() error { return c.cons.ProposeRaw(ctx, body) })
	case "config":
		return c.configReply(req.Term, req.Index)
	case "fetch":
		if c.cfg.Fetch == nil {
			return nil, errors.New("this node serves no module bytes")
		}
		return c.cfg.Fetch(req.Hash)
	}
	return nil, fmt.Errorf("unknown rpc method %q", req.Method)
}

// toLeader runs do here if this node leads, else forwards the request to
// the leader it knows.
func (c *Cluster) toLeader(ctx context.Context, req rpcRequest, body []byte, do func() error) error {
	if c.cons.IsLeader() {
		return do()
	}
	if req.Hops >= 3 {
		return errLoop
	}
	_, addr := c.cons.Leader()
	if addr == "" {
		return errNoLeader
	}
	req.Hops++
	_, err := c.call(ctx, addr, req, body)
	return err
}
