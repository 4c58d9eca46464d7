package vol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/object"
	"github.com/p-kernel/p-kernel/pfs/place"
)

// PutOptions tune one Put; nil is the defaults.
type PutOptions struct {
	// Progress, if set, is called with the file bytes durably stored so
	// far, in order, from one goroutine.
	Progress func(done int64)
}

// BlockFault is one block that could not be stored or read on a node.
type BlockFault struct {
	Index int    // block index: the shard number, or the copy number for whole copies
	ID    cid.ID // the block's id
	Node  string // the node asked; empty when there was no node left to ask
	Err   error  // what happened (blockstore.ErrNotFound, ErrCorrupt, a transport error...)
}

func (f BlockFault) String() string {
	node := f.Node
	if node == "" {
		node = "(no node)"
	}
	return fmt.Sprintf("block %d (%s) on %s: %v", f.Index, f.ID.Short(), node, f.Err)
}

// PlaceError is returned by Put when a chunk or an object could not be
// stored on as many nodes as its coding needs.
type PlaceError struct {
	What     string // "chunk" or "object"
	ID       cid.ID // the chunk or object id
	Coding   string // e.g. "RS(3,2)" or "3 copies"
	Stored   int    // blocks stored
	Need     int    // blocks the coding needs
	Failures []BlockFault
}

func (e *PlaceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vol: %s %s (%s): stored %d of %d blocks", e.What, e.ID.Short(), e.Coding, e.Stored, e.Need)
	return b.String() + faultList(e.Failures)
}

// faultList formats faults for an error message.
func faultList(faults []BlockFault) string {
	var b strings.Builder
	for i, f := range faults {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// ErrNoSpare is the cause in a BlockFault when a block's node failed and
// no other live node was left to take it.
var ErrNoSpare = errors.New("no spare live node left")

// codingName names a chunk's coding for messages.
func codingName(k, m int) string {
	if k <= 1 {
		return fmt.Sprintf("%d copies", m+1)
	}
	return fmt.Sprintf("RS(%d,%d)", k, m)
}

// Put stores the stream r as a new version of ns/name and publishes it once
// every block is stored. See the package comment.
func (v *Volume) Put(ctx context.Context, ns, name string, r io.Reader, opts *PutOptions) (names.Version, error) {
	if err := names.ValidNamespace(ns); err != nil {
		return names.Version{}, err
	}
	if err := names.ValidName(name); err != nil {
		return names.Version{}, err
	}
	root, size, err := v.putFile(ctx, ns, r, opts)
	if err != nil {
		return names.Version{}, fmt.Errorf("vol: put %s/%s: %w", ns, name, err)
	}
	ver := names.Version{
		Namespace: ns, Name: name, Object: root, Size: size,
		Time: v.stamp(ns, name), Node: v.c.Self(),
	}
	if err := v.names.Publish(ctx, ver); err != nil {
		return names.Version{}, fmt.Errorf("vol: put %s/%s: publish: %w", ns, name, err)
	}
	return ver, nil
}

type putJob struct {
	buf  *[]byte
	c    object.Chunk
	err  error
	done chan struct{}
}

// putFile stores the chunks and objects of r and returns the root id and
// size. Chunks are hashed, coded and written by one goroutine each, at most
// GOMAXPROCS of them computing at a time and at most InFlight bytes held;
// the builder takes them in order.
func (v *Volume) putFile(ctx context.Context, ns string, r io.Reader, opts *PutOptions) (cid.ID, uint64, error) {
	live := v.c.Live()
	if len(live) == 0 {
		return cid.Undef, 0, erasure.ErrNoNodes
	}
	pol := v.policy(ns)
	copies := v.copies(ns, len(live))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	maxSize := v.cfg.Splitter.MaxSize()
	pool := sync.Pool{New: func() any { b := make([]byte, maxSize); return &b }}
	sem := newByteSem(v.cfg.InFlight)
	cpu := make(chan struct{}, runtime.GOMAXPROCS(0))
	order := make(chan *putJob, 1024)

	builder := object.NewFileBuilder(func(id cid.ID, enc []byte) error {
		return v.placeCopies(ctx, "object", id, live, copies, enc)
	}, v.cfg.Fanout)

	// The collector adds chunks to the builder in file order.
	var (
		collectErr error
		done       int64
		collected  = make(chan struct{})
	)
	go func() {
		defer close(collected)
		for j := range order {
			<-j.done
			if collectErr != nil {
				continue
			}
			if j.err == nil {
				j.err = builder.Add(j.c)
			}
			if j.err != nil {
				collectErr = j.err
				cancel(j.err)
				continue
			}
			done += int64(j.c.Size)
			if opts != nil && opts.Progress != nil {
				opts.Progress(done)
			}
		}
	}()

	chunker := v.cfg.Splitter.New(r)
	var readErr error
	for {
		b, err := chunker.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if err := sem.acquire(ctx, int64(len(b))); err != nil {
			readErr = context.Cause(ctx)
			break
		}
		buf := pool.Get().(*[]byte)
		data := (*buf)[:len(b)]
		copy(data, b)
		j := &putJob{buf: buf, done: make(chan struct{})}
		order <- j
		go func() {
			defer close(j.done)
			defer sem.release(int64(len(data)))
			defer pool.Put(buf)
			j.c, j.err = v.putChunk(ctx, pol, live, cpu, data)
		}()
	}
	close(order)
	<-collected
	if readErr != nil && collectErr == nil {
		return cid.Undef, 0, readErr
	}
	if collectErr != nil {
		return cid.Undef, 0, collectErr
	}
	if err := context.Cause(ctx); err != nil {
		return cid.Undef, 0, err
	}
	return builder.Finish()
}

// putChunk hashes and codes one chunk (holding a cpu slot) and stores its
// blocks on their nodes.
func (v *Volume) putChunk(ctx context.Context, pol erasure.Policy, live []string, cpu chan struct{}, data []byte) (object.Chunk, error) {
	select {
	case cpu <- struct{}{}:
	case <-ctx.Done():
		return object.Chunk{}, context.Cause(ctx)
	}
	id := cid.Sum(data)
	coding, err := pol.Choose(len(live), len(data))
	if err != nil {
		<-cpu
		return object.Chunk{}, err
	}
	c := object.Chunk{ID: id, Size: uint32(len(data)), K: uint8(coding.K), M: uint8(coding.M)}
	if coding.Replicated() {
		<-cpu
		return c, v.placeCopies(ctx, "chunk", id, live, coding.M+1, data)
	}
	shards, ids, err := erasure.Encode(data, coding.K, coding.M)
	<-cpu
	if err != nil {
		return object.Chunk{}, err
	}
	c.Shards = ids
	return c, v.placeBlocks(ctx, "chunk", id, codingName(coding.K, coding.M), live, ids, shards)
}

// placeCopies stores n copies of the block id on the first n ranked nodes.
func (v *Volume) placeCopies(ctx context.Context, what string, id cid.ID, live []string, n int, data []byte) error {
	ids := make([]cid.ID, n)
	blocks := make([][]byte, n)
	for i := range ids {
		ids[i], blocks[i] = id, data
	}
	return v.placeBlocks(ctx, what, id, codingName(1, n-1), live, ids, blocks)
}

// placeBlocks writes block i to the i-th node of place.Rank(key, live), all
// in parallel. A block whose node fails moves to the next ranked node not
// yet used for this key. It fails with a *PlaceError unless every block is
// stored.
func (v *Volume) placeBlocks(ctx context.Context, what string, key cid.ID, coding string, live []string, ids []cid.ID, blocks [][]byte) error {
	v.wrote(ids...)
	rank := place.Rank(key, live)
	targets, err := place.Shards(key, live, len(ids), true)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		spare  = len(ids) // next unused rank position
		faults []BlockFault
		wg     sync.WaitGroup
	)
	write := func(i int) {
		defer wg.Done()
		node := targets[i]
		for {
			err := v.c.Store(node).Put(ctx, ids[i], blocks[i])
			if err == nil {
				return
			}
			mu.Lock()
			faults = append(faults, BlockFault{Index: i, ID: ids[i], Node: node, Err: err})
			if ctx.Err() != nil || spare >= len(rank) {
				if ctx.Err() == nil {
					faults = append(faults, BlockFault{Index: i, ID: ids[i], Err: ErrNoSpare})
				}
				mu.Unlock()
				return
			}
			node = rank[spare]
			spare++
			mu.Unlock()
		}
	}
	wg.Add(len(ids))
	for i := 1; i < len(ids); i++ {
		go write(i)
	}
	write(0)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	failed := map[int]bool{}
	for _, f := range faults {
		if f.Node == "" {
			failed[f.Index] = true
		}
	}
	if len(failed) > 0 {
		return &PlaceError{What: what, ID: key, Coding: coding, Stored: len(ids) - len(failed), Need: len(ids), Failures: faults}
	}
	return nil
}

// byteSem is a weighted semaphore counting bytes.
type byteSem struct {
	mu    sync.Mutex
	avail int64
	wake  chan struct{}
}

func newByteSem(n int64) *byteSem { return &byteSem{avail: n} }

func (s *byteSem) acquire(ctx context.Context, n int64) error {
	for {
		s.mu.Lock()
		if s.avail >= n {
			s.avail -= n
			s.mu.Unlock()
			return nil
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *byteSem) release(n int64) {
	s.mu.Lock()
	s.avail += n
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	s.mu.Unlock()
}
