package blocknet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/host/mesh"
	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/blockstore/storetest"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

const protoTest byte = 200

func startMesh(t *testing.T, secret []byte) *mesh.Mesh {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	m, err := mesh.Listen(context.Background(), mesh.Config{Listen: "127.0.0.1:0", Identity: key, Secret: secret,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// remoteMem is a Remote in front of a memory store on another mesh node; it
// can corrupt the far store, for the suite's corruption test.
type remoteMem struct {
	*Remote
	far *blockstore.Mem
}

func (r remoteMem) Corrupt(id cid.ID) error { return r.far.Corrupt(id) }

// pair serves a fresh memory store on one mesh and returns a Remote to it
// from another, over real QUIC on loopback.
func pair(t *testing.T) (remoteMem, *mesh.Mesh) {
	secret := mesh.NewSecret()
	server, client := startMesh(t, secret), startMesh(t, secret)
	far := blockstore.NewMem()
	server.Handle(protoTest, func(s *mesh.Stream) { Serve(context.Background(), s, far, slog.New(slog.DiscardHandler)) })
	addr := server.Addr().String()
	r := &Remote{Node: server.ID(), Dial: func(ctx context.Context) (net.Conn, error) {
		return client.Dial(ctx, addr, protoTest)
	}}
	return remoteMem{Remote: r, far: far}, server
}

// TestConformance: a remote store over the mesh passes the suite every
// block store passes.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store {
		r, _ := pair(t)
		return r
	})
}

// TestLyingPeer: a peer that answers with other bytes than asked for is
// caught by the client's own check.
func TestLyingPeer(t *testing.T) {
	secret := mesh.NewSecret()
	server, client := startMesh(t, secret), startMesh(t, secret)
	server.Handle(protoTest, func(s *mesh.Stream) {
		defer s.Close()
		io.CopyN(io.Discard, s, 2+cid.Size)
		s.Write([]byte{stOK})
		writeBytes(s, []byte("not what you asked for"))
	})
	r := &Remote{Node: "liar", Dial: func(ctx context.Context) (net.Conn, error) {
		return client.Dial(ctx, server.Addr().String(), protoTest)
	}}
	_, err := r.Get(context.Background(), cid.Sum([]byte("wanted")))
	if !errors.Is(err, blockstore.ErrCorrupt) || !errors.Is(err, cid.ErrMismatch) || !strings.Contains(err.Error(), "liar") {
		t.Fatalf("Get from a lying peer = %v, want a corruption naming the peer", err)
	}
}

// TestGarbageRequests: malformed requests get an error or a closed stream,
// and the server goes on answering good ones.
func TestGarbageRequests(t *testing.T) {
	r, server := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := r.Remote
	for _, junk := range [][]byte{
		{}, {9}, {version}, {version, 99}, append([]byte{version, 99}, make([]byte, cid.Size)...),
		append(append([]byte{version, opPut}, make([]byte, cid.Size)...), 0xff, 0xff, 0xff, 0xff),
		append(append([]byte{version, opPut}, make([]byte, cid.Size)...), 0, 0, 0, 5, 'a'),
	} {
		conn, err := client.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(junk)
		conn.(interface{ CloseWrite() error }).CloseWrite()
		reply, _ := io.ReadAll(conn)
		conn.Close()
		if len(reply) > 0 && reply[0] == stOK {
			t.Errorf("request %x answered OK: %x", junk, reply)
		}
	}
	b := []byte("still fine")
	if err := client.Put(ctx, cid.Sum(b), b); err != nil {
		t.Fatal(err)
	}
	got, err := client.Get(ctx, cid.Sum(b))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("after garbage: %q %v", got, err)
	}
	_ = server
}

// FuzzServe: any request bytes get an answer or a closed stream, never a
// panic, and never a stored block that does not match its id.
func FuzzServe(f *testing.F) {
	b := []byte("x")
	id := cid.Sum(b)
	put := append(append([]byte{version, opPut}, id[:]...), 0, 0, 0, 1, 'x')
	f.Add(put)
	f.Add(append([]byte{version, opGet}, id[:]...))
	f.Add(append([]byte{version, opWalk}, id[:]...))
	f.Add([]byte{version, opHas})
	f.Fuzz(func(t *testing.T, req []byte) {
		store := blockstore.NewMem()
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() { Serve(context.Background(), server, store, slog.New(slog.DiscardHandler)); close(done) }()
		go func() { client.Write(req); client.Close() }()
		<-done
		store.Walk(context.Background(), func(id cid.ID, _ int64) error {
			if _, err := store.Get(context.Background(), id); err != nil {
				t.Fatalf("stored a bad block: %v", err)
			}
			return nil
		})
	})
}
