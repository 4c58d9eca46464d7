// Package replica is the deterministic core of cluster-scoped latest-value
// topics: a [Store] of topic → [Entry] (value or tombstone, versioned by a
// hybrid logical clock, [HLC]) that converges across nodes by anti-entropy
// gossip, first digests, then deltas.
//
// It owns the versions and the last-writer-wins rule, tombstones and their
// collection, the digest tree, the reconciliation protocol and its wire
// format. It owns no network, no goroutine, no timer and no disk: like
// etcd-raft's RawNode it is a synchronous state machine fed with messages and
// the wall time, returning the messages to send. The host carries them
// (over QUIC streams, framed by [WriteFrame] and [ReadFrame]), decides when
// and with whom to start rounds, calls [Store.GC] now and then, delivers the
// changed entries to the bus, and persists what it wants to keep (feeding it
// back through [Store.Merge] on start).
//
// Imports: the standard library and github.com/zeebo/blake3. It must not
// import wazero, the bus, or anything of the host: the host imports it.
//
// Concurrency: a Store is not safe for concurrent use; one goroutine owns it,
// or it is wrapped in [Locked], which takes a mutex around each call.
//
// # Ordering
//
// A version is an HLC: physical milliseconds, a logical counter and the
// writer's node id, compared in that order. Merge keeps the entry with the
// greater version; for equal versions (only possible when one node stamped
// one version twice, e.g. after restarting with its clock behind), the
// greater BLAKE3 of (tombstone flag, value) wins. The rule is a total order
// on entries, so every node that has seen the same entries holds the same
// one, whatever order it saw them in. Merging a version advances the local
// clock past it, so a write made after seeing a value (or its deletion) wins
// over it.
//
// # Digests
//
// Every topic has a 64-bit key, the first bytes of BLAKE3(topic), and every
// entry a 64-bit fingerprint of (topic, version, content). The digest of a
// key range is the XOR of its fingerprints and its record count: equal
// stores have equal digests, and an update changes a digest in O(1). Ranges
// form a tree: the root has 256 children (the first key byte), every range
// below has 16 (the next 4 bits).
//
// # A round
//
// Messages are stateless: each part is answered from what it carries and the
// store's contents, so any message may be lost or repeated. A round between
// A and B:
//
//  1. A sends [Store.StartRound]: the root [Sum], 256 child digests.
//  2. The receiver of a Sum compares it with its own, child by child. For a
//     child that differs it sends its entries there if the peer has none,
//     an empty [List] (meaning "send me all of yours") if it has none, its
//     List of (topic, version, content sum) if it holds at most 16 records
//     there, else its Sum of that child, one level down (back to step 2 on
//     the other side).
//  3. The receiver of a List reconciles the range: it sends the entries the
//     lister lacks or holds older, and Wants the topics it lacks or holds
//     older.
//  4. The receiver of Wants sends those entries. Entries are merged.
//
// The round is over when neither side has anything to answer. Every range
// that differed ends in a step 3 or in a push of all entries, so after one
// round both stores hold, for every topic either had, the winning entry:
// the same contents. Replies are split into messages of at most
// [Config.MaxMessage] encoded bytes; an entry larger than that travels in a
// message of its own. A round between equal stores costs one 2.3 KiB
// message; differences cost about 150 bytes per range split one level down
// and 17 bytes plus the name per listed topic, plus the entries themselves.
//
// # Tombstones
//
// A delete is a tombstone entry, kept for [Config.TombstoneTTL] after its
// version's physical time and at most [Config.MaxTombstones] of them; see
// [Store.GC] for the guarantee (a node partitioned for longer than the TTL
// can bring a deleted topic back).
//
// # Wire format
//
// Versioned, with explicit lengths, described at formatVersion in
// message.go. [Decode] rejects malformed input with an error wrapping
// [ErrMalformed]; it never panics and bounds every allocation by the input's
// length.
package replica
