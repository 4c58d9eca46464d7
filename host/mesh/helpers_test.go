package mesh

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

const (
	protoEcho  byte = 1
	protoSink  byte = 2
	protoPanic byte = 3
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// startMesh starts a mesh on a loopback port with an echo handler; mods
// adjust the config first.
func startMesh(t testing.TB, secret []byte, mods ...func(*Config)) *Mesh {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Identity: newKey(t), Secret: secret, Logger: testLogger()}
	for _, mod := range mods {
		mod(&cfg)
	}
	m, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.Handle(protoEcho, func(s *Stream) { io.Copy(s, s) })
	return m
}

func timeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echo sends msg on a new echo stream to addr and returns the answer and
// the stream's peer id.
func echo(ctx context.Context, m *Mesh, addr string, msg []byte) ([]byte, string, error) {
	s, err := m.Dial(ctx, addr, protoEcho)
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	if _, err := s.Write(msg); err != nil {
		return nil, "", err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, "", err
	}
	got, err := io.ReadAll(s)
	return got, s.Peer(), err
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
