// Package place owns p-fs placement: which nodes hold the blocks of a chunk,
// by rendezvous (highest-random-weight) hashing over the live members.
//
// Every node gets a score for a key: the first 8 bytes of BLAKE3 keyed with
// the key (a chunk or block id, itself 32 bytes) over the node id. Nodes are
// ranked by score, highest first, ties broken by node id. Nothing else goes
// in, so every node computes the same ranking from the same member list in
// any order, with no coordination and no state.
//
// Rendezvous hashing moves as little as possible when membership changes:
// removing a node only removes it from each ranking (the others keep their
// relative order), and a new node slots into each ranking at a uniformly
// random place, so it becomes the first choice for about 1/n of the keys.
//
// Shard i of a chunk goes to the i-th ranked node ([Shards]), so k+m shards
// land on k+m distinct nodes when there are at least that many. With fewer
// nodes [Shards] fails with ErrTooFewNodes unless the caller allows wrapping,
// in which case shard i goes to node i mod n: some nodes then hold several
// shards of one chunk and losing one of them loses more than one shard. The
// coding policy (package erasure) avoids this by replicating instead.
//
// The functions are pure and safe for concurrent use; they do not keep or
// modify the nodes slice passed in.
package place

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/zeebo/blake3"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// ErrTooFewNodes is returned by Shards when there are fewer distinct nodes
// than shards and wrapping is not allowed.
var ErrTooFewNodes = errors.New("place: fewer nodes than shards")

// Score returns the rendezvous weight of node for key.
func Score(key cid.ID, node string) uint64 {
	h, _ := blake3.NewKeyed(key[:]) // never fails: key is 32 bytes
	_, _ = h.WriteString(node)
	var sum [32]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

type scored struct {
	node  string
	score uint64
}

// score returns the distinct nodes with their scores, unsorted.
func score(key cid.ID, nodes []string) []scored {
	h, _ := blake3.NewKeyed(key[:])
	out := make([]scored, 0, len(nodes))
	seen := make(map[string]struct{}, len(nodes))
	var sum [32]byte
	for _, n := range nodes {
		if _, dup := seen[n]; dup {
			continue
		}
		seen[n] = struct{}{}
		h.Reset() // keeps the key
		_, _ = h.WriteString(n)
		out = append(out, scored{n, binary.BigEndian.Uint64(h.Sum(sum[:0]))})
	}
	return out
}

// higher orders by score descending, then node id ascending.
func higher(a, b scored) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(a.node, b.node)
}

// Rank returns the distinct nodes ordered by their weight for key, highest
// first. Duplicates in nodes are dropped.
func Rank(key cid.ID, nodes []string) []string {
	return Pick(key, nodes, len(nodes))
}

// Pick returns the first n nodes of Rank(key, nodes) (all of them if there
// are fewer than n).
func Pick(key cid.ID, nodes []string, n int) []string {
	s := score(key, nodes)
	n = max(0, min(n, len(s)))
	if n == 0 {
		return []string{}
	}
	if n < len(s) && n <= 8 {
		// Few wanted of many: keep a small sorted prefix instead of sorting all.
		top := make([]scored, 0, n+1)
		for _, x := range s {
			if len(top) == n && higher(x, top[n-1]) >= 0 {
				continue
			}
			i, _ := slices.BinarySearchFunc(top, x, higher)
			top = slices.Insert(top, i, x)
			if len(top) > n {
				top = top[:n]
			}
		}
		s = top
	} else {
		slices.SortFunc(s, higher)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = s[i].node
	}
	return out
}

// Shards returns the node for each of count shards of the chunk key: shard
// i goes to the i-th ranked node. With fewer distinct nodes than shards it
// returns ErrTooFewNodes, or, when wrap is true, goes round the ranking
// again (shard i to node i mod n).
func Shards(key cid.ID, nodes []string, count int, wrap bool) ([]string, error) {
	r := Pick(key, nodes, count)
	if len(r) == 0 && count > 0 {
		return nil, fmt.Errorf("%w: %d shards, no nodes", ErrTooFewNodes, count)
	}
	if len(r) < count {
		if !wrap {
			return nil, fmt.Errorf("%w: %d shards, %d nodes", ErrTooFewNodes, count, len(r))
		}
		n := len(r)
		for i := n; i < count; i++ {
			r = append(r, r[i%n])
		}
	}
	return r, nil
}
