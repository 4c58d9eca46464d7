package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Message is one protocol message. Any of its parts may be empty; one
// message can carry several (a reply often holds entries and wants).
//
// What a receiver does with each part is described in the package comment.
type Message struct {
	Sums    []Sum    // digests of key ranges, to compare
	Lists   []List   // (topic, version) listings of key ranges, to reconcile
	Wants   []string // topics whose entries the sender asks for
	Entries []Entry  // deltas: entries to merge
}

// IsEmpty reports whether m carries nothing.
func (m Message) IsEmpty() bool {
	return len(m.Sums) == 0 && len(m.Lists) == 0 && len(m.Wants) == 0 && len(m.Entries) == 0
}

// Sum is the digest of the topics whose key (BLAKE3 of the name, 64 bits)
// starts with the Bits-bit Prefix, split into children one level down: 256
// children (8 bits) under the root (Bits 0), 16 (4 bits) below that.
type Sum struct {
	Bits     uint8  // prefix length: 0, or 8..60 in steps of 4
	Prefix   uint64 // the prefix in the top Bits bits; the other bits zero
	Children []Child
}

// Child is the digest of one child range.
type Child struct {
	Hash  uint64 // XOR of the records' fingerprints
	Count uint64 // number of records, tombstones included
}

// List names every entry the sender holds in one key range.
type List struct {
	Bits   uint8 // prefix length: 0, or 8..64 in steps of 4
	Prefix uint64
	Items  []Item
}

// Item is one listed entry: enough to tell which side's entry wins.
type Item struct {
	Topic   string
	Version HLC
	Sum     uint64 // first 8 bytes (big-endian) of the entry's content sum
}

// childBits returns the prefix length of a range's children.
func childBits(bits uint8) uint8 {
	if bits == 0 {
		return 8
	}
	return bits + 4
}

// fanout returns the number of children of a range.
func fanout(bits uint8) int { return 1 << (childBits(bits) - bits) }

// validRange checks a (bits, prefix) pair; maxBits is 60 for sums (their
// children must fit in 64 bits) and 64 for lists.
func validRange(bits uint8, prefix uint64, maxBits uint8) error {
	if bits > maxBits || bits != 0 && (bits < 8 || bits%4 != 0) {
		return fmt.Errorf("prefix length %d", bits)
	}
	if bits < 64 && prefix<<bits != 0 {
		return fmt.Errorf("prefix %#x has bits beyond its length %d", prefix, bits)
	}
	return nil
}

// Validate checks every bound the wire format enforces, so that a message
// built in memory is held to the same rules as a decoded one.
func (m Message) Validate() error {
	for _, s := range m.Sums {
		if err := validRange(s.Bits, s.Prefix, 60); err != nil {
			return fmt.Errorf("sum: %w", err)
		}
		if len(s.Children) != fanout(s.Bits) {
			return fmt.Errorf("sum: %d children, want %d", len(s.Children), fanout(s.Bits))
		}
	}
	for _, l := range m.Lists {
		if err := validRange(l.Bits, l.Prefix, 64); err != nil {
			return fmt.Errorf("list: %w", err)
		}
		for _, it := range l.Items {
			if err := validTopic(it.Topic); err != nil {
				return fmt.Errorf("list: %w", err)
			}
			if err := it.Version.validate(); err != nil {
				return fmt.Errorf("list: %w", err)
			}
		}
	}
	for _, t := range m.Wants {
		if err := validTopic(t); err != nil {
			return fmt.Errorf("want: %w", err)
		}
	}
	for _, e := range m.Entries {
		if err := e.validate(); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
	}
	return nil
}

// The wire format, version 1. All integers are unsigned varints (uv) unless
// a width is given; strings are a 1-byte length and the bytes.
//
//	message = format:u8(=1) section*            sections in increasing tag order, none empty
//	section = tag:u8 count:uv item{count}
//	tag 0 writers: item = node:str              node ids, referenced by index below
//	tag 1 sums:    item = bits:u8 prefix child{fanout(bits)}
//	               child = hash:u64le count:uv
//	tag 2 lists:   item = bits:u8 prefix n:uv (topic:str version sum:u64le){n}
//	tag 3 wants:   item = topic:str
//	tag 4 entries: item = topic:str version flags:u8 [value]
//	               flags bit 0 = tombstone (no value follows); value = len:uv bytes
//	prefix  = uv of prefix>>(64-bits), absent when bits = 0
//	version = wall:uv logical:uv writer:uv      writer indexes the writers section
const formatVersion = 1

const (
	tagWriters = iota
	tagSums
	tagLists
	tagWants
	tagEntries
)

const flagDeleted = 1

// ErrMalformed is wrapped by every error [Decode] returns.
var ErrMalformed = errors.New("malformed message")

// MarshalBinary encodes m in the wire format.
func (m Message) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// AppendBinary appends the wire form of m to b. It fails only for a message
// that does not pass [Message.Validate].
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	w := newWriterTable(m)
	b = append(b, formatVersion)
	if len(w.ids) > 0 {
		b = section(b, tagWriters, len(w.ids))
		for _, id := range w.ids {
			b = appendStr(b, id)
		}
	}
	if len(m.Sums) > 0 {
		b = section(b, tagSums, len(m.Sums))
		for _, s := range m.Sums {
			b = appendSum(b, s)
		}
	}
	if len(m.Lists) > 0 {
		b = section(b, tagLists, len(m.Lists))
		for _, l := range m.Lists {
			b = appendList(b, l, w)
		}
	}
	if len(m.Wants) > 0 {
		b = section(b, tagWants, len(m.Wants))
		for _, t := range m.Wants {
			b = appendStr(b, t)
		}
	}
	if len(m.Entries) > 0 {
		b = section(b, tagEntries, len(m.Entries))
		for _, e := range m.Entries {
			b = appendEntry(b, e, w)
		}
	}
	return b, nil
}

// writerTable interns node ids: a listing names a few writers many times.
type writerTable struct {
	ids   []string
	index map[string]int
}

func newWriterTable(m Message) *writerTable {
	w := &writerTable{index: make(map[string]int)}
	for _, l := range m.Lists {
		for _, it := range l.Items {
			w.add(it.Version.Node)
		}
	}
	for _, e := range m.Entries {
		w.add(e.Version.Node)
	}
	return w
}

func (w *writerTable) add(id string) {
	if _, ok := w.index[id]; !ok {
		w.index[id] = len(w.ids)
		w.ids = append(w.ids, id)
	}
}

func section(b []byte, tag byte, n int) []byte {
	return binary.AppendUvarint(append(b, tag), uint64(n))
}

func appendStr(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func appendPrefix(b []byte, bits uint8, prefix uint64) []byte {
	b = append(b, bits)
	if bits == 0 {
		return b
	}
	return binary.AppendUvarint(b, prefix>>(64-bits))
}

func appendVersion(b []byte, v HLC, w *writerTable) []byte {
	b = binary.AppendUvarint(b, uint64(v.Wall))
	b = binary.AppendUvarint(b, uint64(v.Logical))
	return binary.AppendUvarint(b, uint64(w.index[v.Node]))
}

func appendSum(b []byte, s Sum) []byte {
	b = appendPrefix(b, s.Bits, s.Prefix)
	for _, c := range s.Children {
		b = binary.LittleEndian.AppendUint64(b, c.Hash)
		b = binary.AppendUvarint(b, c.Count)
	}
	return b
}

func appendList(b []byte, l List, w *writerTable) []byte {
	b = appendPrefix(b, l.Bits, l.Prefix)
	b = binary.AppendUvarint(b, uint64(len(l.Items)))
	for _, it := range l.Items {
		b = appendStr(b, it.Topic)
		b = appendVersion(b, it.Version, w)
		b = binary.LittleEndian.AppendUint64(b, it.Sum)
	}
	return b
}

func appendEntry(b []byte, e Entry, w *writerTable) []byte {
	b = appendStr(b, e.Topic)
	b = appendVersion(b, e.Version, w)
	if e.Deleted {
		return append(b, flagDeleted)
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(e.Value)))
	return append(b, e.Value...)
}

// Decode parses one message in the wire format. It never panics and never
// allocates more than a small multiple of len(b): every count and length is
// checked against the bytes that remain before anything is allocated. The
// result does not alias b. Every error wraps [ErrMalformed].
func Decode(b []byte) (Message, error) {
	d := decoder{b: b}
	m := d.message()
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err == nil {
		// The parser enforces most rules as it reads; this checks the rest
		// (prefix alignment, tombstones) with the same code Handle uses.
		if err := m.Validate(); err != nil {
			d.fail("%v", err)
		}
	}
	if d.err != nil {
		return Message{}, d.err
	}
	return m, nil
}

// decoder reads from b; after the first failure every read returns zero
// values and err holds the reason.
type decoder struct {
	b       []byte
	err     error
	writers []string
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns the next n bytes, not copied.
func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("length %d beyond the %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// str reads a 1-byte-length string of 1..255 bytes.
func (d *decoder) str() string {
	n := d.byte()
	if n == 0 && d.err == nil {
		d.fail("empty string")
	}
	return string(d.bytes(uint64(n)))
}

// count reads an item count and bounds it by the bytes left, given that each
// item takes at least minSize bytes; the result is safe to allocate from.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("count %d beyond the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) message() Message {
	var m Message
	if v := d.byte(); d.err == nil && v != formatVersion {
		d.fail("format version %d, want %d", v, formatVersion)
	}
	last := -1
	for d.err == nil && len(d.b) > 0 {
		tag := int(d.byte())
		if tag <= last || tag > tagEntries {
			d.fail("section tag %d after %d", tag, last)
			break
		}
		last = tag
		d.section(tag, &m)
	}
	return m
}

// Minimum encoded sizes of the items, for count bounds.
const (
	minWriter = 2
	minSum    = 1 + 16*9 // the smallest fanout is 16 children of 9+ bytes
	minList   = 2
	minWant   = 2
	minItem   = 2 + 3 + 8
	minEntry  = 2 + 3 + 1
)

func (d *decoder) section(tag int, m *Message) {
	var n int
	switch tag {
	case tagWriters:
		n = d.count(minWriter)
		for i := 0; i < n && d.err == nil; i++ {
			d.writers = append(d.writers, d.str())
		}
	case tagSums:
		n = d.count(minSum)
		for i := 0; i < n && d.err == nil; i++ {
			m.Sums = append(m.Sums, d.sum())
		}
	case tagLists:
		n = d.count(minList)
		for i := 0; i < n && d.err == nil; i++ {
			m.Lists = append(m.Lists, d.list())
		}
	case tagWants:
		n = d.count(minWant)
		for i := 0; i < n && d.err == nil; i++ {
			m.Wants = append(m.Wants, d.str())
		}
	case tagEntries:
		n = d.count(minEntry)
		for i := 0; i < n && d.err == nil; i++ {
			m.Entries = append(m.Entries, d.entry())
		}
	}
	if n == 0 && d.err == nil {
		d.fail("empty section %d", tag)
	}
}

func (d *decoder) prefix(maxBits uint8) (uint8, uint64) {
	bits := d.byte()
	if d.err != nil {
		return 0, 0
	}
	if bits > maxBits || bits != 0 && (bits < 8 || bits%4 != 0) {
		d.fail("prefix length %d", bits)
		return 0, 0
	}
	if bits == 0 {
		return 0, 0
	}
	p := d.uvarint()
	if bits < 64 && p>>bits != 0 {
		d.fail("prefix %#x longer than %d bits", p, bits)
		return 0, 0
	}
	return bits, p << (64 - bits)
}

func (d *decoder) sum() Sum {
	var s Sum
	s.Bits, s.Prefix = d.prefix(60)
	if d.err != nil {
		return s
	}
	n := fanout(s.Bits)
	if len(d.b) < n*9 {
		d.fail("truncated sum")
		return s
	}
	s.Children = make([]Child, n)
	for i := range s.Children {
		s.Children[i] = Child{Hash: d.u64(), Count: d.uvarint()}
	}
	return s
}

func (d *decoder) list() List {
	var l List
	l.Bits, l.Prefix = d.prefix(64)
	n := d.count(minItem)
	for i := 0; i < n && d.err == nil; i++ {
		it := Item{Topic: d.str()}
		it.Version = d.version()
		it.Sum = d.u64()
		l.Items = append(l.Items, it)
	}
	return l
}

func (d *decoder) version() HLC {
	wall, logical, w := d.uvarint(), d.uvarint(), d.uvarint()
	if d.err != nil {
		return HLC{}
	}
	if wall > math.MaxInt64 || logical > math.MaxUint32 || w >= uint64(len(d.writers)) {
		d.fail("version (%d, %d, writer %d of %d)", wall, logical, w, len(d.writers))
		return HLC{}
	}
	return HLC{Wall: int64(wall), Logical: uint32(logical), Node: d.writers[w]}
}

func (d *decoder) entry() Entry {
	e := Entry{Topic: d.str()}
	e.Version = d.version()
	switch flags := d.byte(); {
	case d.err != nil:
	case flags == flagDeleted:
		e.Deleted = true
	case flags == 0:
		e.Value = append([]byte{}, d.bytes(d.uvarint())...)
	default:
		d.fail("entry flags %#x", flags)
	}
	return e
}
