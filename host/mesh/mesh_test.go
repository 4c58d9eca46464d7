package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/p-kernel/p-kernel/host/sntp"
)

func TestStreamBothWays(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 10*time.Second)

	var seen atomic.Value
	b.Handle(protoSink, func(s *Stream) {
		seen.Store(s.Peer())
		io.WriteString(s, "ok")
	})
	got, peer, err := echo(ctx, a, b.Addr().String(), []byte("hello b"))
	if err != nil || string(got) != "hello b" || peer != b.ID() {
		t.Fatalf("a->b: %q %s %v, want %q %s", got, peer, err, "hello b", b.ID())
	}
	s, err := a.Dial(ctx, b.Addr().String(), protoSink)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := io.ReadAll(s); err != nil || string(reply) != "ok" {
		t.Fatalf("sink reply %q %v", reply, err)
	}
	s.Close()
	if seen.Load() != a.ID() {
		t.Fatalf("b saw peer %v, want %s", seen.Load(), a.ID())
	}
	// b answers on the connection a made: its address is a's listening one.
	got, peer, err = echo(ctx, b, a.Addr().String(), []byte("hello a"))
	if err != nil || string(got) != "hello a" || peer != a.ID() {
		t.Fatalf("b->a: %q %s %v", got, peer, err)
	}
	checkPeers(t, a, b)
	checkPeers(t, b, a)
}

// checkPeers checks that m has exactly one link, to other.
func checkPeers(t *testing.T, m, other *Mesh) {
	t.Helper()
	ps := m.Peers()
	if len(ps) != 1 || ps[0].ID != other.ID() || ps[0].Addr != other.Addr().String() || ps[0].Since.IsZero() {
		t.Fatalf("%s peers: %+v, want just %s at %s", m.ID(), ps, other.ID(), other.Addr())
	}
}

func TestThreeMeshesManyStreams(t *testing.T) {
	secret := NewSecret()
	ms := []*Mesh{startMesh(t, secret), startMesh(t, secret), startMesh(t, secret)}
	ctx := timeout(t, 20*time.Second)
	const perPair = 200 // above quic-go's default stream limit of 100
	var wg sync.WaitGroup
	errs := make(chan error, 6*perPair)
	for i, from := range ms {
		for j, to := range ms {
			if i == j {
				continue
			}
			for k := range perPair {
				wg.Go(func() {
					msg := fmt.Appendf(nil, "%d->%d #%d", i, j, k)
					got, peer, err := echo(ctx, from, to.Addr().String(), msg)
					if err == nil && (!bytes.Equal(got, msg) || peer != to.ID()) {
						err = fmt.Errorf("%d->%d: got %q from %s", i, j, got, peer)
					}
					if err != nil {
						errs <- err
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, m := range ms {
		// Simultaneous dials in both directions may leave two connections
		// per pair; Peers lists each address once.
		if ps := m.Peers(); len(ps) != 2 {
			t.Fatalf("%s peers: %+v", m.ID(), ps)
		}
	}
}

func TestBulkStream(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	// The handler hashes what it gets and answers with the hash and length.
	b.Handle(protoSink, func(s *Stream) {
		h := blake3.New()
		n, err := io.Copy(h, s)
		if err != nil {
			t.Errorf("sink: %v", err)
			return
		}
		fmt.Fprintf(s, "%x %d", h.Sum(nil), n)
	})
	ctx := timeout(t, 45*time.Second)
	s, err := a.Dial(ctx, b.Addr().String(), protoSink)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(45 * time.Second))
	// Pseudo-random payload from BLAKE3's extendable output, hashed as it
	// is sent.
	src := io.LimitReader(blake3.New().Digest(), int64(size))
	h := blake3.New()
	start := time.Now()
	if _, err := io.Copy(io.MultiWriter(s, h), src); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	reply, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x %d", h.Sum(nil), size)
	if string(reply) != want {
		t.Fatalf("receiver got %q, want %q", reply, want)
	}
	t.Logf("%d MiB in %v", size>>20, time.Since(start))
}

func TestDatagrams(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	type dgram struct{ from, peer, body string }
	got := make(chan dgram, 16)
	b.HandleDatagrams(func(from, peer string, p []byte) {
		select {
		case got <- dgram{from, peer, string(p)}:
		default:
		}
		b.SendDatagram(context.Background(), from, append([]byte("re: "), p...))
	})
	back := make(chan string, 16)
	a.HandleDatagrams(func(from, peer string, p []byte) {
		if peer == b.ID() && from == b.Addr().String() {
			select {
			case back <- string(p):
			default:
			}
		}
	})
	ctx := timeout(t, 10*time.Second)
	// Datagrams may be lost: resend until one arrives.
	for {
		if err := a.SendDatagram(ctx, b.Addr().String(), []byte("ping")); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if d.from != a.Addr().String() || d.peer != a.ID() || d.body != "ping" {
				t.Fatalf("got %+v", d)
			}
			select {
			case r := <-back:
				if r != "re: ping" {
					t.Fatalf("reply %q", r)
				}
				big := make([]byte, MaxDatagram)
				if err := a.SendDatagram(ctx, b.Addr().String(), big); err != nil {
					t.Fatalf("MaxDatagram bytes: %v", err)
				}
				if err := a.SendDatagram(ctx, b.Addr().String(), append(big, 0)); err == nil {
					t.Fatal("oversized datagram accepted")
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no datagram arrived")
		}
	}
}

func TestUnknownProtocolAndPanic(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	b.Handle(protoPanic, func(s *Stream) { panic("handler bug") })
	ctx := timeout(t, 10*time.Second)
	for _, proto := range []byte{99, protoPanic} {
		s, err := a.Dial(ctx, b.Addr().String(), proto)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(s)
		s.Close()
		if err == nil {
			t.Fatalf("proto %d: read succeeded", proto)
		}
		if unknown := errors.Is(err, ErrUnknownProtocol); unknown != (proto == 99) {
			t.Fatalf("proto %d: %v", proto, err)
		}
	}
	// The node survived and the connection still works.
	if got, _, err := echo(ctx, a, b.Addr().String(), []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("after panic: %q %v", got, err)
	}
}

func TestListener(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ln := b.Listener(7)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ctx := timeout(t, 10*time.Second)
	s, err := a.Dial(ctx, b.Addr().String(), 7)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(s, "via listener")
	s.CloseWrite()
	if got, err := io.ReadAll(s); err != nil || string(got) != "via listener" {
		t.Fatalf("%q %v", got, err)
	}
	s.Close()
	if s.LocalAddr().String() != a.Addr().String() || s.RemoteAddr().String() != b.Addr().String() {
		t.Fatalf("addrs %v %v", s.LocalAddr(), s.RemoteAddr())
	}
	ln.Close()
	s, err = a.Dial(ctx, b.Addr().String(), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := io.ReadAll(s); !errors.Is(err, ErrUnknownProtocol) {
		t.Fatalf("after listener close: %v", err)
	}
}

func TestConcurrentDialsShareConnection(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 10*time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, _, err := echo(ctx, a, b.Addr().String(), []byte("x")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	a.mu.Lock()
	n := len(a.links[b.Addr().String()])
	a.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connections to b, want 1", n)
	}
}

func TestGarbageIgnored(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 20*time.Second)
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, target := range []*Mesh{a, b} {
		wg.Go(func() { blast(t, target.Addr().String(), stop, &sent) })
	}
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		msg := fmt.Appendf(nil, "exchange %d", n)
		got, _, err := echo(ctx, a, b.Addr().String(), msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("exchange %d under garbage: %q %v", n, got, err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d exchanges while %d garbage packets were sent", n, sent.Load())
	if sent.Load() < 1000 {
		t.Fatalf("only %d garbage packets sent", sent.Load())
	}
}

// blast sends random packets to addr until stop: plain noise, and noise
// dressed as QUIC long-header (Initial) and short-header packets.
func blast(t *testing.T, addr string, stop chan struct{}, sent *atomic.Int64) {
	ua, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	rnd := blake3.New().Digest()
	buf := make([]byte, 1500)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		n := 1 + i*37%len(buf)
		rnd.Read(buf[:n])
		switch i % 3 {
		case 1: // long header, QUIC v1, Initial
			buf[0] = 0xc0 | buf[0]&0x0f
			if n > 5 {
				copy(buf[1:5], []byte{0, 0, 0, 1})
			}
		case 2: // short header
			buf[0] = 0x40 | buf[0]&0x3f
		}
		if _, err := c.Write(buf[:n]); err == nil {
			sent.Add(1)
		}
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // leave the loopback some room
		}
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 20*time.Second)
	addr := b.Addr().String()
	if _, _, err := echo(ctx, a, addr, []byte("1")); err != nil {
		t.Fatal(err)
	}
	key := b.cfg.Identity
	b.Close()
	waitFor(t, 5*time.Second, "a to see b go", func() bool { return len(a.Peers()) == 0 })

	// Dial while b is down: it keeps retrying until b is back.
	done := make(chan error, 1)
	go func() {
		got, peer, err := echo(ctx, a, addr, []byte("2"))
		if err == nil && (string(got) != "2" || peer != NodeID(key.Public().(ed25519PublicKey))) {
			err = fmt.Errorf("got %q from %s", got, peer)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	startMesh(t, secret, func(c *Config) { c.Listen, c.Identity = addr, key })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCrashedPeerIsResetOnRestart(t *testing.T) {
	secret := NewSecret()
	// A long idle timeout: the stale link must go because of the stateless
	// reset from b's next incarnation, not because it fell silent.
	long := func(c *Config) { c.IdleTimeout = 60 * time.Second }
	a, b := startMesh(t, secret, long), startMesh(t, secret, long)
	ctx := timeout(t, 20*time.Second)
	addr := b.Addr().String()
	if _, _, err := echo(ctx, a, addr, []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Crash: the socket vanishes and no CONNECTION_CLOSE is sent.
	b.tr.Close()
	b.udp.Close()
	startMesh(t, secret, long, func(c *Config) { c.Listen, c.Identity = addr, b.cfg.Identity })
	start := time.Now()
	var err error
	for i := 0; ; i++ {
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, _, err = echo(ectx, a, addr, []byte("2"))
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never reconnected: %v", err)
		}
		t.Logf("attempt %d: %v", i, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("reconnect took %v", d)
	}
}

func TestFilter(t *testing.T) {
	secret := NewSecret()
	var blockB, blockA atomic.Bool
	var bAddr, aAddr atomic.Value
	bAddr.Store("")
	aAddr.Store("")
	short := func(c *Config) { c.IdleTimeout, c.HandshakeTimeout = time.Second, time.Second }
	a := startMesh(t, secret, short, func(c *Config) {
		c.Filter = func(addr net.Addr) bool { return !(blockB.Load() && addr.String() == bAddr.Load()) }
	})
	b := startMesh(t, secret, short, func(c *Config) {
		c.Filter = func(addr net.Addr) bool { return !(blockA.Load() && addr.String() == aAddr.Load()) }
	})
	aAddr.Store(a.Addr().String())
	bAddr.Store(b.Addr().String())
	addr := b.Addr().String()

	try := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, _, err := echo(ctx, a, addr, []byte("x"))
		return err
	}
	// Outgoing: a refuses to dial b.
	blockB.Store(true)
	if err := try(500 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked dial: %v", err)
	}
	blockB.Store(false)
	if err := try(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Incoming: b drops a's packets, so the established link dies...
	blockA.Store(true)
	waitFor(t, 5*time.Second, "link to go down", func() bool { return len(a.Peers()) == 0 && len(b.Peers()) == 0 })
	// ...and new handshakes get no answer.
	if err := try(time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial through partition: %v", err)
	}
	blockA.Store(false)
	if err := try(10 * time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}

func TestCloseIdempotentAndRefusesWork(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 5*time.Second)
	if _, _, err := echo(ctx, a, b.Addr().String(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	if _, err := a.Dial(ctx, b.Addr().String(), protoEcho); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial after close: %v", err)
	}
	waitFor(t, 5*time.Second, "b to see a go", func() bool { return len(b.Peers()) == 0 })
}

func TestNodeID(t *testing.T) {
	key := newKey(t)
	id := NodeID(key.Public().(ed25519PublicKey))
	if len(id) != 17 || id[0] != 'n' || strings.ToLower(id) != id {
		t.Fatalf("id %q", id)
	}
	m := startMesh(t, NewSecret(), func(c *Config) { c.Identity = key })
	if m.ID() != id {
		t.Fatalf("mesh id %s, want %s", m.ID(), id)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := Listen(ctx, Config{Listen: "127.0.0.1:0", Secret: NewSecret()}); err == nil {
		t.Fatal("no identity accepted")
	}
	if _, err := Listen(ctx, Config{Listen: "127.0.0.1:0", Identity: newKey(t), Secret: []byte("short")}); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	secret := NewSecret()
	cfg := func() Config {
		return Config{Listen: "127.0.0.1:0", Identity: newKey(t), Secret: secret, Logger: testLogger()}
	}
	a, err := Listen(context.Background(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen(context.Background(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	b.Handle(protoEcho, func(s *Stream) { io.Copy(s, s) })
	b.Handle(protoSink, func(s *Stream) { io.Copy(io.Discard, s) }) // returns when the link goes
	ctx := timeout(t, 5*time.Second)
	if _, _, err := echo(ctx, a, b.Addr().String(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := a.Dial(ctx, b.Addr().String(), protoSink) // left open on purpose
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("pending"))
	a.Close()
	b.Close()
	waitFor(t, 5*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestServesTime: the mesh's port answers SNTP requests (a machine without
// a clock asks its seed before it can join), garbage that is not QUIC is
// ignored, and QUIC on the same port keeps working.
func TestServesTime(t *testing.T) {
	secret := NewSecret()
	a, b := startMesh(t, secret), startMesh(t, secret)
	ctx := timeout(t, 10*time.Second)

	junk, err := net.Dial("udp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	junk.Write([]byte{0x03, 1, 2, 3}) // non-QUIC, too short for SNTP
	junk.Write(make([]byte, 48))      // non-QUIC, mode 0

	off, err := sntp.Offset(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if off.Abs() > time.Second {
		t.Fatalf("offset from a mesh on this machine: %v", off)
	}
	if got, _, err := echo(ctx, a, b.Addr().String(), []byte("still QUIC")); err != nil || string(got) != "still QUIC" {
		t.Fatalf("echo after time requests: %q %v", got, err)
	}
}
