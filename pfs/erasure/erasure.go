// Package erasure owns p-fs stripes: cutting a chunk into k data shards and
// m Reed-Solomon parity shards (github.com/klauspost/reedsolomon), naming
// each shard by its BLAKE3 id, verifying shards against those ids and
// rebuilding data or lost shards from any k good ones. It also owns the
// [Policy] that picks a chunk's coding from the number of live nodes.
//
// # Stripes
//
// [Encode] is deterministic: the same bytes and (k, m) always give the same
// shards and ids, so equal chunks deduplicate down to the shard. Data shards
// are ceil(len/k) bytes (at least 1), the last one zero padded; the manifest
// keeps the chunk size so [Decode] can cut the padding off again.
//
// Reads never trust a shard: [Decode] and [Reconstruct] hash every shard
// they are given, treat one that does not match its id as missing and say
// which indexes were missing or corrupt ([Report], [ShardsError]). Bytes
// that reconstruction produces are hashed against their ids too, so a wrong
// id list is an error, never wrong data.
//
// # Coding policy
//
// A namespace configures (k, m); zero means "default", which adapts to the
// cluster: RS(3, 2) (1.67x storage, survives any 2 node losses) below 12
// live nodes and RS(6, 3) (1.5x, survives any 3) from 12 on. k does not
// keep growing: a stripe reads from k nodes and a repair moves k shards, so
// a wider stripe costs fan-out and repair traffic, and every extra node in a
// stripe is one more that can fail; 12 leaves k+m+3 nodes so each rebuilt
// shard still has a distinct spare node to go to after m losses.
//
// [Policy.Choose] then applies, for n live nodes and a chunk of size bytes:
//
//  1. n >= k+m and the chunk is at least MinStripe bytes: RS(k, m), each of
//     the k+m shards on its own node; survives m losses.
//  2. otherwise, n >= m+1: m+1 whole copies (K=1, M=m); survives m losses,
//     the same as the stripe would have.
//  3. 1 <= n <= m: n whole copies (K=1, M=n-1); survives only n-1 losses,
//     and the [Coding] says so with Degraded set.
//
// MinStripe defaults to k*4 KiB: below it a shard is smaller than one 4 KiB
// allocation block of the block store's disk, so k+m shard blocks take more
// room than m+1 whole copies (RS(3,2) of 4 KiB: 5 blocks, 20 KiB on disk;
// 3 copies: 12 KiB) and a read needs k round trips instead of one. Encoding
// cost is not the reason: it is far below hashing cost at every size (see
// the package benchmarks).
//
// # Concurrency
//
// All functions are safe for concurrent use. Encoders are cached per (k, m)
// and shared.
package erasure

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/reedsolomon"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// MaxShards is the largest k+m a stripe may have.
const MaxShards = 256

// ErrTooFewShards is wrapped by the error Decode and Reconstruct return when
// fewer than k shards verify.
var ErrTooFewShards = errors.New("erasure: too few good shards")

// ErrInconsistent means the shards that verify against their ids do not
// form one stripe (different lengths, or rebuilt bytes that do not match the
// recorded ids): the id list or the size is wrong, not the shards.
var ErrInconsistent = errors.New("erasure: shards and ids do not form one stripe")

// Report says what verification found, by shard index.
type Report struct {
	Missing []int // nil or empty in the input
	Corrupt []int // present but not matching its id; treated as missing
}

// Bad returns the missing and corrupt indexes together, sorted.
func (r Report) Bad() []int {
	out := make([]int, 0, len(r.Missing)+len(r.Corrupt))
	i, j := 0, 0
	for i < len(r.Missing) || j < len(r.Corrupt) {
		if j == len(r.Corrupt) || (i < len(r.Missing) && r.Missing[i] < r.Corrupt[j]) {
			out = append(out, r.Missing[i])
			i++
		} else {
			out = append(out, r.Corrupt[j])
			j++
		}
	}
	return out
}

// ShardsError is returned (wrapping ErrTooFewShards) when fewer than k of a
// stripe's shards verify.
type ShardsError struct {
	Have, Need int
	Report
}

func (e *ShardsError) Error() string {
	return fmt.Sprintf("erasure: too few good shards: have %d, need %d (missing %v, corrupt %v)",
		e.Have, e.Need, e.Missing, e.Corrupt)
}

// Unwrap makes errors.Is(err, ErrTooFewShards) hold.
func (e *ShardsError) Unwrap() error { return ErrTooFewShards }

// ShardSize is the length of every shard of a size-byte chunk cut k ways.
func ShardSize(size, k int) int {
	if size <= 0 {
		return 1
	}
	return (size + k - 1) / k
}

func checkShape(k, m int) error {
	if k < 1 || m < 0 || k+m > MaxShards {
		return fmt.Errorf("erasure: invalid coding k=%d m=%d (want k >= 1, m >= 0, k+m <= %d)", k, m, MaxShards)
	}
	return nil
}

type shape struct{ k, m int }

var encoders sync.Map // shape -> reedsolomon.Encoder

// encoder returns the shared encoder for (k, m), making it once.
func encoder(k, m int) (reedsolomon.Encoder, error) {
	if e, ok := encoders.Load(shape{k, m}); ok {
		return e.(reedsolomon.Encoder), nil
	}
	e, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, fmt.Errorf("erasure: k=%d m=%d: %w", k, m, err)
	}
	got, _ := encoders.LoadOrStore(shape{k, m}, e)
	return got.(reedsolomon.Encoder), nil
}

// Encode cuts data into k data shards of ShardSize(len(data), k) bytes, the
// last zero padded, adds m parity shards and returns all k+m shards with
// their ids. The shards share one fresh allocation; data is not retained.
func Encode(data []byte, k, m int) (shards [][]byte, ids []cid.ID, err error) {
	if err := checkShape(k, m); err != nil {
		return nil, nil, err
	}
	ss := ShardSize(len(data), k)
	buf := make([]byte, ss*(k+m))
	copy(buf, data)
	shards = make([][]byte, k+m)
	for i := range shards {
		shards[i] = buf[i*ss : (i+1)*ss : (i+1)*ss]
	}
	if m > 0 {
		enc, err := encoder(k, m)
		if err != nil {
			return nil, nil, err
		}
		if err := enc.Encode(shards); err != nil {
			return nil, nil, fmt.Errorf("erasure: encode: %w", err)
		}
	}
	return shards, sumAll(shards), nil
}

// sumAll returns the ids of shards (Undef for empty ones). Hashing, not
// Reed-Solomon, is the cost of a stripe: RS(3,2) encodes 256 KiB at ~40
// GB/s on the development machine (AVX-512/GFNI), BLAKE3 at ~3 GB/s.
// Hashing the shards on two goroutines measured no faster on its two
// shared cores, so this stays sequential.
func sumAll(shards [][]byte) []cid.ID {
	ids := make([]cid.ID, len(shards))
	for i, s := range shards {
		if len(s) > 0 {
			ids[i] = cid.Sum(s)
		}
	}
	return ids
}

// Check hashes every present shard against its id. It returns a copy of
// shards in which missing and corrupt shards are nil, and the report.
func Check(shards [][]byte, ids []cid.ID) ([][]byte, Report, error) {
	if len(shards) != len(ids) {
		return nil, Report{}, fmt.Errorf("erasure: %d shards for %d ids", len(shards), len(ids))
	}
	good := make([][]byte, len(shards))
	sums := sumAll(shards)
	var r Report
	for i, s := range shards {
		switch {
		case len(s) == 0:
			r.Missing = append(r.Missing, i)
		case sums[i] != ids[i]:
			r.Corrupt = append(r.Corrupt, i)
		default:
			good[i] = s
		}
	}
	return good, r, nil
}

// verified checks shape and shards and returns the good shards, the report
// and the common shard length, or an error if fewer than k verify.
func verified(shards [][]byte, ids []cid.ID, k, m int) ([][]byte, Report, int, error) {
	if err := checkShape(k, m); err != nil {
		return nil, Report{}, 0, err
	}
	if len(ids) != k+m {
		return nil, Report{}, 0, fmt.Errorf("erasure: %d ids for k=%d m=%d", len(ids), k, m)
	}
	good, r, err := Check(shards, ids)
	if err != nil {
		return nil, r, 0, err
	}
	have, ss := 0, -1
	for i, s := range good {
		if s == nil {
			continue
		}
		if ss >= 0 && len(s) != ss {
			return nil, r, 0, fmt.Errorf("%w: shard %d is %d bytes, others %d", ErrInconsistent, i, len(s), ss)
		}
		ss = len(s)
		have++
	}
	if have < k {
		return nil, r, 0, &ShardsError{Have: have, Need: k, Report: r}
	}
	return good, r, ss, nil
}

// rebuild fills the nil entries of good that want marks (nil want: all
// data shards) and checks each rebuilt shard against its id.
func rebuild(good [][]byte, ids []cid.ID, k, m int, want []bool) error {
	need := false
	for i, s := range good {
		if s == nil && (want == nil && i < k || want != nil && want[i]) {
			need = true
		}
	}
	if !need {
		return nil
	}
	enc, err := encoder(k, m)
	if err != nil {
		return err
	}
	missing := make([]bool, len(good))
	for i, s := range good {
		missing[i] = s == nil
	}
	if want == nil {
		err = enc.ReconstructData(good)
	} else {
		err = enc.ReconstructSome(good, want)
	}
	if err != nil {
		return fmt.Errorf("erasure: reconstruct: %w", err)
	}
	for i, s := range good {
		if !missing[i] || s == nil || (want == nil && i >= k) || (want != nil && !want[i]) {
			continue
		}
		if cid.Sum(s) != ids[i] {
			return fmt.Errorf("%w: rebuilt shard %d does not match id %s", ErrInconsistent, i, ids[i].Short())
		}
	}
	return nil
}

// Decode returns the size bytes of the chunk the shards encode. shards has
// k+m entries, nil (or empty) for a missing shard; every present shard is
// checked against ids first and a mismatching one treated as missing. It
// needs k good shards; with fewer it returns a *ShardsError wrapping
// ErrTooFewShards. shards is not modified.
func Decode(shards [][]byte, ids []cid.ID, k, m, size int) ([]byte, error) {
	b, _, err := DecodeReport(shards, ids, k, m, size)
	return b, err
}

// DecodeReport is Decode that also returns which shards were missing or
// corrupt, so the caller can repair them.
func DecodeReport(shards [][]byte, ids []cid.ID, k, m, size int) ([]byte, Report, error) {
	if size < 0 {
		return nil, Report{}, fmt.Errorf("erasure: negative size %d", size)
	}
	good, r, ss, err := verified(shards, ids, k, m)
	if err != nil {
		return nil, r, err
	}
	if ss != ShardSize(size, k) {
		return nil, r, fmt.Errorf("%w: shards are %d bytes, a %d-byte chunk cut %d ways has %d",
			ErrInconsistent, ss, size, k, ShardSize(size, k))
	}
	if err := rebuild(good, ids, k, m, nil); err != nil {
		return nil, r, err
	}
	out := make([]byte, 0, size)
	for i := 0; i < k && len(out) < size; i++ {
		out = append(out, good[i][:min(ss, size-len(out))]...)
	}
	return out, r, nil
}

// Reconstruct rebuilds the shards at the indexes in want, for repair. Every
// present shard is verified first; a corrupt one is treated as missing and
// may itself be listed in want to be replaced. On success shards[i] holds
// the rebuilt, verified bytes for each i in want (fresh memory); other
// entries are left as they were.
func Reconstruct(shards [][]byte, ids []cid.ID, k, m int, want []int) (Report, error) {
	good, r, _, err := verified(shards, ids, k, m)
	if err != nil {
		return r, err
	}
	mark := make([]bool, k+m)
	for _, i := range want {
		if i < 0 || i >= k+m {
			return r, fmt.Errorf("erasure: shard index %d out of range [0, %d)", i, k+m)
		}
		mark[i] = true
	}
	if err := rebuild(good, ids, k, m, mark); err != nil {
		return r, err
	}
	for _, i := range want {
		shards[i] = good[i]
	}
	return r, nil
}
