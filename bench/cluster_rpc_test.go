package bench

// Collective 4. Mesh RPC round trip against plain TCP on loopback: 64 bytes
// there and back,
//
//   - new-stream: a new mesh stream on the established QUIC connection per
//     call (write, close the write side, read the answer to EOF) — the shape
//     of host/cluster's RPCs; baseline: a new TCP connection per call, same
//     exchange (TCP has no cheaper way to open a fresh channel);
//   - pingpong: one long-lived stream (mesh) or connection (TCP), 64 bytes
//     each way per call.

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/p-kernel/p-kernel/host/mesh"
)

const rpcSize = 64

func meshPair(tb testing.TB) (x, y *mesh.Mesh) {
	tb.Helper()
	secret := mesh.NewSecret()
	start := func() *mesh.Mesh {
		m, err := mesh.Listen(context.Background(), mesh.Config{Listen: "127.0.0.1:0", Identity: clKey(),
			Secret: secret, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { m.Close() })
		return m
	}
	x, y = start(), start()
	y.Handle(clProtoEcho, func(s *mesh.Stream) { io.Copy(s, s) })
	y.Handle(clProtoPing, func(s *mesh.Stream) { pingServe(s) })
	return x, y
}

// pingServe answers each 64-byte message with itself.
func pingServe(c io.ReadWriter) {
	buf := make([]byte, rpcSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// oneShot writes msg, closes the write side and reads the answer to EOF.
func oneShot(c interface {
	io.ReadWriter
	CloseWrite() error
}, msg []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err == nil && len(got) != len(msg) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func pingOnce(c io.ReadWriter, msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}

func tcpServer(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { serve(c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func meshNewStream(x *mesh.Mesh, addr string, msg []byte) error {
	s, err := x.Dial(context.Background(), addr, clProtoEcho)
	if err != nil {
		return err
	}
	defer s.Close()
	return oneShot(s, msg)
}

func tcpNewConn(addr string, msg []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return oneShot(c.(*net.TCPConn), msg)
}

func tcpEcho(c net.Conn) { io.Copy(c, c) }

func TestClusterRPC(t *testing.T) {
	x, y := meshPair(t)
	msg := make([]byte, rpcSize)
	if err := meshNewStream(x, y.Addr().String(), msg); err != nil {
		t.Fatal(err)
	}
	if err := tcpNewConn(tcpServer(t, tcpEcho), msg); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkClusterRPC(b *testing.B) {
	msg := make([]byte, rpcSize)
	buf := make([]byte, rpcSize)
	b.Run("new-stream/mesh", func(b *testing.B) {
		x, y := meshPair(b)
		addr := y.Addr().String()
		if err := meshNewStream(x, addr, msg); err != nil { // connect first
			b.Fatal(err)
		}
		for b.Loop() {
			if err := meshNewStream(x, addr, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-stream/tcp", func(b *testing.B) {
		addr := tcpServer(b, tcpEcho)
		for b.Loop() {
			if err := tcpNewConn(addr, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pingpong/mesh", func(b *testing.B) {
		x, y := meshPair(b)
		s, err := x.Dial(context.Background(), y.Addr().String(), clProtoPing)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if err := pingOnce(s, msg, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pingpong/tcp", func(b *testing.B) {
		c, err := net.Dial("tcp", tcpServer(b, func(c net.Conn) { pingServe(c) }))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for b.Loop() {
			if err := pingOnce(c, msg, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
