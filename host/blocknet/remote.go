package blocknet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

// Remote is the block store of another node.
type Remote struct {
	// Node names the peer in errors.
	Node string
	// Dial opens a stream of the block protocol to the peer.
	Dial func(ctx context.Context) (net.Conn, error)
}

var _ blockstore.Store = (*Remote)(nil)

// ErrRemote wraps an error a peer reported that has no local meaning.
var ErrRemote = errors.New("blocknet: peer failed")

// request sends one request and returns the answer's reader positioned
// after an OK status, or the peer's error.
func (r *Remote) request(ctx context.Context, op byte, id cid.ID, body []byte) (net.Conn, *bufio.Reader, error) {
	conn, err := r.Dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("block %s on %s: %w", id.Short(), r.Node, err)
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	} else {
		conn.SetDeadline(time.Now().Add(DefaultTimeout))
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	w.WriteByte(version)
	w.WriteByte(op)
	w.Write(id[:])
	if op == opPut {
		writeBytes(w, body)
	}
	if err := w.Flush(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("block %s to %s: %w", id.Short(), r.Node, err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	st, err := br.ReadByte()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("block %s from %s: %w", id.Short(), r.Node, err)
	}
	if st == stOK {
		return conn, br, nil
	}
	defer conn.Close()
	var n [2]byte
	msg := "(no message)"
	if _, err := io.ReadFull(br, n[:]); err == nil {
		b := make([]byte, min(int(binary.BigEndian.Uint16(n[:])), maxMessage))
		if _, err := io.ReadFull(br, b); err == nil {
			msg = string(b)
		}
	}
	var kind error
	switch st {
	case stNotFound:
		kind = blockstore.ErrNotFound
	case stCorrupt:
		return nil, nil, &blockstore.CorruptError{ID: id, Path: r.Node, Err: fmt.Errorf("%w: %s", cid.ErrMismatch, msg)}
	case stMismatch:
		kind = cid.ErrMismatch
	case stTooLarge:
		kind = blockstore.ErrTooLarge
	default:
		kind = ErrRemote
	}
	return nil, nil, fmt.Errorf("%w: %s says: %s", kind, r.Node, msg)
}

// Get implements blockstore.Store; the bytes are verified here.
func (r *Remote) Get(ctx context.Context, id cid.ID) ([]byte, error) {
	conn, br, err := r.request(ctx, opGet, id, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	b, err := readBytes(br)
	if err != nil {
		return nil, fmt.Errorf("block %s from %s: %w", id.Short(), r.Node, err)
	}
	if err := cid.Verify(id, b); err != nil {
		return nil, &blockstore.CorruptError{ID: id, Path: r.Node, Err: err}
	}
	return b, nil
}

// Put implements blockstore.Store. The bytes are not hashed here: the
// peer verifies every block it receives (and answers cid.ErrMismatch), and
// a second hash on this side cost CPU on every copy a put sends.
func (r *Remote) Put(ctx context.Context, id cid.ID, data []byte) error {
	if err := blockstore.CheckSize(data); err != nil {
		return err
	}
	conn, _, err := r.request(ctx, opPut, id, data)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Has implements blockstore.Store.
func (r *Remote) Has(ctx context.Context, id cid.ID) (bool, error) {
	conn, br, err := r.request(ctx, opHas, id, nil)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	b, err := br.ReadByte()
	if err != nil {
		return false, fmt.Errorf("block %s on %s: %w", id.Short(), r.Node, err)
	}
	return b == 1, nil
}

// Delete implements blockstore.Store.
func (r *Remote) Delete(ctx context.Context, id cid.ID) error {
	conn, _, err := r.request(ctx, opDelete, id, nil)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Walk implements blockstore.Store.
func (r *Remote) Walk(ctx context.Context, fn func(id cid.ID, size int64) error) error {
	conn, br, err := r.request(ctx, opWalk, cid.Undef, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		more, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("walk %s: %w", r.Node, err)
		}
		if more == 0 {
			return nil
		}
		var rec [cid.Size + 8]byte
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return fmt.Errorf("walk %s: %w", r.Node, err)
		}
		var id cid.ID
		copy(id[:], rec[:cid.Size])
		if err := fn(id, int64(binary.BigEndian.Uint64(rec[cid.Size:]))); err != nil {
			return err
		}
	}
}
