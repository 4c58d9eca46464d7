// Package names owns p-fs names and their history: which object a name in a
// namespace pointed to, when, and by whose write.
//
// A write never replaces anything: it adds a [Version]. The versions of a
// name form a grow-only set, and the current version is the greatest in a
// total order (wall time, logical counter, writer node, object, size: see
// [Compare]). A tombstone (Object == cid.Undef) as the greatest version
// means the name is removed; its history stays readable.
//
// # Why gossip, not Raft
//
// Versions are replicated through the cluster's gossiped topics (a
// last-writer-wins key/value store) with one key per version ([Key]), not
// through the Raft manifest. A minority side of a partition cannot commit
// to Raft, so it could not write at all; with gossip every side keeps
// writing, and because no two versions share a key and the set only grows
// (union merge), concurrent writes to one name on both sides are both kept
// after the partition heals. Every node then picks the same current version
// from the same set, since the order is total and depends only on the
// versions. Losing nothing beats a single linear history here; a reader who
// cares can see the concurrent versions in [Index.History].
//
// # Keys and values
//
// [Key] is at most [MaxKeyLen] bytes whatever the name's length, and keys of
// one namespace sort by name hash, then by time. The value is the
// canonical binary form from [Version.MarshalBinary]; [Unmarshal] accepts
// exactly what MarshalBinary produces and nothing else.
//
// # Concurrency
//
// [Index] is safe for concurrent use. Versions are values; the slices the
// Index returns are fresh copies.
package names

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/zeebo/blake3"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

// Limits on the parts of a version.
const (
	MaxName      = 4096 // bytes
	MaxNamespace = 64   // bytes of [a-z0-9._-], starting with a letter or digit
	MaxNode      = 128  // bytes of printable ASCII, no space
	MaxKeyLen    = 200  // bytes; Key never returns more
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("names: invalid")

// Time is a hybrid logical clock stamp: wall clock unix nanoseconds and a
// logical counter that orders stamps with the same wall time.
type Time struct {
	Wall    int64
	Logical uint32
}

// Compare orders stamps by Wall, then Logical.
func (t Time) Compare(u Time) int {
	if c := cmp.Compare(t.Wall, u.Wall); c != 0 {
		return c
	}
	return cmp.Compare(t.Logical, u.Logical)
}

// Version is one write of a name.
type Version struct {
	Namespace string
	Name      string
	Object    cid.ID // the object's manifest id; cid.Undef for a removal
	Size      uint64 // the object's size in bytes; 0 for a removal
	Time      Time
	Node      string // the writer's node id
}

// Removed reports whether v is a tombstone.
func (v Version) Removed() bool { return v.Object.IsUndef() }

// Compare is the total order of versions: Namespace, Name, then Time,
// Node, Object and Size. Among the versions of one name the greatest is the
// current one; equal under Compare means the same version.
func Compare(a, b Version) int {
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Object[:], b.Object[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Size, b.Size)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// ValidNamespace checks a namespace: 1 to MaxNamespace bytes of lowercase
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func ValidNamespace(ns string) error {
	if len(ns) == 0 || len(ns) > MaxNamespace {
		return invalid("namespace %q is %d bytes, want 1 to %d", clip(ns), len(ns), MaxNamespace)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return invalid("namespace %q: byte %d (%q) not allowed (want [a-z0-9][a-z0-9._-]*)", clip(ns), i, c)
		}
	}
	return nil
}

// ValidName checks a name: 1 to MaxName bytes of UTF-8 without NUL, made of
// '/'-separated segments none of which is empty, "." or "..", so no leading
// or trailing '/' and no "//".
func ValidName(name string) error {
	switch {
	case len(name) == 0:
		return invalid("empty name")
	case len(name) > MaxName:
		return invalid("name %q is %d bytes, more than %d", clip(name), len(name), MaxName)
	case !utf8.ValidString(name):
		return invalid("name %q is not UTF-8", clip(name))
	case strings.IndexByte(name, 0) >= 0:
		return invalid("name %q contains NUL", clip(name))
	case name[0] == '/':
		return invalid("name %q starts with '/'", clip(name))
	}
	for i, seg := range strings.Split(name, "/") {
		switch seg {
		case "":
			return invalid("name %q: segment %d is empty (\"//\" or trailing '/')", clip(name), i)
		case ".", "..":
			return invalid("name %q: segment %d is %q", clip(name), i, seg)
		}
	}
	return nil
}

// ValidNode checks a writer node id: 1 to MaxNode bytes of printable ASCII
// other than space.
func ValidNode(node string) error {
	if len(node) == 0 || len(node) > MaxNode {
		return invalid("node id %q is %d bytes, want 1 to %d", clip(node), len(node), MaxNode)
	}
	for i := 0; i < len(node); i++ {
		if node[i] <= ' ' || node[i] > '~' {
			return invalid("node id %q: byte %d (%q) is not printable ASCII", clip(node), i, node[i])
		}
	}
	return nil
}

// Validate checks every field of v.
func (v Version) Validate() error {
	if err := ValidNamespace(v.Namespace); err != nil {
		return err
	}
	if err := ValidName(v.Name); err != nil {
		return err
	}
	if err := ValidNode(v.Node); err != nil {
		return err
	}
	if v.Time.Wall < 0 {
		return invalid("negative wall time %d", v.Time.Wall)
	}
	if v.Removed() && v.Size != 0 {
		return invalid("tombstone with size %d", v.Size)
	}
	return nil
}

// Key prefixes and hash widths.
const (
	keyPrefix = "pfs/v/"
	nameHash  = 12 // bytes of BLAKE3(name), 24 hex digits
	tailHash  = 6  // bytes of BLAKE3(node, object), 12 hex digits
)

func hash(n int, parts ...string) string {
	h := blake3.New()
	for _, p := range parts {
		var l [2]byte
		l[0], l[1] = byte(len(p)>>8), byte(len(p))
		_, _ = h.Write(l[:])
		_, _ = h.WriteString(p)
	}
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:n])
}

// NamespacePrefix is the key prefix of every version in ns.
func NamespacePrefix(ns string) string { return keyPrefix + ns + "/" }

// NamePrefix is the key prefix of every version of one name.
func NamePrefix(ns, name string) string { return NamespacePrefix(ns) + hash(nameHash, name) + "/" }

// Key is the gossip key of v:
//
//	pfs/v/<namespace>/<24 hex: name hash>/<16 hex: wall><8 hex: logical>-<12 hex: hash of node and object>
//
// at most 6+64+1+24+1+16+8+1+12 = 133 bytes. Versions of one name share a
// prefix and sort by time; distinct versions get distinct keys unless a
// 96-bit name hash or a 48-bit node/object hash collides at the same stamp.
// v must be valid (Validate); wall times are non-negative so the hex digits
// sort like the numbers.
func Key(v Version) string {
	return fmt.Sprintf("%s%016x%08x-%s", NamePrefix(v.Namespace, v.Name), uint64(v.Time.Wall), v.Time.Logical,
		hash(tailHash, v.Node, string(v.Object[:])))
}
