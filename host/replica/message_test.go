package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// sampleMessages returns real protocol messages (from a round between two
// stores that differ) plus hand-made ones that use every part of the format.
func sampleMessages(tb testing.TB) []Message {
	a, b := newStore(tb, "node-a"), newStore(tb, "node-b")
	for i := range 40 {
		e := mustSet(tb, a, fmt.Sprint("topic/", i), fmt.Sprint("value ", i), at(int64(i)))
		if i%3 != 0 {
			b.Merge(e)
		}
	}
	mustDelete(tb, b, "topic/4", at(100))
	mustSet(tb, b, "only-b", "", at(100))
	out := []Message{{}, a.StartRound()}
	q := []Message{a.StartRound()}
	for from, to := a, b; len(q) > 0; from, to = to, from {
		var next []Message
		for _, m := range q {
			replies, _, err := to.Handle(m)
			if err != nil {
				tb.Fatal(err)
			}
			next = append(next, replies...)
		}
		out = append(out, next...)
		q = next
		_ = from
	}
	v := HLC{Wall: 1 << 62, Logical: 1<<32 - 1, Node: "w"}
	out = append(out, Message{
		Sums:    []Sum{{Bits: 60, Prefix: 0xfffffffffffffff0, Children: make([]Child, 16)}},
		Lists:   []List{{Bits: 64, Prefix: 1<<64 - 1, Items: []Item{{Topic: "t", Version: v, Sum: 42}}}, {Bits: 0}},
		Wants:   []string{"t", "u"},
		Entries: []Entry{{Topic: "t", Version: v, Deleted: true}, {Topic: "u", Version: v, Value: []byte{}}},
	})
	return out
}

func TestMessageRoundTrip(t *testing.T) {
	for i, m := range sampleMessages(t) {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("message %d: decode: %v", i, err)
		}
		if !equalMessages(got, m) {
			t.Fatalf("message %d: round trip\n got %+v\nwant %+v", i, got, m)
		}
	}
}

// equalMessages compares messages, ignoring nil versus empty slices.
func equalMessages(a, b Message) bool {
	norm := func(m Message) Message {
		for i := range m.Entries {
			if len(m.Entries[i].Value) == 0 && !m.Entries[i].Deleted {
				m.Entries[i].Value = []byte{}
			}
		}
		for i := range m.Lists {
			if len(m.Lists[i].Items) == 0 {
				m.Lists[i].Items = nil
			}
		}
		return m
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestDecodeDoesNotAlias(t *testing.T) {
	m := Message{Entries: []Entry{{Topic: "t", Version: HLC{1, 0, "n"}, Value: []byte("abc")}}}
	b, _ := m.MarshalBinary()
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if string(got.Entries[0].Value) != "abc" || got.Entries[0].Topic != "t" {
		t.Fatalf("decoded message changed with its input: %+v", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := func(m Message) []byte {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	entry := valid(Message{Entries: []Entry{{Topic: "t", Version: HLC{1, 0, "n"}, Value: []byte("v")}}})
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"format 0", []byte{0}},
		{"format 2", []byte{2}},
		{"unknown tag", []byte{1, 5, 1, 0}},
		{"tags out of order", cat([]byte{1, tagWants, 1, 1, 't', tagSums}, uv(1))},
		{"repeated tag", []byte{1, tagWants, 1, 1, 't', tagWants, 1, 1, 'u'}},
		{"empty section", []byte{1, tagWants, 0}},
		{"huge count", cat([]byte{1, tagWants}, uv(1<<62))},
		{"count beyond input", []byte{1, tagWants, 3, 1, 't'}},
		{"overlong varint", cat([]byte{1, tagWants}, bytes.Repeat([]byte{0xff}, 11))},
		{"empty topic", []byte{1, tagWants, 1, 0}},
		{"topic past end", []byte{1, tagWants, 1, 9, 't'}},
		{"trailing bytes", append(bytes.Clone(entry), 0)},
		{"truncated entry", entry[:len(entry)-1]},
		{"bad entry flags", bytes.Replace(entry, []byte{0, 1, 'v'}, []byte{2, 1, 'v'}, 1)},
		{"value length past end", bytes.Replace(entry, []byte{0, 1, 'v'}, []byte{0, 0x7f, 'v'}, 1)},
		{"writer index out of range", []byte{1, tagWriters, 1, 1, 'n', tagWants, 1, 1, 't', tagEntries, 1, 1, 't', 1, 0, 1, 1}},
		{"no writers", []byte{1, tagEntries, 1, 1, 't', 1, 0, 0, 1}},
		{"empty writer", []byte{1, tagWriters, 1, 0}},
		{"wall beyond int64", cat([]byte{1, tagWriters, 1, 1, 'n', tagEntries, 1, 1, 't'}, uv(1<<63), []byte{0, 0, 1})},
		{"logical beyond uint32", cat([]byte{1, tagWriters, 1, 1, 'n', tagEntries, 1, 1, 't', 1}, uv(1<<32), []byte{0, 1})},
		{"sum prefix length 4", []byte{1, tagSums, 1, 4, 0}},
		{"sum prefix length 64", cat([]byte{1, tagSums, 1, 64}, uv(0))},
		{"sum prefix too long", cat([]byte{1, tagSums, 1, 8}, uv(256))},
		{"sum truncated", cat([]byte{1, tagSums, 1, 0}, make([]byte, 255*9))},
		{"list prefix length 65", cat([]byte{1, tagLists, 1, 65, 0, 0})},
		{"list huge item count", cat([]byte{1, tagLists, 1, 0}, uv(1<<40))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed", m, err)
			}
		})
	}
}

// TestDecodeTruncated cuts every sample message at every length. A cut
// between two sections leaves a valid, shorter message (frames carry the
// length, so a stream cannot cut there unnoticed); any other cut must fail.
func TestDecodeTruncated(t *testing.T) {
	for i, m := range sampleMessages(t) {
		b, _ := m.MarshalBinary()
		for n := 0; n < len(b); n++ {
			got, err := Decode(b[:n])
			if err == nil && items(got) >= items(m) && items(m) > 0 {
				t.Fatalf("message %d cut to %d of %d bytes decodes whole", i, n, len(b))
			}
		}
	}
}

// TestDecodeAllocation checks that a lying count or length costs no more
// than the input's size in allocation.
func TestDecodeAllocation(t *testing.T) {
	inputs := [][]byte{
		binary.AppendUvarint([]byte{1, tagEntries}, 1<<40),
		append(binary.AppendUvarint([]byte{1, tagWants}, 1<<20), bytes.Repeat([]byte{1, 't'}, 1<<10)...),
		binary.AppendUvarint([]byte{1, tagWriters, 1, 1, 'n', tagEntries, 1, 1, 't', 1, 0, 0, 0}, 1<<50),
	}
	for i, in := range inputs {
		allocs := testing.AllocsPerRun(10, func() { Decode(in) })
		if allocs > 20 {
			t.Errorf("input %d: %v allocations", i, allocs)
		}
	}
}
