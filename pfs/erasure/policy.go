package erasure

import (
	"errors"
	"fmt"
)

// AllocUnit is the block-store allocation block the small-chunk rule
// assumes: a shard smaller than this still takes this much disk.
const AllocUnit = 4 << 10

// WideCluster is the number of live nodes from which the default coding is
// RS(6, 3) instead of RS(3, 2).
const WideCluster = 12

// ErrNoNodes is returned by Policy.Choose when no node is live.
var ErrNoNodes = errors.New("erasure: no live nodes to store on")

// Policy is a namespace's configured coding. The zero Policy means "adapt
// to the cluster" (see the package comment).
type Policy struct {
	K, M      int // 0, 0: the default for the cluster size
	MinStripe int // chunks smaller than this are replicated; 0: K*AllocUnit
}

// Coding is the coding chosen for one chunk, in the manifest's terms: K==1
// means M+1 whole copies, K>=2 means RS(K, M) with K+M shards.
type Coding struct {
	K, M     int
	Survives int  // node losses the chunk survives
	Degraded bool // Survives is less than the policy's M
}

// Blocks is the number of blocks (copies or shards) the coding stores, one
// per node.
func (c Coding) Blocks() int {
	if c.K == 1 {
		return c.M + 1
	}
	return c.K + c.M
}

// Replicated reports whether the chunk is stored as whole copies.
func (c Coding) Replicated() bool { return c.K == 1 }

func (c Coding) String() string {
	s := fmt.Sprintf("RS(%d,%d)", c.K, c.M)
	if c.K == 1 {
		s = fmt.Sprintf("%d copies", c.M+1)
	}
	if c.Degraded {
		s += fmt.Sprintf(", degraded: survives %d", c.Survives)
	}
	return s
}

// Default returns the coding a namespace without its own gets on a cluster
// of n live nodes: RS(3, 2) below WideCluster nodes, RS(6, 3) from there.
func Default(n int) Policy {
	if n >= WideCluster {
		return Policy{K: 6, M: 3}
	}
	return Policy{K: 3, M: 2}
}

// resolve fills in defaults and checks the configuration.
func (p Policy) resolve(n int) (Policy, error) {
	if p.K == 0 && p.M == 0 {
		d := Default(n)
		d.MinStripe = p.MinStripe
		p = d
	}
	if err := checkShape(p.K, p.M); err != nil {
		return p, err
	}
	if p.MinStripe == 0 {
		p.MinStripe = p.K * AllocUnit
	}
	return p, nil
}

// Choose returns the coding for a chunk of size bytes written while n nodes
// are live. See the package comment for the rules.
func (p Policy) Choose(n, size int) (Coding, error) {
	p, err := p.resolve(n)
	if err != nil {
		return Coding{}, err
	}
	switch {
	case n < 1:
		return Coding{}, ErrNoNodes
	case p.K >= 2 && n >= p.K+p.M && size >= p.MinStripe:
		return Coding{K: p.K, M: p.M, Survives: p.M}, nil
	case n >= p.M+1:
		return Coding{K: 1, M: p.M, Survives: p.M}, nil
	default:
		return Coding{K: 1, M: n - 1, Survives: n - 1, Degraded: true}, nil
	}
}
