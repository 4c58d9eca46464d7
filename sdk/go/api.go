//go:build wasip1

package pk

import (
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/p-kernel/p-kernel/abi"
)

// Errno is the error type of failed syscalls; compare with errors.Is against
// the abi constants (abi.EAGAIN, ...).
type Errno = abi.Errno

func errOf(e uint32) error {
	if e == 0 {
		return nil
	}
	return abi.Errno(e)
}

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return abi.EINVAL
}

var (
	initFn     func() error
	snapshotFn func() []byte
	restoreFn  func([]byte) error
	callFn     func(c abi.Call) abi.Errno // set by HandleCall, so call_reply is imported only when used
	startFn    func(reason uint32)
	stopFn     func(reason uint32)
	exact      = map[string][]func(Message){}
	prefixes   []prefixSub
	timers     = map[uint64]*Timer{}
)

type prefixSub struct {
	prefix string
	fn     func(Message)
}

// Init registers the module's start function, run by pk_init: subscribe and
// set timers here. An error fails the start (and a hot swap to this version).
func Init(fn func() error) { initFn = fn }

// OnSnapshot registers the function that returns the module's state, taken
// at checkpoints, before a hot swap and at shutdown.
func OnSnapshot(fn func() []byte) { snapshotFn = fn }

// OnRestore registers the function that takes state back after pk_init, on a
// restart or in the new version after a hot swap. An error fails the start.
func OnRestore(fn func(state []byte) error) { restoreFn = fn }

// OnStart registers a function called when the instance goes live; reason
// is abi.ReasonFresh, ReasonRestart, ReasonSwap or ReasonResume.
func OnStart(fn func(reason uint32)) { startFn = fn }

// OnStop registers a function called before the module stops.
func OnStop(fn func(reason uint32)) { stopFn = fn }

// Message is a message delivered on a subscribed topic. Data is valid only
// during the handler.
type Message struct {
	Topic    string
	Seq      uint64
	Data     []byte
	Retained bool // the current value of a latest topic, sent on subscribing
	Latest   bool // from a latest-value topic
}

// Subscribe calls fn for every message on topic.
func Subscribe(topic string, fn func(Message)) error {
	if err := errOf(sysSubscribe(sptr(topic), uint32(len(topic)), 0)); err != nil {
		return err
	}
	exact[topic] = append(exact[topic], fn)
	return nil
}

// SubscribePrefix calls fn for every message on any topic starting with
// prefix ("vital/").
func SubscribePrefix(prefix string, fn func(Message)) error {
	if err := errOf(sysSubscribe(sptr(prefix), uint32(len(prefix)), abi.SubPrefix)); err != nil {
		return err
	}
	prefixes = append(prefixes, prefixSub{prefix, fn})
	return nil
}

// Unsubscribe removes an exact subscription and its handlers.
func Unsubscribe(topic string) error {
	delete(exact, topic)
	return errOf(sysUnsubscribe(sptr(topic), uint32(len(topic)), 0))
}

// Publish sends data on a queue topic (created if new). abi.EAGAIN means a
// slow subscriber's copy was dropped and counted.
func Publish(topic string, data []byte) error {
	return errOf(sysPublish(sptr(topic), uint32(len(topic)), bptr(data), uint32(len(data)), abi.KindAny))
}

// PublishLatest sets the retained value of a latest-value topic.
func PublishLatest(topic string, data []byte) error {
	return errOf(sysPublish(sptr(topic), uint32(len(topic)), bptr(data), uint32(len(data)), abi.KindLatest))
}

// PublishCluster sets a cluster-scoped latest-value topic: the value
// replicates to every node of the cluster (abi.ENOTSUP on a node running
// alone).
func PublishCluster(topic string, data []byte) error {
	if err := Declare(topic, abi.KindLatest, abi.ScopeCluster); err != nil {
		return err
	}
	return PublishLatest(topic, data)
}

// Declare creates a topic with a kind (abi.KindQueue, abi.KindLatest) and
// scope (abi.ScopeLocal, abi.ScopeCluster).
func Declare(topic string, kind, scope uint32) error {
	return errOf(sysTopicDeclare(sptr(topic), uint32(len(topic)), kind, scope))
}

// scratch receives variable-length results; big ones go through result_take.
var scratch = make([]byte, 4096)

func result(call func(buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32) ([]byte, error) {
	var n uint32
	e := abi.Errno(call(bptr(scratch), uint32(len(scratch)), unsafe.Pointer(&n)))
	if e == abi.E2BIG {
		b := make([]byte, n)
		e = abi.Errno(sysResultTake(bptr(b), n, unsafe.Pointer(&n)))
		if e != abi.OK {
			return nil, e
		}
		return b[:n], nil
	}
	if e != abi.OK {
		return nil, e
	}
	return append([]byte{}, scratch[:n]...), nil
}

// GetTopic reads a topic's last value without subscribing.
func GetTopic(topic string) (data []byte, seq uint64, err error) {
	data, err = result(func(buf unsafe.Pointer, c uint32, lenOut unsafe.Pointer) uint32 {
		return sysTopicGet(sptr(topic), uint32(len(topic)), buf, c, lenOut, unsafe.Pointer(&seq))
	})
	return data, seq, err
}

// Timer is a running timer.
type Timer struct {
	id uint64
	fn func()
}

// Stop cancels the timer.
func (t *Timer) Stop() error {
	delete(timers, t.id)
	return errOf(sysTimerCancel(int64(t.id)))
}

func setTimer(delay, period time.Duration, fn func()) (*Timer, error) {
	var id uint64
	if err := errOf(sysTimerSet(int64(delay), int64(period), unsafe.Pointer(&id))); err != nil {
		return nil, err
	}
	t := &Timer{id, fn}
	timers[id] = t
	return t, nil
}

// Every calls fn every d. Firings never pile up: a slow module gets one.
func Every(d time.Duration, fn func()) (*Timer, error) { return setTimer(d, d, fn) }

// After calls fn once after d.
func After(d time.Duration, fn func()) (*Timer, error) { return setTimer(d, 0, fn) }

// Get reads key from the module's durable key-value store (abi.ENOENT if
// absent).
func Get(key string) ([]byte, error) {
	return result(func(buf unsafe.Pointer, c uint32, lenOut unsafe.Pointer) uint32 {
		return sysKVGet(sptr(key), uint32(len(key)), buf, c, lenOut)
	})
}

// Put stores key=val; when it returns nil the value is on disk.
func Put(key string, val []byte) error {
	return errOf(sysKVPut(sptr(key), uint32(len(key)), bptr(val), uint32(len(val))))
}

// Delete removes key.
func Delete(key string) error { return errOf(sysKVDelete(sptr(key), uint32(len(key)))) }

// List returns the keys starting with prefix, in byte order.
func List(prefix string) ([]string, error) {
	return stringList(func(buf unsafe.Pointer, c uint32, lenOut unsafe.Pointer) uint32 {
		return sysKVList(sptr(prefix), uint32(len(prefix)), buf, c, lenOut)
	})
}

// stringList fetches a length-prefixed list result (kv_list, fs_list).
func stringList(call func(buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32) ([]string, error) {
	raw, err := result(call)
	if err != nil {
		return nil, err
	}
	items, err := abi.DecodeList(raw)
	if err != nil {
		return nil, abi.EIO
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it)
	}
	return out, nil
}

// Call sends req to the module named module and returns its reply. The
// callee is looked up at call time (a hot-swapped callee answers in its new
// version). timeout 0 means the host default.
func Call(module string, req []byte, timeout time.Duration) ([]byte, error) {
	return result(func(buf unsafe.Pointer, c uint32, lenOut unsafe.Pointer) uint32 {
		return sysCall(sptr(module), uint32(len(module)), bptr(req), uint32(len(req)), buf, c, lenOut, int32(timeout/time.Millisecond))
	})
}

// HandleCall registers the handler for calls from other modules (and from
// `pkhost module call`). A returned error reaches the caller as
// abi.ECALLFAILED.
func HandleCall(fn func(from string, req []byte) ([]byte, error)) {
	callFn = func(c abi.Call) abi.Errno {
		reply, err := fn(c.From, c.Request)
		if err != nil {
			return errnoOf(err)
		}
		return abi.Errno(sysCallReply(int64(c.ID), bptr(reply), uint32(len(reply))))
	}
}

// Self returns this instance's self_info JSON.
func Self() ([]byte, error) { return result(sysSelfInfo) }

// NodeStatus returns the node status JSON (needs the "node" grant).
func NodeStatus() ([]byte, error) { return result(sysNodeStatus) }

// Monotonic is the time since the node started.
func Monotonic() time.Duration {
	var v uint64
	sysClockNow(abi.ClockMonotonic, unsafe.Pointer(&v))
	return time.Duration(v)
}

// Random fills b with secure random bytes.
func Random(b []byte) error { return errOf(sysRandomFill(bptr(b), uint32(len(b)))) }

// Log writes a structured record; kv alternates keys and values.
func Log(level int32, msg string, kv ...string) {
	var attrs []byte
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = abi.AppendList(attrs, []byte(kv[i]), []byte(kv[i+1]))
	}
	sysLog(level, sptr(msg), uint32(len(msg)), bptr(attrs), uint32(len(attrs)))
}

// Debug, Info, Warn and Error log at their level.
func Debug(msg string, kv ...string) { Log(abi.LevelDebug, msg, kv...) }
func Info(msg string, kv ...string)  { Log(abi.LevelInfo, msg, kv...) }
func Warn(msg string, kv ...string)  { Log(abi.LevelWarn, msg, kv...) }
func Error(msg string, kv ...string) { Log(abi.LevelError, msg, kv...) }

// dispatch routes one event to the registered handlers.
func dispatch(kind abi.EventKind, b []byte) abi.Errno {
	switch kind {
	case abi.EventMessage:
		m, err := abi.DecodeMessage(b)
		if err != nil {
			return abi.EINVAL
		}
		msg := Message{Topic: m.Topic, Seq: m.Seq, Data: m.Payload,
			Retained: m.Flags&abi.MsgRetained != 0, Latest: m.Flags&abi.MsgLatest != 0}
		for _, fn := range exact[m.Topic] {
			fn(msg)
		}
		for _, p := range prefixes {
			if strings.HasPrefix(m.Topic, p.prefix) {
				p.fn(msg)
			}
		}
	case abi.EventTimer:
		t, err := abi.DecodeTimer(b)
		if err != nil {
			return abi.EINVAL
		}
		if tm := timers[t.ID]; tm != nil {
			tm.fn()
		}
	case abi.EventCall:
		c, err := abi.DecodeCall(b)
		if err != nil {
			return abi.EINVAL
		}
		if callFn == nil {
			return abi.ENOENT
		}
		return callFn(c)
	case abi.EventLifecycle:
		l, err := abi.DecodeLifecycle(b)
		if err != nil {
			return abi.EINVAL
		}
		switch {
		case l.Code == abi.LifeStarted && startFn != nil:
			startFn(l.Reason)
		case l.Code == abi.LifeStopping && stopFn != nil:
			stopFn(l.Reason)
		}
	}
	return abi.OK
}
