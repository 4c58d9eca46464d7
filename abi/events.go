package abi

import "errors"

// EventKind is the first argument of pk_event.
type EventKind uint32

// Event kinds of ABI v1. The payload layout of each is below; all integers
// are little-endian.
const (
	// EventMessage: a message on a subscribed topic.
	//	0:  u64 seq      topic sequence number (1 for the first message)
	//	8:  u32 flags    MsgRetained | MsgLatest
	//	12: u32 topic_len
	//	16: topic bytes, then the payload up to the event's length
	EventMessage EventKind = 1
	// EventTimer: a timer set with timer_set fired.
	//	0: u64 timer_id
	//	8: u64 now      realtime nanoseconds when it fired
	EventTimer EventKind = 2
	// EventCall: another module called this one; answer with call_reply.
	//	0:  u64 call_id
	//	8:  u32 from_len
	//	12: from (caller module name; "" for the CLI), then the request bytes
	EventCall EventKind = 3
	// EventLifecycle: the module is started or about to stop.
	//	0: u32 code    LifeStarted | LifeStopping
	//	4: u32 reason  Reason*
	EventLifecycle EventKind = 4
	// EventMember is reserved for membership changes (the collective).
	EventMember EventKind = 5
)

// Message flags.
const (
	MsgRetained = 1 // the topic's current value, delivered because the module just subscribed
	MsgLatest   = 2 // the topic is a latest-value topic (older values may have been coalesced)
)

// Lifecycle codes and reasons.
const (
	LifeStarted  = 1
	LifeStopping = 2

	ReasonFresh    = 1 // first start (no snapshot)
	ReasonRestart  = 2 // restarted by the supervisor after a crash, from the last snapshot
	ReasonSwap     = 3 // a new version took over by hot swap
	ReasonUnload   = 4 // the module is being unloaded
	ReasonShutdown = 5 // the node is shutting down
	ReasonResume   = 6 // the node restarted and restored the module from its durable snapshot
)

// Sizes of fixed event headers.
const (
	MessageHeaderSize  = 16
	TimerEventSize     = 16
	CallHeaderSize     = 12
	LifecycleEventSize = 8
)

// ErrShort is returned by the decoders for a buffer too short for its
// declared layout.
var ErrShort = errors.New("abi: event truncated")

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func put64(b []byte, v uint64) { put32(b, uint32(v)); put32(b[4:], uint32(v>>32)) }

// LE32 reads a little-endian uint32 (b must hold 4 bytes).
func LE32(b []byte) uint32 { return le32(b) }

// LE64 reads a little-endian uint64 (b must hold 8 bytes).
func LE64(b []byte) uint64 { return le64(b) }

// PutLE32 writes a little-endian uint32 (b must hold 4 bytes).
func PutLE32(b []byte, v uint32) { put32(b, v) }

// PutLE64 writes a little-endian uint64 (b must hold 8 bytes).
func PutLE64(b []byte, v uint64) { put64(b, v) }

// Message is a decoded [EventMessage].
type Message struct {
	Seq     uint64
	Flags   uint32
	Topic   string
	Payload []byte // aliases the decoded buffer
}

// MessageSize is the encoded size of a message event.
func MessageSize(topic string, payload []byte) int {
	return MessageHeaderSize + len(topic) + len(payload)
}

// PutMessage encodes a message event into dst, which must hold
// MessageSize(topic, payload) bytes, and returns the bytes written.
func PutMessage(dst []byte, seq uint64, flags uint32, topic string, payload []byte) int {
	put64(dst, seq)
	put32(dst[8:], flags)
	put32(dst[12:], uint32(len(topic)))
	n := MessageHeaderSize + copy(dst[MessageHeaderSize:], topic)
	return n + copy(dst[n:], payload)
}

// AppendMessage appends an encoded message event to dst.
func AppendMessage(dst []byte, seq uint64, flags uint32, topic string, payload []byte) []byte {
	n := len(dst)
	dst = grow(dst, MessageSize(topic, payload))
	PutMessage(dst[n:], seq, flags, topic, payload)
	return dst
}

// DecodeMessage decodes an [EventMessage] payload.
func DecodeMessage(b []byte) (Message, error) {
	if len(b) < MessageHeaderSize {
		return Message{}, ErrShort
	}
	tl := le32(b[12:])
	if uint64(tl) > uint64(len(b)-MessageHeaderSize) {
		return Message{}, ErrShort
	}
	end := MessageHeaderSize + int(tl)
	return Message{Seq: le64(b), Flags: le32(b[8:]), Topic: string(b[MessageHeaderSize:end]), Payload: b[end:]}, nil
}

// Timer is a decoded [EventTimer].
type Timer struct {
	ID  uint64
	Now int64
}

// AppendTimer appends an encoded timer event to dst.
func AppendTimer(dst []byte, id uint64, now int64) []byte {
	n := len(dst)
	dst = grow(dst, TimerEventSize)
	put64(dst[n:], id)
	put64(dst[n+8:], uint64(now))
	return dst
}

// DecodeTimer decodes an [EventTimer] payload.
func DecodeTimer(b []byte) (Timer, error) {
	if len(b) < TimerEventSize {
		return Timer{}, ErrShort
	}
	return Timer{ID: le64(b), Now: int64(le64(b[8:]))}, nil
}

// Call is a decoded [EventCall].
type Call struct {
	ID      uint64
	From    string
	Request []byte // aliases the decoded buffer
}

// AppendCall appends an encoded call event to dst.
func AppendCall(dst []byte, id uint64, from string, req []byte) []byte {
	n := len(dst)
	dst = grow(dst, CallHeaderSize+len(from)+len(req))
	put64(dst[n:], id)
	put32(dst[n+8:], uint32(len(from)))
	m := n + CallHeaderSize + copy(dst[n+CallHeaderSize:], from)
	copy(dst[m:], req)
	return dst
}

// DecodeCall decodes an [EventCall] payload.
func DecodeCall(b []byte) (Call, error) {
	if len(b) < CallHeaderSize {
		return Call{}, ErrShort
	}
	fl := le32(b[8:])
	if uint64(fl) > uint64(len(b)-CallHeaderSize) {
		return Call{}, ErrShort
	}
	end := CallHeaderSize + int(fl)
	return Call{ID: le64(b), From: string(b[CallHeaderSize:end]), Request: b[end:]}, nil
}

// Lifecycle is a decoded [EventLifecycle].
type Lifecycle struct {
	Code   uint32
	Reason uint32
}

// AppendLifecycle appends an encoded lifecycle event to dst.
func AppendLifecycle(dst []byte, code, reason uint32) []byte {
	n := len(dst)
	dst = grow(dst, LifecycleEventSize)
	put32(dst[n:], code)
	put32(dst[n+4:], reason)
	return dst
}

// DecodeLifecycle decodes an [EventLifecycle] payload.
func DecodeLifecycle(b []byte) (Lifecycle, error) {
	if len(b) < LifecycleEventSize {
		return Lifecycle{}, ErrShort
	}
	return Lifecycle{Code: le32(b), Reason: le32(b[4:])}, nil
}

// AppendList appends items as a length-prefixed list: for each item, u32
// length then the bytes. It is the encoding of log attributes (key, value,
// key, value, ...) and of kv_list results.
func AppendList(dst []byte, items ...[]byte) []byte {
	for _, it := range items {
		n := len(dst)
		dst = grow(dst, 4+len(it))
		put32(dst[n:], uint32(len(it)))
		copy(dst[n+4:], it)
	}
	return dst
}

// DecodeList decodes a length-prefixed list. The items alias b.
func DecodeList(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, ErrShort
		}
		n := le32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, ErrShort
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*len(b)+n)
	copy(nb, b)
	return nb
}
