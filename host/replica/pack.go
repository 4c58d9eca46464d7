package replica

import (
	"encoding/binary"
	"slices"
)

// packer splits a reply into messages of at most max encoded bytes. It
// counts an upper bound of each item's encoded size as it goes; an item
// larger than max on its own (a big value) gets a message to itself, which
// the stream transport carries like any other.
type packer struct {
	max     int
	out     []Message
	cur     Message
	size    int
	secs    [tagEntries + 1]bool
	writers map[string]bool
	// sent and wanted keep a reply from naming a topic twice when a
	// (confused) peer's ranges overlap.
	sent   map[string]bool
	wanted map[string]bool
}

// Upper bounds used by the size estimates.
const (
	sectionHeader = 1 + binary.MaxVarintLen32
	writerIndex   = 3 // up to 2^21 writers in one message
)

func newPacker(max int) *packer {
	p := &packer{max: max, sent: make(map[string]bool), wanted: make(map[string]bool)}
	p.reset()
	return p
}

func (p *packer) reset() {
	p.cur, p.size, p.secs, p.writers = Message{}, 1, [tagEntries + 1]bool{}, make(map[string]bool)
}

// finish returns the messages packed so far.
func (p *packer) finish() []Message {
	p.flush()
	return p.out
}

func (p *packer) flush() {
	if !p.cur.IsEmpty() {
		p.out = append(p.out, p.cur)
	}
	p.reset()
}

// reserve makes room for one item of size bytes in section tag that names
// the given writers, starting a new message if it would not fit.
func (p *packer) reserve(tag int, size int, writers ...string) {
	if p.size+p.cost(tag, size, writers) > p.max && !p.cur.IsEmpty() {
		p.flush()
	}
	p.size += p.cost(tag, size, writers)
	p.secs[tag] = true
	for _, w := range writers {
		if !p.writers[w] {
			p.writers[w] = true
			p.secs[tagWriters] = true
		}
	}
}

// cost is what an item adds to the current message.
func (p *packer) cost(tag int, size int, writers []string) int {
	n := size
	if !p.secs[tag] {
		n += sectionHeader
	}
	table := p.secs[tagWriters]
	for i, w := range writers {
		// Lists are short (at most leafMax items, bar key collisions), so a
		// linear scan for repeats is cheaper than a set.
		if p.writers[w] || slices.Contains(writers[:i], w) {
			continue
		}
		if !table {
			n += sectionHeader
			table = true
		}
		n += 1 + len(w)
	}
	return n
}

// added closes an item: one that alone exceeds max leaves at once, so
// nothing else joins it.
func (p *packer) added() {
	if p.size > p.max {
		p.flush()
	}
}

func (p *packer) entry(e Entry) {
	if p.sent[e.Topic] {
		return
	}
	p.sent[e.Topic] = true
	n := strSize(e.Topic) + versionSize(e.Version) + 1
	if !e.Deleted {
		n += uvarintSize(uint64(len(e.Value))) + len(e.Value)
	}
	p.reserve(tagEntries, n, e.Version.Node)
	p.cur.Entries = append(p.cur.Entries, e)
	p.added()
}

func (p *packer) want(topic string) {
	if p.wanted[topic] {
		return
	}
	p.wanted[topic] = true
	p.reserve(tagWants, strSize(topic))
	p.cur.Wants = append(p.cur.Wants, topic)
	p.added()
}

func (p *packer) sum(s Sum) {
	n := prefixSize(s.Bits, s.Prefix)
	for _, c := range s.Children {
		n += 8 + uvarintSize(c.Count)
	}
	p.reserve(tagSums, n)
	p.cur.Sums = append(p.cur.Sums, s)
	p.added()
}

func (p *packer) list(l List) {
	n := prefixSize(l.Bits, l.Prefix) + uvarintSize(uint64(len(l.Items)))
	writers := make([]string, len(l.Items))
	for i, it := range l.Items {
		n += strSize(it.Topic) + versionSize(it.Version) + 8
		writers[i] = it.Version.Node
	}
	p.reserve(tagLists, n, writers...)
	p.cur.Lists = append(p.cur.Lists, l)
	p.added()
}

func strSize(s string) int { return 1 + len(s) }

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func versionSize(v HLC) int {
	return uvarintSize(uint64(v.Wall)) + uvarintSize(uint64(v.Logical)) + writerIndex
}

func prefixSize(bits uint8, prefix uint64) int {
	if bits == 0 {
		return 1
	}
	return 1 + uvarintSize(prefix>>(64-bits))
}
