package names

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p-kernel/p-kernel/pfs/cid"
)

func ver(name string, wall int64, logical uint32, node, content string) Version {
	v := Version{Namespace: "home", Name: name, Time: Time{wall, logical}, Node: node}
	if content != "" {
		v.Object = cid.Sum([]byte(content))
		v.Size = uint64(len(content))
	}
	return v
}

func mustAdd(t *testing.T, x *Index, vs ...Version) {
	t.Helper()
	for _, v := range vs {
		if _, err := x.Add(v); err != nil {
			t.Fatalf("Add(%+v): %v", v, err)
		}
	}
}

func TestOrder(t *testing.T) {
	a := ver("f", 10, 0, "n1", "a")
	tests := []struct {
		lo, hi Version
	}{
		{a, ver("f", 11, 0, "n1", "a")},                          // wall first
		{a, ver("f", 10, 1, "n1", "a")},                          // then logical
		{ver("f", 9, 5, "n1", "a"), a},                           // wall beats logical
		{a, ver("f", 10, 0, "n2", "a")},                          // then node
		{ver("f", 10, 0, "n1", ""), a},                           // then object (tombstone is zero)
		{ver("e", 99, 0, "n9", "z"), a},                          // names apart
		{ver("f", 10, 0, "n1", "b"), ver("f", 10, 0, "n2", "a")}, // node before object
	}
	for _, tt := range tests {
		if c := Compare(tt.lo, tt.hi); c >= 0 {
			t.Errorf("Compare(%+v, %+v) = %d, want < 0", tt.lo, tt.hi, c)
		}
		if c := Compare(tt.hi, tt.lo); c <= 0 {
			t.Errorf("Compare reversed = %d, want > 0", c)
		}
	}
	if Compare(a, a) != 0 {
		t.Error("a version is not equal to itself")
	}
}

// TestConcurrentWritersKeptInOneOrder: two sides of a partition write the
// same name at overlapping times; every node, whatever order gossip
// delivers the versions in, ends with the same full history and the same
// current version.
func TestConcurrentWritersKeptInOneOrder(t *testing.T) {
	var all []Version
	for i := range 20 {
		all = append(all, ver("doc", int64(100+i/2), uint32(i%3), "left", fmt.Sprint("L", i)))
		all = append(all, ver("doc", int64(100+i/2), uint32(i%3), "right", fmt.Sprint("R", i)))
	}
	all = append(all, ver("doc", 105, 0, "left", ""))   // a removal on one side
	all = append(all, ver("doc", 100, 0, "left", "L0")) // a duplicate
	var want []Version
	var wantLatest Version
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 200 {
		in := slices.Clone(all)
		r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		var x Index
		mustAdd(t, &x, in...)
		h := x.History("home", "doc")
		if !slices.IsSortedFunc(h, Compare) {
			t.Fatal("history not sorted")
		}
		latest, ok := x.Latest("home", "doc")
		if !ok {
			t.Fatal("no latest")
		}
		if trial == 0 {
			want, wantLatest = h, latest
			if len(h) != len(all)-1 {
				t.Fatalf("history has %d versions, want %d (every distinct version kept)", len(h), len(all)-1)
			}
			continue
		}
		if !slices.Equal(h, want) || latest != wantLatest {
			t.Fatalf("trial %d: insertion order changed the outcome", trial)
		}
	}
	if wantLatest.Node != "right" || wantLatest.Time != (Time{109, 1}) {
		t.Fatalf("latest is %+v, want right's write at {109 1}", wantLatest)
	}
}

func TestTombstone(t *testing.T) {
	var x Index
	mustAdd(t, &x, ver("a/b", 1, 0, "n1", "one"))
	if v, ok := x.Latest("home", "a/b"); !ok || v.Object != cid.Sum([]byte("one")) {
		t.Fatalf("Latest = %+v %v", v, ok)
	}
	mustAdd(t, &x, ver("a/b", 2, 0, "n1", ""))
	if _, ok := x.Latest("home", "a/b"); ok {
		t.Fatal("removed name still has a latest version")
	}
	if h := x.History("home", "a/b"); len(h) != 2 || !h[1].Removed() {
		t.Fatalf("history after removal: %+v", h)
	}
	if l := x.List("home", ""); len(l) != 0 {
		t.Fatalf("List shows removed name: %+v", l)
	}
	if n := x.Names("home"); !slices.Equal(n, []string{"a/b"}) {
		t.Fatalf("Names = %v", n)
	}
	// A later write brings it back; an older one does not.
	mustAdd(t, &x, ver("a/b", 1, 5, "n2", "stale"))
	if _, ok := x.Latest("home", "a/b"); ok {
		t.Fatal("an older write revived a removed name")
	}
	mustAdd(t, &x, ver("a/b", 3, 0, "n2", "two"))
	if v, ok := x.Latest("home", "a/b"); !ok || v.Size != 3 {
		t.Fatalf("rewrite after removal: %+v %v", v, ok)
	}
	if _, ok := x.Latest("home", "never"); ok {
		t.Fatal("a name never written has a latest version")
	}
}

func TestAddIdempotentAndValidates(t *testing.T) {
	var x Index
	v := ver("x", 1, 0, "n", "x")
	if added, err := x.Add(v); !added || err != nil {
		t.Fatalf("first Add: %v %v", added, err)
	}
	if added, err := x.Add(v); added || err != nil {
		t.Fatalf("second Add: %v %v", added, err)
	}
	bad := v
	bad.Name = "../etc"
	if _, err := x.Add(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid name: %v", err)
	}
	if len(x.History("home", "x")) != 1 {
		t.Fatal("history changed")
	}
}

func TestList(t *testing.T) {
	var x Index
	mustAdd(t, &x,
		ver("docs/b", 1, 0, "n", "b"), ver("docs/a", 1, 0, "n", "a"), ver("docs/a", 2, 0, "n", "a2"),
		ver("docs/gone", 1, 0, "n", "g"), ver("docs/gone", 2, 0, "n", ""), ver("src/main.go", 1, 0, "n", "m"))
	other := ver("docs/a", 1, 0, "n", "other")
	other.Namespace = "work"
	mustAdd(t, &x, other)
	l := x.List("home", "docs/")
	var got []string
	for _, v := range l {
		got = append(got, fmt.Sprintf("%s@%d", v.Name, v.Time.Wall))
	}
	if want := []string{"docs/a@2", "docs/b@1"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if ns := x.Namespaces(); !slices.Equal(ns, []string{"home", "work"}) {
		t.Fatalf("Namespaces = %v", ns)
	}
}

func TestRetention(t *testing.T) {
	var x Index
	for i := range 5 {
		mustAdd(t, &x, ver("f", int64(i)*int64(time.Hour), 0, "n", fmt.Sprint(i)))
	}
	mustAdd(t, &x, ver("g", 0, 0, "n", "g0"), ver("g", 1, 0, "n", ""))
	now := 4 * int64(time.Hour)
	walls := func(vs []Version) []string {
		var s []string
		for _, v := range vs {
			s = append(s, fmt.Sprintf("%s%d", v.Name, v.Time.Wall/int64(time.Hour)))
		}
		return s
	}
	tests := []struct {
		p          Policy
		keep, drop []string
	}{
		{Policy{}, []string{"f0", "f1", "f2", "f3", "f4", "g0", "g0"}, nil},
		{Policy{KeepLast: 2}, []string{"f3", "f4", "g0", "g0"}, []string{"f0", "f1", "f2"}},
		{Policy{KeepLast: 1}, []string{"f4", "g0"}, []string{"f0", "f1", "f2", "f3", "g0"}},
		{Policy{KeepFor: 90 * time.Minute}, []string{"f3", "f4", "g0"}, []string{"f0", "f1", "f2", "g0"}},
		{Policy{KeepLast: 3, KeepFor: 90 * time.Minute}, []string{"f2", "f3", "f4", "g0", "g0"}, []string{"f0", "f1"}},
		{Policy{KeepFor: time.Nanosecond}, []string{"f4", "g0"}, []string{"f0", "f1", "f2", "f3", "g0"}},
	}
	for _, tt := range tests {
		keep, drop := x.Retention("home", tt.p, now)
		if !slices.Equal(walls(keep), tt.keep) || !slices.Equal(walls(drop), tt.drop) {
			t.Errorf("%+v: keep %v drop %v, want %v %v", tt.p, walls(keep), walls(drop), tt.keep, tt.drop)
		}
		if !slices.Equal(x.Retained("home", tt.p, now), keep) || !slices.Equal(x.Expired("home", tt.p, now), drop) {
			t.Errorf("%+v: Retained/Expired disagree with Retention", tt.p)
		}
	}
	// The current version of g is its tombstone and is always retained.
	keep := x.Retained("home", Policy{KeepLast: 1}, now)
	if !keep[len(keep)-1].Removed() {
		t.Fatal("tombstone as current version was not retained")
	}
}

func TestIndexConcurrent(t *testing.T) {
	var x Index
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := x.Add(ver(fmt.Sprint("n", i%10), int64(i), 0, fmt.Sprint("w", w), "c")); err != nil {
					t.Error(err)
				}
				x.Latest("home", "n1")
				x.List("home", "")
			}
		})
	}
	wg.Wait()
	if got := len(x.History("home", "n3")); got != 80 {
		t.Fatalf("history has %d versions, want 80", got)
	}
}

func TestValidation(t *testing.T) {
	good := ver("a/b c/ünï", 1, 0, "node-1", "x")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*Version)) Version { v := good; f(&v); return v }
	for name, v := range map[string]Version{
		"empty name":      edit(func(v *Version) { v.Name = "" }),
		"leading slash":   edit(func(v *Version) { v.Name = "/a" }),
		"trailing slash":  edit(func(v *Version) { v.Name = "a/" }),
		"double slash":    edit(func(v *Version) { v.Name = "a//b" }),
		"dot":             edit(func(v *Version) { v.Name = "a/./b" }),
		"dotdot":          edit(func(v *Version) { v.Name = ".." }),
		"NUL":             edit(func(v *Version) { v.Name = "a\x00b" }),
		"not UTF-8":       edit(func(v *Version) { v.Name = "a\xffb" }),
		"long name":       edit(func(v *Version) { v.Name = strings.Repeat("x", MaxName+1) }),
		"empty ns":        edit(func(v *Version) { v.Namespace = "" }),
		"upper ns":        edit(func(v *Version) { v.Namespace = "Home" }),
		"slash ns":        edit(func(v *Version) { v.Namespace = "a/b" }),
		"dot-first ns":    edit(func(v *Version) { v.Namespace = ".x" }),
		"long ns":         edit(func(v *Version) { v.Namespace = strings.Repeat("a", MaxNamespace+1) }),
		"empty node":      edit(func(v *Version) { v.Node = "" }),
		"space node":      edit(func(v *Version) { v.Node = "a b" }),
		"long node":       edit(func(v *Version) { v.Node = strings.Repeat("n", MaxNode+1) }),
		"negative wall":   edit(func(v *Version) { v.Time.Wall = -1 }),
		"sized tombstone": edit(func(v *Version) { v.Object = cid.Undef }),
	} {
		if err := v.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, err := v.MarshalBinary(); err == nil {
			t.Errorf("%s: MarshalBinary accepted it", name)
		}
	}
	for _, ok := range []string{"a", "a.b/c..d/.e", strings.Repeat("é", MaxName/2)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%.20q): %v", ok, err)
		}
	}
}

func TestKey(t *testing.T) {
	long := strings.Repeat("n", MaxNamespace)
	seen := map[string]Version{}
	var keys []string
	for i := range 300 {
		v := ver(fmt.Sprint("dir/", i%7, strings.Repeat("x", MaxName-10)), int64(i/3), uint32(i%3), strings.Repeat("z", MaxNode-1)+fmt.Sprint(i%2), fmt.Sprint(i))
		v.Namespace = long
		k := Key(v)
		if len(k) > MaxKeyLen {
			t.Fatalf("key is %d bytes, want <= %d", len(k), MaxKeyLen)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("%+v and %+v share key %s", prev, v, k)
		}
		seen[k] = v
		if !strings.HasPrefix(k, NamePrefix(v.Namespace, v.Name)) || !strings.HasPrefix(k, NamespacePrefix(long)) {
			t.Fatalf("key %s lacks its prefixes", k)
		}
		keys = append(keys, k)
	}
	// Within one name, key order is time order.
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		a, b := seen[keys[i-1]], seen[keys[i]]
		if a.Name == b.Name && a.Time.Compare(b.Time) > 0 {
			t.Fatalf("keys out of time order: %+v before %+v", a.Time, b.Time)
		}
	}
	// Same stamp, different writer or object: different keys.
	a := ver("f", 5, 0, "n1", "a")
	for _, b := range []Version{ver("f", 5, 0, "n2", "a"), ver("f", 5, 0, "n1", "b"), ver("f", 5, 0, "n1", "")} {
		if Key(a) == Key(b) {
			t.Errorf("%+v and %+v share a key", a, b)
		}
	}
	if Key(a) != Key(ver("f", 5, 0, "n1", "a")) {
		t.Error("key not deterministic")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, v := range []Version{
		ver("a", 0, 0, "n", "x"),
		ver("dir/file.txt", 1<<62, 1<<31, "node-abc", "content"),
		ver("gone", 7, 0, "n", ""),
		ver(strings.Repeat("é", MaxName/2), 1, 2, strings.Repeat("n", MaxNode), "x"),
	} {
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxEncoded {
			t.Fatalf("%d bytes, more than MaxEncoded %d", len(b), MaxEncoded)
		}
		var got Version
		if err := got.UnmarshalBinary(b); err != nil || got != v {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, v)
		}
	}
}

func TestCodecRejects(t *testing.T) {
	good, _ := ver("a/b", 3, 4, "n", "x").MarshalBinary()
	flip := func(i int, to byte) []byte { b := bytes.Clone(good); b[i] = to; return b }
	for name, b := range map[string][]byte{
		"empty":         nil,
		"magic":         flip(0, 'X'),
		"format":        flip(3, 2),
		"truncated":     good[:len(good)-1],
		"trailing":      append(bytes.Clone(good), 0),
		"ns too long":   flip(4, 200),
		"ns charset":    flip(5, 'H'),
		"name length":   flip(len(magic)+1+4+1, 0xff),
		"name dotdot":   bytes.Replace(good, []byte("a/b"), []byte("../"), 1),
		"negative wall": flip(len(magic)+1+4+2+3+32+8, 0x80),
		"node length":   flip(len(good)-2, 0),
		"huge":          make([]byte, MaxEncoded+1),
	} {
		if _, err := Unmarshal(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, v := range []Version{ver("a", 0, 0, "n", "x"), ver("d/e", 1<<40, 9, "node-1", ""), ver("ü", 5, 5, "m", "y")} {
		b, _ := v.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("pfv\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes is valid, re-encodes to the same bytes (canonical)
		// and has a bounded key.
		if err := v.Validate(); err != nil {
			t.Fatalf("decoded an invalid version: %v", err)
		}
		out, err := v.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("not canonical: %x vs %x (%v)", out, b, err)
		}
		if len(Key(v)) > MaxKeyLen {
			t.Fatalf("key of %d bytes", len(Key(v)))
		}
	})
}
