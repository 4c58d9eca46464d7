package replica

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxNodeLen is the longest node id a version may carry. Node ids are short
// (host/node derives 17-character ids), the bound keeps decoding cheap.
const MaxNodeLen = 255

// HLC is one hybrid logical clock timestamp (Kulkarni, Demirbas et al.,
// "Logical Physical Clocks", 2014): the physical time in milliseconds, a
// logical counter that orders events within one millisecond, and the node
// that made it, which breaks ties between nodes. It is the version of every
// replicated value.
//
// The zero HLC is older than every timestamp a [Clock] makes.
type HLC struct {
	Wall    int64  // physical time, ms since the Unix epoch; never negative
	Logical uint32 // counter within Wall
	Node    string // writer; 1..MaxNodeLen bytes in any stamped version
}

// Compare orders timestamps totally: by Wall, then Logical, then Node
// (bytewise). It returns -1, 0 or +1. Two different nodes never make equal
// timestamps, so versions only compare equal when one node repeated one.
func (h HLC) Compare(o HLC) int {
	if c := cmp.Compare(h.Wall, o.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(h.Logical, o.Logical); c != 0 {
		return c
	}
	return strings.Compare(h.Node, o.Node)
}

// IsZero reports whether h is the zero timestamp.
func (h HLC) IsZero() bool { return h == HLC{} }

// String formats h as wall.logical@node.
func (h HLC) String() string { return fmt.Sprintf("%d.%d@%s", h.Wall, h.Logical, h.Node) }

// hlcFixed is the size of the fixed part of the binary form.
const hlcFixed = 12

// ErrInvalidHLC is returned for a timestamp that cannot be encoded or decoded.
var ErrInvalidHLC = errors.New("invalid hlc")

// validate checks the bounds a stamped version must meet.
func (h HLC) validate() error {
	switch {
	case h.Wall < 0:
		return fmt.Errorf("%w: negative wall %d", ErrInvalidHLC, h.Wall)
	case h.Node == "" || len(h.Node) > MaxNodeLen:
		return fmt.Errorf("%w: node id of %d bytes", ErrInvalidHLC, len(h.Node))
	}
	return nil
}

// AppendBinary appends the binary form of h: Wall as 8 bytes big-endian,
// Logical as 4 bytes big-endian, then the node id bytes. The layout is chosen
// so that bytes.Compare on two encodings agrees with [HLC.Compare], which
// makes encoded versions usable as sorted keys (in bbolt, for example).
func (h HLC) AppendBinary(b []byte) ([]byte, error) {
	if err := h.validate(); err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint64(b, uint64(h.Wall))
	b = binary.BigEndian.AppendUint32(b, h.Logical)
	return append(b, h.Node...), nil
}

// MarshalBinary returns the binary form of h (see [HLC.AppendBinary]).
func (h HLC) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, hlcFixed+len(h.Node)))
}

// UnmarshalBinary decodes the form written by [HLC.AppendBinary]. It rejects
// short input, a negative wall and an empty or oversized node id.
func (h *HLC) UnmarshalBinary(b []byte) error {
	if len(b) < hlcFixed+1 {
		return fmt.Errorf("%w: %d bytes", ErrInvalidHLC, len(b))
	}
	v := HLC{
		Wall:    int64(binary.BigEndian.Uint64(b)),
		Logical: binary.BigEndian.Uint32(b[8:]),
		Node:    string(b[hlcFixed:]),
	}
	if err := v.validate(); err != nil {
		return err
	}
	*h = v
	return nil
}

// Clock makes HLC timestamps for one node. It is fed the wall time by its
// caller (never reads the system clock), so tests are deterministic.
//
// A Clock is not safe for concurrent use.
type Clock struct {
	node    string
	wall    int64
	logical uint32
}

// NewClock returns a clock for node, starting at the zero timestamp.
func NewClock(node string) *Clock { return &Clock{node: node} }

// Now returns a timestamp for a local event at physical time wall: the
// paper's send/local rule, l = max(l, pt), c = c+1 if l did not move else 0.
// Every result is greater than any timestamp this clock made or observed
// before, even when wall goes backwards.
func (c *Clock) Now(wall time.Time) HLC {
	pt := max(wall.UnixMilli(), 0)
	if pt > c.wall {
		c.wall, c.logical = pt, 0
	} else {
		c.tick()
	}
	return c.Last()
}

// Update observes a remote timestamp: the paper's receive rule. The receive
// itself needs no timestamp of its own here, so only the (l, c) maximum is
// kept and the physical term is folded in by the next Now; what the rule
// guarantees still holds: every later Now is greater than remote.
func (c *Clock) Update(remote HLC) {
	if remote.Wall > c.wall || remote.Wall == c.wall && remote.Logical > c.logical {
		c.wall, c.logical = remote.Wall, remote.Logical
	}
}

// Last returns the latest timestamp made or observed (with this clock's node).
func (c *Clock) Last() HLC { return HLC{Wall: c.wall, Logical: c.logical, Node: c.node} }

// tick advances the logical counter. A counter at its maximum (only reachable
// by observing a remote that sent it) carries into the wall time rather than
// wrapping, which would go back in time.
func (c *Clock) tick() {
	if c.logical == math.MaxUint32 {
		c.wall, c.logical = c.wall+1, 0
		return
	}
	c.logical++
}
