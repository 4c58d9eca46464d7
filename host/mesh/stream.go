package mesh

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Stream error codes, sent to the peer when a stream is cut short.
const (
	codeClosed       quic.StreamErrorCode = 0 // the application closed the stream
	codeUnknownProto quic.StreamErrorCode = 1 // no handler for the protocol byte
	codePanic        quic.StreamErrorCode = 2 // the handler panicked
)

// ErrUnknownProtocol is returned by a dialed Stream's Read or Write when
// the peer has no handler for the stream's protocol.
var ErrUnknownProtocol = errors.New("mesh: peer has no handler for this protocol")

// Stream is one reliable, ordered byte stream to an authenticated peer. It
// is a net.Conn. Close ends both directions (unread incoming data is
// discarded and the peer's writes fail); CloseWrite ends only ours, so the
// peer reads EOF and may still answer. Read and Write may be called
// concurrently with each other, as for any net.Conn.
type Stream struct {
	qs    *quic.Stream
	l     *link
	proto byte
	once  sync.Once
}

var _ net.Conn = (*Stream)(nil)

// Peer is the authenticated node id of the other end.
func (s *Stream) Peer() string { return s.l.peer }

// Protocol is the stream's protocol byte.
func (s *Stream) Protocol() byte { return s.proto }

func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.qs.Read(p)
	return n, s.mapErr(err)
}

func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.qs.Write(p)
	return n, s.mapErr(err)
}

// CloseWrite sends EOF to the peer after the data already written.
func (s *Stream) CloseWrite() error { return s.qs.Close() }

// Close ends both directions. Data already written is still delivered as
// long as the connection lives.
func (s *Stream) Close() error {
	var err error
	s.once.Do(func() {
		s.qs.CancelRead(codeClosed)
		err = s.qs.Close()
	})
	return err
}

// reset aborts both directions with code.
func (s *Stream) reset(code quic.StreamErrorCode) {
	s.once.Do(func() {
		s.qs.CancelRead(code)
		s.qs.CancelWrite(code)
	})
}

func (s *Stream) LocalAddr() net.Addr                { return s.l.conn.LocalAddr() }
func (s *Stream) RemoteAddr() net.Addr               { return s.l.conn.RemoteAddr() }
func (s *Stream) SetDeadline(t time.Time) error      { return s.qs.SetDeadline(t) }
func (s *Stream) SetReadDeadline(t time.Time) error  { return s.qs.SetReadDeadline(t) }
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.qs.SetWriteDeadline(t) }

func (s *Stream) mapErr(err error) error {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote && se.ErrorCode == codeUnknownProto {
		return fmt.Errorf("%w (protocol %d on %s)", ErrUnknownProtocol, s.proto, s.l.peer)
	}
	return err
}

// listener adapts a protocol to net.Listener for libraries that want to
// Accept (Raft's stream layer, for one).
type listener struct {
	m     *Mesh
	proto byte
	ch    chan *Stream
	done  chan struct{}
	once  sync.Once
}

// Listener routes incoming streams of proto to the returned net.Listener
// instead of a handler (it replaces any handler for proto). Accepted
// streams belong to the caller, who must Close them. Closing the listener
// unregisters it; streams arriving then are refused as unknown.
func (m *Mesh) Listener(proto byte) net.Listener {
	ln := &listener{m: m, proto: proto, ch: make(chan *Stream), done: make(chan struct{})}
	m.setHandler(proto, handler{fn: ln.deliver, owns: true, owner: ln})
	return ln
}

// deliver hands s to an Accept, or refuses it once the listener is closed.
func (ln *listener) deliver(s *Stream) {
	select {
	case ln.ch <- s:
	case <-ln.done:
		s.reset(codeUnknownProto)
	case <-ln.m.ctx.Done():
		s.reset(codeClosed)
	}
}

func (ln *listener) Accept() (net.Conn, error) {
	select {
	case s := <-ln.ch:
		return s, nil
	case <-ln.done:
		return nil, net.ErrClosed
	case <-ln.m.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (ln *listener) Close() error {
	ln.once.Do(func() {
		close(ln.done)
		ln.m.clearHandler(ln.proto, ln)
	})
	return nil
}

func (ln *listener) Addr() net.Addr { return ln.m.Addr() }
