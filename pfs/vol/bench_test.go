package vol

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/blockstore"
	"github.com/p-kernel/p-kernel/pfs/chunk"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

const benchSize = 64 << 20

var benchInFlight int64 // 0: the default

// stamp makes data unique for iteration i (so puts do not deduplicate
// against earlier ones) by writing i into every 4 KiB.
func stamp(data []byte, i int) {
	for off := 0; off+8 <= len(data); off += 4 << 10 {
		binary.LittleEndian.PutUint64(data[off:], uint64(i)<<32|uint64(off))
	}
}

// BenchmarkThroughput compares, in one process on the same disk, a
// single-node Put and Get on a disk store with writing the same chunks as
// plain files with fsync (and as one file with one fsync) and reading them
// back, and a Put and Get on a 3-node in-memory cluster (RS or copies as
// the adaptive policy picks).
//
//	go test -run '^$' -bench Throughput -benchtime 5x ./pfs/vol
func BenchmarkThroughput(b *testing.B) {
	data := randBytes(99, benchSize)
	ctx := context.Background()

	diskVolume := func(b *testing.B) *Volume {
		e := newEnv(0)
		st, err := openDisk(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		e.net.add("solo", st)
		v, err := Open(Config{Cluster: view{e.net, "solo"}, Names: e.names, InFlight: benchInFlight})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	memVolume := func(b *testing.B, n int) *Volume {
		e := newEnv(n)
		v, err := Open(Config{Cluster: view{e.net, "n0"}, Names: e.names})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	benchPut := func(b *testing.B, v *Volume) {
		b.SetBytes(benchSize)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			stamp(data, i)
			b.StartTimer()
			if _, err := v.Put(ctx, "bench", "f", bytes.NewReader(data), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	benchGet := func(b *testing.B, v *Volume) {
		stamp(data, -1)
		if _, err := v.Put(ctx, "bench", "g", bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchSize)
		for b.Loop() {
			f, err := v.Open(ctx, "bench", "g")
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, f); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	}
	chunks := func() [][]byte {
		var out [][]byte
		c := chunk.Default().New(bytes.NewReader(data))
		for {
			p, err := c.Next()
			if err == io.EOF {
				return out
			}
			out = append(out, bytes.Clone(p))
		}
	}

	b.Run("put-disk-1node", func(b *testing.B) { benchPut(b, diskVolume(b)) })
	b.Run("fsync-files", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(benchSize)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			stamp(data, i)
			cs := chunks()
			b.StartTimer()
			for j, c := range cs {
				if err := writeSync(filepath.Join(dir, fmt.Sprintf("%d-%d", i, j)), c); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// The disk store alone, given the chunks already cut and hashed, 16 at
	// a time: what Put costs without the engine.
	b.Run("diskstore-put", func(b *testing.B) {
		st, err := openDisk(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchSize)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			stamp(data, i)
			cs := chunks()
			ids := make([]cid.ID, len(cs))
			for j, c := range cs {
				ids[j] = cid.Sum(c)
			}
			b.StartTimer()
			var g errgroup
			sem := make(chan struct{}, 16)
			for j, c := range cs {
				sem <- struct{}{}
				g.Go(func() error { defer func() { <-sem }(); return st.Put(ctx, ids[j], c) })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fsync-onefile", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(benchSize)
		for i := 0; b.Loop(); i++ {
			if err := writeSync(filepath.Join(dir, fmt.Sprint(i)), data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-disk-1node", func(b *testing.B) { benchGet(b, diskVolume(b)) })
	b.Run("read-files", func(b *testing.B) {
		dir := b.TempDir()
		cs := chunks()
		for j, c := range cs {
			if err := writeSync(filepath.Join(dir, fmt.Sprint(j)), c); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(benchSize)
		for b.Loop() {
			for j := range cs {
				if _, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(j))); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("put-mem-3node", func(b *testing.B) { benchPut(b, memVolume(b, 3)) })
	b.Run("get-mem-3node", func(b *testing.B) { benchGet(b, memVolume(b, 3)) })
	b.Run("put-mem-5node-rs32", func(b *testing.B) { benchPut(b, memVolume(b, 5)) })
	b.Run("get-mem-5node-rs32", func(b *testing.B) { benchGet(b, memVolume(b, 5)) })
}

// errgroup is the part of golang.org/x/sync/errgroup the benchmark needs.
type errgroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	}()
}

func (g *errgroup) Wait() error { g.wg.Wait(); return g.err }

func writeSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var _ blockstore.Store = (*blockstore.Mem)(nil)
