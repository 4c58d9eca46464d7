package vol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/p-kernel/p-kernel/pfs/cid"
	"github.com/p-kernel/p-kernel/pfs/erasure"
	"github.com/p-kernel/p-kernel/pfs/names"
	"github.com/p-kernel/p-kernel/pfs/object"
	"github.com/p-kernel/p-kernel/pfs/place"
)

var errCorruptShard = errors.New("shard does not match its id")

// ErrMissing is wrapped by every *MissingError.
var ErrMissing = errors.New("vol: not enough good blocks")

// MissingError is returned by reads when a chunk or an object has fewer good
// blocks on the live nodes than it needs. It never comes with data.
type MissingError struct {
	What   string // "chunk" or "object"
	ID     cid.ID // the chunk or object id
	Offset uint64 // the chunk's offset in the file (chunks only)
	Coding string
	Have   int      // good blocks (shards or copies) found
	Need   int      // blocks needed to read: k, or 1 copy
	Live   []string // the live nodes at the time, all of which were asked
	Faults []BlockFault
}

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vol: %s %s", e.What, e.ID.Short())
	if e.What == "chunk" {
		fmt.Fprintf(&b, " at offset %d", e.Offset)
	}
	fmt.Fprintf(&b, " (%s): found %d good blocks, need %d, on the %d live nodes %v", e.Coding, e.Have, e.Need, len(e.Live), e.Live)
	return b.String() + faultList(e.Faults)
}

// Unwrap makes errors.Is(err, ErrMissing) hold.
func (e *MissingError) Unwrap() error { return ErrMissing }

// Nodes returns the nodes that were asked and failed, without repeats.
func (e *MissingError) Nodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range e.Faults {
		if f.Node != "" && !seen[f.Node] {
			seen[f.Node] = true
			out = append(out, f.Node)
		}
	}
	return out
}

// getObject fetches and verifies block id, asking its ranked live nodes
// first and then every other live node. Faults on the first copies ranked
// nodes queue the object for repair.
func (v *Volume) getObject(ctx context.Context, id cid.ID, copies int) ([]byte, error) {
	live := v.c.Live()
	b, faults, err := v.fetchWhole(ctx, id, place.Rank(id, live), copies)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &MissingError{What: "object", ID: id, Coding: codingName(1, copies-1), Need: 1, Live: live, Faults: faults}
	}
	if len(faults) > 0 {
		v.enqueue(queued{id: id, copies: copies, deep: true})
	}
	return b, nil
}

// fetchWhole returns block id from the first node of order that has it
// good, with the faults of the nodes before it among the first want.
func (v *Volume) fetchWhole(ctx context.Context, id cid.ID, order []string, want int) ([]byte, []BlockFault, error) {
	var faults []BlockFault
	for i, node := range order {
		b, err := v.c.Store(node).Get(ctx, id)
		if err == nil && node != v.c.Self() {
			err = cid.Verify(id, b) // remote bytes are checked here too
		}
		if err == nil {
			return b, faults, nil
		}
		if ctx.Err() != nil {
			return nil, faults, ctx.Err()
		}
		faults = append(faults, BlockFault{Index: min(i, want), ID: id, Node: node, Err: err})
	}
	return nil, faults, ErrMissing
}

// objectGetter returns an object.GetFunc over the cluster for objects
// stored as copies copies.
func (v *Volume) objectGetter(copies int) object.GetFunc {
	return func(ctx context.Context, id cid.ID) ([]byte, error) { return v.getObject(ctx, id, copies) }
}

// readChunk returns the verified bytes of chunk c (at file offset off, for
// messages).
func (v *Volume) readChunk(ctx context.Context, c object.Chunk, off uint64) ([]byte, error) {
	live := v.c.Live()
	if c.K <= 1 {
		b, faults, err := v.fetchWhole(ctx, c.ID, place.Rank(c.ID, live), int(c.M)+1)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &MissingError{What: "chunk", ID: c.ID, Offset: off, Coding: codingName(1, int(c.M)), Need: 1, Live: live, Faults: faults}
		}
		if len(faults) > 0 {
			v.enqueue(queued{chunk: c, id: c.ID, deep: true})
		}
		return b, nil
	}
	return v.readStripe(ctx, c, off, live)
}

type shardResult struct {
	i      int
	node   string
	b      []byte
	faults []BlockFault
}

// readStripe reads an RS chunk: k shards from their ranked nodes in
// parallel, the next shard for each one that fails, and, when the ranked
// nodes do not have enough, each missing shard from every other live node.
func (v *Volume) readStripe(ctx context.Context, c object.Chunk, off uint64, live []string) ([]byte, error) {
	k, m := int(c.K), int(c.M)
	n := k + m
	rank := place.Rank(c.ID, live)
	if len(rank) == 0 {
		return nil, &MissingError{What: "chunk", ID: c.ID, Offset: off, Coding: codingName(k, m), Need: k, Live: live}
	}
	expected := func(i int) string { return rank[i%len(rank)] }
	ch := make(chan shardResult, 3*n) // every fetch sends once: n ranked, at most 2 passes over the rest
	fetch := func(i int, nodes []string) {
		var faults []BlockFault
		for _, node := range nodes {
			b, err := v.c.Store(node).Get(ctx, c.Shards[i])
			if err == nil {
				ch <- shardResult{i: i, node: node, b: b, faults: faults}
				return
			}
			faults = append(faults, BlockFault{Index: i, ID: c.Shards[i], Node: node, Err: err})
		}
		ch <- shardResult{i: i, faults: faults}
	}
	shards := make([][]byte, n)
	from := make([]string, n)
	var (
		faults  []BlockFault
		failed  []int // indexes not found on their ranked node
		present int
		pending int
		next    int
		passes  int // searches of the other nodes for failed shards
	)
	for {
		for present+pending < k && next < n {
			go fetch(next, []string{expected(next)})
			pending++
			next++
		}
		if present+pending < k && next >= n && pending == 0 && passes < 2 && len(failed) > 0 {
			passes++
			for _, i := range failed {
				if shards[i] != nil {
					continue
				}
				var others []string
				for _, node := range rank {
					if node != expected(i) {
						others = append(others, node)
					}
				}
				go fetch(i, others)
				pending++
			}
			failed = nil
		}
		if present >= k {
			data, rep, err := erasure.DecodeReport(shards, c.Shards, k, m, int(c.Size))
			if err == nil {
				if len(faults) > 0 || len(rep.Corrupt) > 0 {
					v.enqueue(queued{chunk: c, id: c.ID, deep: true})
				}
				return data, nil
			}
			if !errors.Is(err, erasure.ErrTooFewShards) {
				return nil, fmt.Errorf("vol: chunk %s at offset %d: %w", c.ID.Short(), off, err)
			}
			// Corrupt shards got past the store: drop them and go on.
			for _, i := range rep.Corrupt {
				shards[i] = nil
				present--
				faults = append(faults, BlockFault{Index: i, ID: c.Shards[i], Node: from[i], Err: errCorruptShard})
				failed = append(failed, i)
			}
			continue
		}
		if pending == 0 {
			break
		}
		r := <-ch
		pending--
		faults = append(faults, r.faults...)
		if r.b != nil && shards[r.i] == nil {
			shards[r.i], from[r.i] = r.b, r.node
			present++
		} else if r.b == nil && passes == 0 {
			failed = append(failed, r.i)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	v.enqueue(queued{chunk: c, id: c.ID, deep: true})
	return nil, &MissingError{What: "chunk", ID: c.ID, Offset: off, Coding: codingName(k, m), Have: present, Need: k, Live: live, Faults: faults}
}

// File is an open version of a file. It implements io.Reader, io.ReaderAt,
// io.Seeker and io.WriterTo (which streams with read-ahead, so io.Copy is
// the fast way to read a whole file). Reads use the context the File was
// opened with. A File is not safe for concurrent use.
type File struct {
	v      *Volume
	ctx    context.Context
	id     cid.ID
	ver    names.Version
	root   *object.File
	get    object.GetFunc
	r      *object.Reader
	off    int64
	closed bool
}

var (
	_ io.ReaderAt = (*File)(nil)
	_ io.Seeker   = (*File)(nil)
	_ io.WriterTo = (*File)(nil)
)

// Get opens the file object id. Its reads use ctx.
func (v *Volume) Get(ctx context.Context, id cid.ID) (*File, error) {
	return v.get(ctx, "", id)
}

func (v *Volume) get(ctx context.Context, ns string, id cid.ID) (*File, error) {
	get := v.objectGetter(v.copies(ns, len(v.c.Live())))
	root, err := object.LoadFile(ctx, get, id)
	if err != nil {
		return nil, fmt.Errorf("vol: open file %s: %w", id.Short(), err)
	}
	return &File{v: v, ctx: ctx, id: id, root: root, get: get,
		r: object.NewReader(root, get, v.readChunk)}, nil
}

// Open opens the latest version of ns/name; a name never written or removed
// gives an error wrapping fs.ErrNotExist.
func (v *Volume) Open(ctx context.Context, ns, name string) (*File, error) {
	ver, ok := v.names.Index().Latest(ns, name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: ns + "/" + name, Err: fs.ErrNotExist}
	}
	return v.OpenVersion(ctx, ver)
}

// OpenVersion opens one version of a name (from History); a tombstone gives
// an error wrapping fs.ErrNotExist.
func (v *Volume) OpenVersion(ctx context.Context, ver names.Version) (*File, error) {
	if ver.Removed() {
		return nil, &fs.PathError{Op: "open", Path: ver.Namespace + "/" + ver.Name, Err: fs.ErrNotExist}
	}
	f, err := v.get(ctx, ver.Namespace, ver.Object)
	if err != nil {
		return nil, err
	}
	f.ver = ver
	return f, nil
}

// ID is the file object's id.
func (f *File) ID() cid.ID { return f.id }

// Size is the file's size in bytes.
func (f *File) Size() int64 { return int64(f.root.Size) }

// Version is the version the file was opened as; zero for Get.
func (f *File) Version() names.Version { return f.ver }

// Close releases the file.
func (f *File) Close() error { f.r.Release(); f.closed = true; return nil }

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt, fetching the one chunk that covers each
// offset (and keeping the last one).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	return f.r.ReadAt(f.ctx, p, off)
}

// Seek implements io.Seeker.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	off, err := object.Seek(f.off, f.Size(), offset, whence)
	f.off = off
	return off, err
}

type readJob struct {
	start uint64
	c     object.Chunk
	b     []byte
	err   error
	done  chan struct{}
}

// WriteTo implements io.WriterTo: it writes the file from the current
// offset to w, fetching chunks in parallel a bounded number of bytes ahead.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	sem := newByteSem(f.v.cfg.InFlight)
	order := make(chan *readJob, 1024)
	var walkErr error
	go func() {
		defer close(order)
		from := uint64(f.off)
		walkErr = walkFile(ctx, f.get, f.root, 0, func(start uint64, c object.Chunk) error {
			if start+uint64(c.Size) <= from {
				return nil
			}
			if err := sem.acquire(ctx, int64(c.Size)); err != nil {
				return err
			}
			j := &readJob{start: start, c: c, done: make(chan struct{})}
			order <- j
			go func() {
				defer close(j.done)
				j.b, j.err = f.v.readChunk(ctx, c, start)
			}()
			return nil
		})
	}()
	var total int64
	var err error
	for j := range order {
		<-j.done
		sem.release(int64(j.c.Size))
		if err != nil {
			continue
		}
		if j.err != nil {
			err = j.err
			cancel()
			continue
		}
		b := j.b
		if skip := f.off - int64(j.start); skip > 0 {
			b = b[skip:]
		}
		n, werr := w.Write(b)
		total += int64(n)
		f.off += int64(n)
		if werr != nil {
			err = werr
			cancel()
		}
	}
	if err == nil && walkErr != nil {
		err = walkErr
	}
	return total, err
}

// walkFile calls fn with every chunk of the loaded file f (starting at file
// offset base) in order, loading its parts through get.
func walkFile(ctx context.Context, get object.GetFunc, f *object.File, base uint64, fn func(uint64, object.Chunk) error) error {
	return walkTree(ctx, get, f, base, 0, nil, fn)
}

// walkTree is walkFile that also reports each part object id to onObject.
func walkTree(ctx context.Context, get object.GetFunc, f *object.File, base uint64, depth int, onObject func(cid.ID) error, fn func(uint64, object.Chunk) error) error {
	if depth > object.MaxDepth {
		return fmt.Errorf("%w: file tree deeper than %d", object.ErrInvalid, object.MaxDepth)
	}
	off := base
	for _, c := range f.Chunks {
		if err := fn(off, c); err != nil {
			return err
		}
		off += uint64(c.Size)
	}
	for _, p := range f.Parts {
		if onObject != nil {
			if err := onObject(p.ID); err != nil {
				return err
			}
		}
		sub, err := object.LoadFile(ctx, get, p.ID)
		if err != nil {
			return err
		}
		if err := walkTree(ctx, get, sub, off, depth+1, onObject, fn); err != nil {
			return err
		}
		off += p.Size
	}
	return nil
}
