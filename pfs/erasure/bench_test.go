package erasure

import (
	"fmt"
	"testing"

	"github.com/zeebo/blake3"
)

// The sizes and codings benchmarked, by name: Encode/k3m2/256KiB and so on.
var benchCodings = [][2]int{{3, 2}, {4, 2}, {6, 3}}

func benchSizes() []int { return []int{1 << 10, 4 << 10, 16 << 10, 256 << 10} }

func BenchmarkEncode(b *testing.B) {
	for _, size := range benchSizes() {
		data := randBytes(1, size)
		b.Run(fmt.Sprintf("memcpy/%dKiB", size>>10), func(b *testing.B) {
			dst := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, data)
			}
		})
		b.Run(fmt.Sprintf("blake3/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				blake3.Sum256(data)
			}
		})
		for _, km := range benchCodings {
			b.Run(fmt.Sprintf("k%dm%d/%dKiB", km[0], km[1], size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := Encode(data, km[0], km[1]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecode decodes with m data shards lost (the worst case: m data
// shards rebuilt from parity) and with none lost.
func BenchmarkDecode(b *testing.B) {
	size := 256 << 10
	data := randBytes(2, size)
	for _, km := range benchCodings {
		k, m := km[0], km[1]
		shards, ids, err := Encode(data, k, m)
		if err != nil {
			b.Fatal(err)
		}
		for _, lost := range []int{0, m} {
			in := make([][]byte, len(shards))
			copy(in, shards)
			for i := 0; i < lost; i++ {
				in[i] = nil
			}
			b.Run(fmt.Sprintf("k%dm%d/lost%d/256KiB", k, m, lost), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decode(in, ids, k, m, size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestBenchmarkSetup runs the benchmark bodies once so they cannot rot.
func TestBenchmarkSetup(t *testing.T) {
	for _, km := range benchCodings {
		data := randBytes(3, 256<<10)
		shards, ids := mustEncode(t, data, km[0], km[1])
		shards[0] = nil
		if _, err := Decode(shards, ids, km[0], km[1], len(data)); err != nil {
			t.Fatal(err)
		}
	}
}
