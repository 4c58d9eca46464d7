package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustEncode(t testing.TB, data []byte, k, m int) ([][]byte, []cid.ID) {
	t.Helper()
	shards, ids, err := Encode(data, k, m)
	if err != nil {
		t.Fatalf("Encode(%d bytes, %d, %d): %v", len(data), k, m, err)
	}
	return shards, ids
}

func TestRoundTripSizes(t *testing.T) {
	for _, km := range [][2]int{{2, 1}, {3, 2}, {4, 2}, {6, 3}} {
		k, m := km[0], km[1]
		for _, size := range []int{0, 1, k - 1, k, k + 1, 4095, 1<<20 + 3} {
			t.Run(fmt.Sprintf("k%dm%d/%d", k, m, size), func(t *testing.T) {
				data := randBytes(uint64(size), size)
				shards, ids := mustEncode(t, data, k, m)
				if len(shards) != k+m || len(ids) != k+m {
					t.Fatalf("got %d shards, %d ids, want %d", len(shards), len(ids), k+m)
				}
				for i, s := range shards {
					if len(s) != ShardSize(size, k) {
						t.Fatalf("shard %d is %d bytes, want %d", i, len(s), ShardSize(size, k))
					}
					if cid.Sum(s) != ids[i] {
						t.Fatalf("ids[%d] is not the shard's hash", i)
					}
				}
				got, err := Decode(shards, ids, k, m, size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("round trip differs (got %d bytes, want %d)", len(got), len(data))
				}
				// Lose the first m shards (all data when m >= k): must still decode.
				lost := slices.Clone(shards)
				for i := 0; i < m; i++ {
					lost[i] = nil
				}
				got, err = Decode(lost, ids, k, m, size)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("decode without first %d shards: err %v, equal %v", m, err, bytes.Equal(got, data))
				}
			})
		}
	}
}

func TestEncodeDeterministic(t *testing.T) {
	data := randBytes(7, 100_000)
	_, a := mustEncode(t, data, 4, 2)
	_, b := mustEncode(t, slices.Clone(data), 4, 2)
	if !slices.Equal(a, b) {
		t.Fatal("same input gave different ids")
	}
	_, c := mustEncode(t, data, 3, 2)
	if slices.Equal(a[:5], c) {
		t.Fatal("different coding gave the same ids")
	}
}

func TestEncodeRejectsBadShape(t *testing.T) {
	for _, km := range [][2]int{{0, 2}, {-1, 1}, {3, -1}, {200, 57}} {
		if _, _, err := Encode([]byte("x"), km[0], km[1]); err == nil {
			t.Errorf("Encode k=%d m=%d: no error", km[0], km[1])
		}
	}
}

// subsets calls f with every subset of {0..n-1} of size at most max.
func subsets(n, max int, f func([]int)) {
	for mask := 0; mask < 1<<n; mask++ {
		var s []int
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		if len(s) <= max {
			f(s)
		}
	}
}

func TestEverySubsetOfLosses(t *testing.T) {
	for _, km := range [][2]int{{3, 2}, {4, 2}} {
		k, m := km[0], km[1]
		data := randBytes(3, 10_001)
		shards, ids := mustEncode(t, data, k, m)
		n := 0
		subsets(k+m, m, func(lost []int) {
			n++
			in := slices.Clone(shards)
			for _, i := range lost {
				in[i] = nil
			}
			got, r, err := DecodeReport(in, ids, k, m, len(data))
			if err != nil {
				t.Fatalf("k%d m%d lost %v: %v", k, m, lost, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("k%d m%d lost %v: wrong bytes", k, m, lost)
			}
			if !slices.Equal(r.Bad(), lost) && len(lost) > 0 {
				t.Fatalf("k%d m%d lost %v: report says %v", k, m, lost, r.Bad())
			}
			// Repair every lost shard and check it is the original.
			if _, err := Reconstruct(in, ids, k, m, lost); err != nil {
				t.Fatalf("Reconstruct %v: %v", lost, err)
			}
			for i := range in {
				if !bytes.Equal(in[i], shards[i]) {
					t.Fatalf("k%d m%d lost %v: shard %d not rebuilt", k, m, lost, i)
				}
			}
		})
		if n == 0 {
			t.Fatal("no subsets tried")
		}
	}
}

func TestTooFewShards(t *testing.T) {
	k, m := 3, 2
	data := randBytes(5, 1000)
	shards, ids := mustEncode(t, data, k, m)
	subsets(k+m, k+m, func(lost []int) {
		if len(lost) <= m {
			return
		}
		in := slices.Clone(shards)
		for _, i := range lost {
			in[i] = nil
		}
		got, err := Decode(in, ids, k, m, len(data))
		if !errors.Is(err, ErrTooFewShards) || got != nil {
			t.Fatalf("lost %v: got %d bytes, err %v; want ErrTooFewShards", lost, len(got), err)
		}
		var se *ShardsError
		if !errors.As(err, &se) || se.Have != k+m-len(lost) || se.Need != k || !slices.Equal(se.Missing, lost) {
			t.Fatalf("lost %v: error detail %+v", lost, se)
		}
		if _, err := Reconstruct(in, ids, k, m, lost); !errors.Is(err, ErrTooFewShards) {
			t.Fatalf("Reconstruct lost %v: err %v, want ErrTooFewShards", lost, err)
		}
	})
}

func TestCorruptShardTreatedAsMissing(t *testing.T) {
	k, m := 4, 2
	data := randBytes(9, 50_000)
	shards, ids := mustEncode(t, data, k, m)
	for i := range shards {
		in := slices.Clone(shards)
		in[i] = slices.Clone(shards[i])
		in[i][len(in[i])/2] ^= 0x40
		got, r, err := DecodeReport(in, ids, k, m, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("corrupt shard %d: err %v, equal %v", i, err, bytes.Equal(got, data))
		}
		if !slices.Equal(r.Corrupt, []int{i}) || len(r.Missing) != 0 {
			t.Fatalf("corrupt shard %d: report %+v", i, r)
		}
		// Repair replaces the corrupt shard with the original.
		if _, err := Reconstruct(in, ids, k, m, []int{i}); err != nil || !bytes.Equal(in[i], shards[i]) {
			t.Fatalf("repair of corrupt shard %d: err %v", i, err)
		}
	}
	// m corrupt plus one missing: too few, and the error names all three.
	in := slices.Clone(shards)
	in[0] = nil
	in[1] = bytes.Repeat([]byte{1}, len(shards[1]))
	in[5] = shards[4] // a good shard in the wrong slot is corrupt there
	_, err := Decode(in, ids, k, m, len(data))
	var se *ShardsError
	if !errors.As(err, &se) || !slices.Equal(se.Missing, []int{0}) || !slices.Equal(se.Corrupt, []int{1, 5}) || se.Have != 3 {
		t.Fatalf("got %v, want missing [0] corrupt [1 5] have 3", err)
	}
}

func TestWrongIDsOrSize(t *testing.T) {
	k, m := 3, 2
	data := randBytes(11, 3000)
	shards, ids := mustEncode(t, data, k, m)

	// ids of other data: every shard is corrupt.
	_, other := mustEncode(t, randBytes(12, 3000), k, m)
	if _, err := Decode(shards, other, k, m, len(data)); !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("foreign ids: %v", err)
	}
	// Wrong number of ids.
	if _, err := Decode(shards, ids[:4], k, m, len(data)); err == nil {
		t.Fatal("4 ids for 5 shards: no error")
	}
	// A size that does not fit the shard length.
	if _, err := Decode(shards, ids, k, m, 2*len(data)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("wrong size: %v", err)
	}
	// A parity id from another stripe: the shards that verify rebuild data
	// that does not match the data ids, which must be an error, not bytes.
	mixed := slices.Clone(ids)
	_, foreign := mustEncode(t, randBytes(13, 3000), k, m)
	alien, _ := mustEncode(t, randBytes(13, 3000), k, m)
	mixed[3] = foreign[3]
	in := slices.Clone(shards)
	in[3] = alien[3]
	in[0] = nil
	if got, err := Decode(in, mixed, k, m, len(data)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("mixed stripe: got %d bytes, err %v; want ErrInconsistent", len(got), err)
	}
}

func TestReconstructParityOnly(t *testing.T) {
	k, m := 6, 3
	data := randBytes(21, 256<<10)
	shards, ids := mustEncode(t, data, k, m)
	in := slices.Clone(shards)
	in[7], in[8] = nil, nil
	if _, err := Reconstruct(in, ids, k, m, []int{8}); err != nil {
		t.Fatal(err)
	}
	if in[7] != nil || !bytes.Equal(in[8], shards[8]) {
		t.Fatal("Reconstruct touched an index it was not asked for, or rebuilt wrong bytes")
	}
	if _, err := Reconstruct(in, ids, k, m, []int{9}); err == nil {
		t.Fatal("index out of range: no error")
	}
}

func FuzzDecode(f *testing.F) {
	_, ids, _ := Encode([]byte("hello, p-fs stripes"), 3, 2)
	f.Add([]byte("hello, p-fs stripes"), uint8(0), uint8(0xff), uint8(3))
	f.Add([]byte{}, uint8(4), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, drop, flip, pos uint8) {
		if len(data) > 1<<16 {
			return
		}
		sh, id, err := Encode(data, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(sh)
		in[int(drop)%5] = nil
		j := int(pos) % 5
		if in[j] != nil {
			in[j] = slices.Clone(in[j])
			in[j][int(pos)%len(in[j])] ^= flip
		}
		got, err := Decode(in, id, 3, 2, len(data))
		if err != nil {
			if !errors.Is(err, ErrTooFewShards) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(got, data) {
			t.Fatal("decoded bytes differ")
		}
		// Decoding these bytes against the other stripe's ids never succeeds
		// with wrong bytes.
		if got, err := Decode(in, ids, 3, 2, len(data)); err == nil && !bytes.Equal(got, data) {
			t.Fatal("foreign ids returned wrong bytes")
		}
	})
}
