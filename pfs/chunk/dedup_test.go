package chunk

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// tarLike writes every regular file under dir in path order, each behind a
// small header, like an uncompressed tar: a realistic "same tree, next
// version" stream for dedup.
func tarLike(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&buf, "%s %d\n", rel, len(b))
		buf.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corpus returns pairs of versions of modules found in the module cache.
func corpus(t testing.TB) map[string][2][]byte {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env: %v", err)
	}
	mc := strings.TrimSpace(string(out))
	pairs := map[string][2]string{
		"x/sys v0.44.0→v0.47.0":  {"golang.org/x/sys@v0.44.0", "golang.org/x/sys@v0.47.0"},
		"x/sync v0.10.0→v0.22.0": {"golang.org/x/sync@v0.10.0", "golang.org/x/sync@v0.22.0"},
	}
	c := map[string][2][]byte{}
	for name, p := range pairs {
		a, b := filepath.Join(mc, p[0]), filepath.Join(mc, p[1])
		if _, err := os.Stat(a); err != nil {
			continue
		}
		if _, err := os.Stat(b); err != nil {
			continue
		}
		c[name] = [2][]byte{tarLike(t, a), tarLike(t, b)}
	}
	if len(c) == 0 {
		t.Skip("no module versions in the module cache to compare")
	}
	return c
}

// TestDedupCorpus measures how much of the second version of a module tree
// is already stored after the first, for several splitters, and their
// speed. It only logs: run it with -v. See README.md.
func TestDedupCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement; slow")
	}
	splitters := []Splitter{Fixed(0), Default(), mustCDC(16<<10, 64<<10, 256<<10), mustCDC(4<<10, 16<<10, 64<<10), Fixed(64 << 10)}
	for name, v := range corpus(t) {
		t.Logf("%s: %d + %d bytes", name, len(v[0]), len(v[1]))
		for _, s := range splitters {
			seen := map[[32]byte]bool{}
			var uniq, chunks int
			start := time.Now()
			for _, data := range v {
				c := s.New(bytes.NewReader(data))
				for {
					b, err := c.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					chunks++
					if h := blake3.Sum256(b); !seen[h] {
						seen[h] = true
						uniq += len(b)
					}
				}
			}
			el := time.Since(start)
			total := len(v[0]) + len(v[1])
			reused := len(v[1]) - (uniq - len(v[0]))
			t.Logf("  %-28s chunks %5d  stored %6.2f MB of %6.2f  ratio %.2f  v2 reused %5.1f%%  (chunk+hash %.0f MB/s)",
				s, chunks, float64(uniq)/1e6, float64(total)/1e6, float64(total)/float64(uniq),
				100*float64(max(reused, 0))/float64(len(v[1])), float64(total)/1e6/el.Seconds())
		}
	}
}

// BenchmarkChunkers is chunking throughput alone (no hashing) on random
// data, which has no shortcuts for either method.
func BenchmarkChunkers(b *testing.B) {
	data := random(7, 64<<20)
	for _, s := range []Splitter{Fixed(0), Default(), mustCDC(16<<10, 64<<10, 256<<10)} {
		b.Run(s.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				c := s.New(bytes.NewReader(data))
				for {
					if _, err := c.Next(); err != nil {
						break
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/float64(b.N), "chunks/op")
		})
	}
}

// TestBenchmarkChunkers runs the benchmark's setup once so it cannot rot.
func TestBenchmarkChunkers(t *testing.T) {
	for _, s := range []Splitter{Fixed(0), Default()} {
		if n := len(all(t, s, bytes.NewReader(random(7, 1<<20)))); n == 0 {
			t.Fatalf("%v: no chunks", s)
		}
	}
}
