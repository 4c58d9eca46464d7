// Package storetest is the conformance suite every blockstore.Store
// implementation runs: call Run from the implementation's tests.
//
// Imports: pfs/blockstore, pfs/cid and the standard library (testing).
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

// Corrupter is implemented by a store (or a test wrapper around it) that
// can damage a stored block in place, so the suite can check that Get
// notices. Stores that cannot be damaged skip that test.
type Corrupter interface {
	Corrupt(id cid.ID) error
}

// Run runs the suite. open returns a new, empty store; Run calls it once
// per subtest.
func Run(t *testing.T, open func(t *testing.T) blockstore.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blockstore.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"BadID", testBadID},
		{"Idempotent", testIdempotent},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"TooLarge", testTooLarge},
		{"Concurrent", testConcurrent},
		{"Corrupt", testCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func block(seed uint64, n int) (cid.ID, []byte) {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return cid.Sum(b), b
}

func mustPut(t *testing.T, s blockstore.Store, id cid.ID, b []byte) {
	t.Helper()
	if err := s.Put(t.Context(), id, b); err != nil {
		t.Fatalf("Put %s (%d bytes): %v", id.Short(), len(b), err)
	}
}

func mustGet(t *testing.T, s blockstore.Store, id cid.ID, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id.Short(), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: %d bytes differ from the %d put", id.Short(), len(got), len(want))
	}
}

func testRoundTrip(t *testing.T, s blockstore.Store) {
	id, b := block(1, 1000)
	mustPut(t, s, id, b)
	b[0] ^= 0xff // the store must have copied
	b[0] ^= 0xff
	mustGet(t, s, id, b)
	got, _ := s.Get(t.Context(), id)
	got[0] ^= 0xff // nor may it hand out its own memory
	mustGet(t, s, id, b)
	if ok, err := s.Has(t.Context(), id); !ok || err != nil {
		t.Fatalf("Has after Put = %v, %v", ok, err)
	}
}

func testBadID(t *testing.T, s blockstore.Store) {
	id, b := block(2, 100)
	other, _ := block(3, 100)
	if err := s.Put(t.Context(), other, b); !errors.Is(err, cid.ErrMismatch) {
		t.Fatalf("Put under the wrong id: %v, want cid.ErrMismatch", err)
	}
	if ok, _ := s.Has(t.Context(), other); ok {
		t.Fatal("a rejected Put left a block")
	}
	if ok, _ := s.Has(t.Context(), id); ok {
		t.Fatal("a rejected Put stored the block under its real id")
	}
}

func testIdempotent(t *testing.T, s blockstore.Store) {
	id, b := block(4, 500)
	for range 3 {
		mustPut(t, s, id, b)
	}
	mustGet(t, s, id, b)
	if n := count(t, s); n != 1 {
		t.Fatalf("Walk sees %d blocks after 3 Puts of one, want 1", n)
	}
}

func testNotFound(t *testing.T, s blockstore.Store) {
	id, _ := block(5, 10)
	if _, err := s.Get(t.Context(), id); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("Get missing: %v, want ErrNotFound", err)
	}
	if ok, err := s.Has(t.Context(), id); ok || err != nil {
		t.Fatalf("Has missing = %v, %v", ok, err)
	}
}

func testDelete(t *testing.T, s blockstore.Store) {
	id, b := block(6, 10)
	mustPut(t, s, id, b)
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), id); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete of a missing block: %v", err)
	}
	mustPut(t, s, id, b) // and it can come back
	mustGet(t, s, id, b)
}

func count(t *testing.T, s blockstore.Store) int {
	n := 0
	if err := s.Walk(t.Context(), func(cid.ID, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func testWalk(t *testing.T, s blockstore.Store) {
	want := map[cid.ID]int64{}
	for i := range 50 {
		id, b := block(uint64(100+i), i*37)
		mustPut(t, s, id, b)
		want[id] = int64(len(b))
	}
	del, _ := block(100, 0)
	if err := s.Delete(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	delete(want, del)
	got := map[cid.ID]int64{}
	err := s.Walk(t.Context(), func(id cid.ID, size int64) error {
		if _, dup := got[id]; dup {
			t.Errorf("Walk yields %s twice", id.Short())
		}
		got[id] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk yields %d blocks, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("Walk: %s has size %d, want %d", id.Short(), got[id], n)
		}
	}
	stop := errors.New("stop")
	if err := s.Walk(t.Context(), func(cid.ID, int64) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk returns %v, want fn's error", err)
	}
}

func testEmpty(t *testing.T, s blockstore.Store) {
	id := cid.Sum(nil)
	mustPut(t, s, id, nil)
	mustGet(t, s, id, []byte{})
}

func testLarge(t *testing.T, s blockstore.Store) {
	id, b := block(7, 4<<20)
	mustPut(t, s, id, b)
	mustGet(t, s, id, b)
}

func testTooLarge(t *testing.T, s blockstore.Store) {
	b := make([]byte, blockstore.MaxBlockSize+1)
	if err := s.Put(t.Context(), cid.Sum(b), b); !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatalf("Put of %d bytes: %v, want ErrTooLarge", len(b), err)
	}
}

// testConcurrent hammers one shared id and many distinct ones from several
// goroutines; readers must see either ErrNotFound or the exact bytes.
func testConcurrent(t *testing.T, s blockstore.Store) {
	ctx := t.Context()
	sid, sb := block(8, 64<<10)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id, b := block(uint64(1000+g*100+i), 1000+i)
				for _, p := range []struct {
					id cid.ID
					b  []byte
				}{{sid, sb}, {id, b}} {
					if err := s.Put(ctx, p.id, p.b); err != nil {
						errs <- err
						return
					}
					got, err := s.Get(ctx, p.id)
					if err != nil || !bytes.Equal(got, p.b) {
						errs <- fmt.Errorf("get %s: %d bytes, %v", p.id.Short(), len(got), err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(t, s); n != 8*20+1 {
		t.Fatalf("Walk sees %d blocks, want %d", n, 8*20+1)
	}
}

func testCorrupt(t *testing.T, s blockstore.Store) {
	c, ok := s.(Corrupter)
	if !ok {
		t.Skip("store has no Corrupter")
	}
	id, b := block(9, 1000)
	mustPut(t, s, id, b)
	if err := c.Corrupt(id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), id)
	if !errors.Is(err, blockstore.ErrCorrupt) || !errors.Is(err, cid.ErrMismatch) {
		t.Fatalf("Get of a corrupt block: %v, want ErrCorrupt and cid.ErrMismatch", err)
	}
	if got != nil {
		t.Fatal("Get returned bytes with a corruption error")
	}
	var ce *blockstore.CorruptError
	if !errors.As(err, &ce) || ce.ID != id {
		t.Fatalf("error %v does not name the block", err)
	}
	// Putting the good bytes again repairs it.
	mustPut(t, s, id, b)
	mustGet(t, s, id, b)
}
