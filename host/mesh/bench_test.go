package mesh

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

const benchChunk = 1 << 20

// BenchmarkStreamThroughput sends 1 MiB per op over one long stream: mesh
// (QUIC, TLS 1.3, loopback) next to plain TCP on loopback as the baseline.
func BenchmarkStreamThroughput(b *testing.B) {
	b.Run("mesh", func(b *testing.B) {
		secret := NewSecret()
		x, y := startMesh(b, secret), startMesh(b, secret)
		done := make(chan int64, 1)
		y.Handle(protoSink, func(s *Stream) {
			n, _ := io.Copy(io.Discard, s)
			done <- n
		})
		s, err := x.Dial(context.Background(), y.Addr().String(), protoSink)
		if err != nil {
			b.Fatal(err)
		}
		runThroughput(b, s, s.CloseWrite, done)
		s.Close()
	})
	b.Run("tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan int64, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			done <- n
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		runThroughput(b, c, c.(*net.TCPConn).CloseWrite, done)
	})
}

// runThroughput writes b.N chunks to w and waits until the receiver has
// them all, so the time covers delivery, not just buffering.
func runThroughput(b *testing.B, w io.Writer, closeWrite func() error, done chan int64) {
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	closeWrite()
	select {
	case n := <-done:
		if n != int64(b.N)*benchChunk {
			b.Fatalf("received %d bytes, want %d", n, int64(b.N)*benchChunk)
		}
	case <-time.After(time.Minute):
		b.Fatal("receiver did not finish")
	}
}

// BenchmarkDatagramRTT measures one datagram there and its echo back.
func BenchmarkDatagramRTT(b *testing.B) {
	secret := NewSecret()
	x, y := startMesh(b, secret), startMesh(b, secret)
	y.HandleDatagrams(func(from, _ string, p []byte) { y.SendDatagram(context.Background(), from, p) })
	back := make(chan struct{}, 1)
	x.HandleDatagrams(func(string, string, []byte) {
		select {
		case back <- struct{}{}:
		default:
		}
	})
	ctx := context.Background()
	addr := y.Addr().String()
	msg := make([]byte, 64)
	// Connect first; and resend on loss so a dropped datagram costs a
	// timeout, not the benchmark.
	if _, _, err := echo(ctx, x, addr, []byte("warm")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for {
			if err := x.SendDatagram(ctx, addr, msg); err != nil {
				b.Fatal(err)
			}
			select {
			case <-back:
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
	}
}

// BenchmarkStreamRTT measures a new stream carrying one small request and
// its answer on an established connection, the shape of an RPC.
func BenchmarkStreamRTT(b *testing.B) {
	secret := NewSecret()
	x, y := startMesh(b, secret), startMesh(b, secret)
	ctx := context.Background()
	addr := y.Addr().String()
	msg := make([]byte, 64)
	if _, _, err := echo(ctx, x, addr, msg); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := echo(ctx, x, addr, msg); err != nil {
			b.Fatal(err)
		}
	}
}
