package consensus

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var errLayerStopped = errors.New("consensus: stream layer stopped (raft is shutting down)")

// stopLayer wraps raft's stream layer so that raft can shut down at once.
// raft.Shutdown waits for every RPC its goroutines have in flight (vote
// requests included), and nothing tells the stream layer's Dial, or a
// response being awaited, that raft is going: one to a silent peer takes
// the whole transport timeout. Stop fails the dials in flight and closes
// the connections this layer dialed, so those RPCs return.
type stopLayer struct {
	raft.StreamLayer
	stop chan struct{}

	mu      sync.Mutex
	stopped bool
	conns   map[*stopConn]struct{}
}

func newStopLayer(l raft.StreamLayer) *stopLayer {
	return &stopLayer{StreamLayer: l, stop: make(chan struct{}), conns: map[*stopConn]struct{}{}}
}

func (l *stopLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := l.StreamLayer.Dial(addr, timeout)
		ch <- dialed{c, err}
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			return nil, d.err
		}
		sc := &stopConn{Conn: d.c, l: l}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.stopped {
			d.c.Close()
			return nil, errLayerStopped
		}
		l.conns[sc] = struct{}{}
		return sc, nil
	case <-l.stop:
		go func() { // the dial ends within its timeout
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		return nil, errLayerStopped
	}
}

// Stop fails dials in flight and closes every dialed connection. The
// listener stays: raft's transport closes it.
func (l *stopLayer) Stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	close(l.stop)
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

func (l *stopLayer) Close() error {
	l.Stop()
	return l.StreamLayer.Close()
}

// stopConn is a dialed connection, forgotten by its layer when closed.
type stopConn struct {
	net.Conn
	l *stopLayer
}

func (c *stopConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
