// Package blocknet carries p-fs blocks between nodes: a server that answers
// block requests from a local blockstore.Store, and Remote, a
// blockstore.Store whose blocks live on another node.
//
// One request per stream (QUIC streams are cheap; a slow or failed request
// holds up nothing else). A request is a version byte, an op byte and a
// block id; Put adds a length and the bytes. The answer starts with a
// status byte; errors carry a short message. Remote verifies every block it
// receives: a peer is never trusted to send the bytes it was asked for.
// The other way, the server's store checks every Put (blockstore.CheckPut),
// so Remote.Put sends without hashing.
//
// The package knows streams only as net.Conn: the host hands it a dialer
// (direct or relayed mesh streams) and serves the streams of its protocol.
//
// Imports: pfs (cid, blockstore) and the standard library.
package blocknet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

const version = 1

// Operations.
const (
	opGet byte = 1 + iota
	opPut
	opHas
	opDelete
	opWalk
)

// Statuses.
const (
	stOK byte = iota
	stNotFound
	stCorrupt
	stMismatch
	stTooLarge
	stError
)

// maxMessage bounds an error message on the wire.
const maxMessage = 1 << 10

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// Serve answers one request on conn from store and closes conn.
func Serve(ctx context.Context, conn net.Conn, store blockstore.Store, log *slog.Logger) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(DefaultTimeout))
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	defer w.Flush()
	var hdr [2 + cid.Size]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return
	}
	if hdr[0] != version {
		reply(w, stError, fmt.Errorf("block protocol version %d, this node speaks %d", hdr[0], version))
		return
	}
	var id cid.ID
	copy(id[:], hdr[2:])
	switch hdr[1] {
	case opGet:
		b, err := store.Get(ctx, id)
		if err != nil {
			reply(w, status(err), err)
			return
		}
		w.WriteByte(stOK)
		writeBytes(w, b)
	case opPut:
		b, err := readBytes(r)
		if err != nil {
			reply(w, status(err), err)
			return
		}
		err = store.Put(ctx, id, b)
		reply(w, status(err), err)
	case opHas:
		ok, err := store.Has(ctx, id)
		if err != nil {
			reply(w, stError, err)
			return
		}
		w.WriteByte(stOK)
		w.WriteByte(boolByte(ok))
	case opDelete:
		err := store.Delete(ctx, id)
		reply(w, status(err), err)
	case opWalk:
		w.WriteByte(stOK)
		err := store.Walk(ctx, func(id cid.ID, size int64) error {
			w.WriteByte(1)
			w.Write(id[:])
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(size))
			_, err := w.Write(n[:])
			return err
		})
		w.WriteByte(0)
		if err != nil {
			log.Warn("block walk", "err", err)
		}
	default:
		reply(w, stError, fmt.Errorf("unknown block operation %d", hdr[1]))
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// status maps a store error to its wire status.
func status(err error) byte {
	switch {
	case err == nil:
		return stOK
	case errors.Is(err, blockstore.ErrNotFound):
		return stNotFound
	case errors.Is(err, blockstore.ErrCorrupt):
		return stCorrupt
	case errors.Is(err, cid.ErrMismatch):
		return stMismatch
	case errors.Is(err, blockstore.ErrTooLarge):
		return stTooLarge
	}
	return stError
}

// reply writes a status and, for an error, its message.
func reply(w *bufio.Writer, st byte, err error) {
	w.WriteByte(st)
	if st == stOK {
		return
	}
	msg := err.Error()
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(msg)))
	w.Write(n[:])
	w.WriteString(msg)
}

func writeBytes(w io.Writer, b []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readBytes(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > blockstore.MaxBlockSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", blockstore.ErrTooLarge, size, blockstore.MaxBlockSize)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
