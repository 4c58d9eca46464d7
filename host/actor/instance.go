package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/p-kernel/p-kernel/abi"
	"github.com/p-kernel/p-kernel/host/bus"
	"github.com/p-kernel/p-kernel/host/runtime"
	"github.com/p-kernel/p-kernel/host/store"
	"github.com/p-kernel/p-kernel/host/syscall"
)

// instance is one wasm instance of an actor and the [syscall.Host] its
// syscalls act on. Only the actor goroutine touches it once it is live;
// before that, only the goroutine preparing it.
type instance struct {
	a       *Actor
	gen     uint64
	rt      *runtime.Instance
	kept    syscall.Kept
	live    bool
	subs    []bus.Subscription
	timers  map[uint64]*timer
	scratch []byte

	call  *callReq // the call being handled
	chain []string // modules waiting on this one in the current call chain

	snapping bool
	snap     []byte
	snapErr  abi.Errno
}

func newInstance(a *Actor, gen uint64) *instance {
	return &instance{a: a, gen: gen, timers: map[uint64]*timer{}}
}

func (in *instance) context() context.Context {
	return syscall.WithHost(context.Background(), in)
}

// goLive starts the timers set during init.
func (in *instance) goLive() {
	in.live = true
	for _, t := range in.timers {
		t.start(in.a)
	}
}

func (in *instance) close() {
	for _, t := range in.timers {
		t.stop()
	}
	in.timers = map[uint64]*timer{}
	if in.rt != nil {
		in.rt.Close(context.Background())
	}
}

// Kept implements [syscall.Host].
func (in *instance) Kept() *syscall.Kept { return &in.kept }

// SetEventBuffer implements [syscall.Host].
func (in *instance) SetEventBuffer(ptr, cap uint32) abi.Errno { return in.rt.SetEventBuffer(ptr, cap) }

// SnapshotWrite implements [syscall.Host].
func (in *instance) SnapshotWrite(p []byte) abi.Errno {
	if !in.snapping {
		return abi.ESTATE
	}
	if len(in.snap)+len(p) > abi.MaxSnapshot {
		in.snapErr = abi.EMSGSIZE
		return abi.EMSGSIZE
	}
	in.snap = append(in.snap, p...)
	return abi.OK
}

// SelfInfo implements [syscall.Host].
func (in *instance) SelfInfo() []byte {
	return mustJSON(map[string]any{
		"node": in.a.sys.cfg.NodeID, "module": in.a.name, "version": in.rt.Module.Hash.String(),
		"generation": in.gen, "abi": fmt.Sprintf("%d.%d", abi.Major, abi.Minor),
	})
}

// Log implements [syscall.Host].
func (in *instance) Log(level slog.Level, msg string, attrs []slog.Attr) {
	in.a.log.LogAttrs(context.Background(), level, msg, attrs...)
	var sb strings.Builder
	sb.WriteString(msg)
	for _, at := range attrs {
		sb.WriteString(" ")
		sb.WriteString(at.String())
	}
	in.a.logs.add(level, sb.String())
}

// Monotonic implements [syscall.Host].
func (in *instance) Monotonic() time.Duration { return time.Since(in.a.sys.start) }

// TopicDeclare implements [syscall.Host].
func (in *instance) TopicDeclare(topic string, kind, scope uint32) abi.Errno {
	if strings.HasPrefix(topic, abi.SysTopicRoot) {
		return abi.EPERM
	}
	_, e := in.a.sys.cfg.Bus.Declare(topic, kind, scope)
	return e
}

// Publish implements [syscall.Host].
func (in *instance) Publish(topic string, data []byte, kind uint32) abi.Errno {
	if strings.HasPrefix(topic, abi.SysTopicRoot) {
		return abi.EPERM
	}
	wait := in.a.sys.policy.PublishWait
	if r := in.rt.Remaining(); r > 0 {
		wait = min(wait, r/2)
	}
	_, e := in.a.sys.cfg.Bus.Publish(in.a, topic, data, kind, wait)
	return e
}

// Subscribe implements [syscall.Host]. Before the instance is live the
// subscription is only recorded; commit makes the recorded set current.
func (in *instance) Subscribe(topic string, flags uint32) abi.Errno {
	s := bus.Subscription{Name: topic, Prefix: flags&abi.SubPrefix != 0}
	if slices.Contains(in.subs, s) {
		return abi.OK
	}
	if len(in.subs) >= abi.MaxSubs {
		return abi.ENOMEM
	}
	if in.live {
		if e := in.a.sys.cfg.Bus.Subscribe(in.a, s.Name, s.Prefix); e != abi.OK {
			return e
		}
	}
	in.subs = append(in.subs, s)
	return abi.OK
}

// Unsubscribe implements [syscall.Host].
func (in *instance) Unsubscribe(topic string, flags uint32) abi.Errno {
	s := bus.Subscription{Name: topic, Prefix: flags&abi.SubPrefix != 0}
	i := slices.Index(in.subs, s)
	if i < 0 {
		return abi.ENOENT
	}
	in.subs = slices.Delete(in.subs, i, i+1)
	if in.live {
		in.a.sys.cfg.Bus.Unsubscribe(in.a, s.Name, s.Prefix)
	}
	return abi.OK
}

// TopicGet implements [syscall.Host].
func (in *instance) TopicGet(topic string) ([]byte, uint64, abi.Errno) {
	return in.a.sys.cfg.Bus.Get(topic)
}

// TimerSet implements [syscall.Host].
func (in *instance) TimerSet(delay, period time.Duration) (uint64, abi.Errno) {
	if len(in.timers) >= abi.MaxTimers {
		return 0, abi.ENOMEM
	}
	t := &timer{id: in.a.timerIDs.Add(1), delay: delay, period: period}
	in.timers[t.id] = t
	if in.live {
		t.start(in.a)
	}
	return t.id, abi.OK
}

// TimerCancel implements [syscall.Host].
func (in *instance) TimerCancel(id uint64) abi.Errno {
	t := in.timers[id]
	if t == nil {
		return abi.ENOENT
	}
	t.stop()
	delete(in.timers, id)
	return abi.OK
}

func (in *instance) kvErr(err error) abi.Errno {
	switch {
	case err == nil:
		return abi.OK
	case errors.Is(err, store.ErrNotFound):
		return abi.ENOENT
	}
	in.a.log.Error("kv store", "err", err)
	return abi.EIO
}

// KVGet implements [syscall.Host].
func (in *instance) KVGet(key []byte) ([]byte, abi.Errno) {
	v, err := in.a.sys.cfg.Store.Get(store.KV(in.a.name), key)
	return v, in.kvErr(err)
}

// KVPut implements [syscall.Host].
func (in *instance) KVPut(key, val []byte) abi.Errno {
	return in.kvErr(in.a.sys.cfg.Store.Put(store.KV(in.a.name), key, val))
}

// KVDelete implements [syscall.Host].
func (in *instance) KVDelete(key []byte) abi.Errno {
	return in.kvErr(in.a.sys.cfg.Store.Delete(store.KV(in.a.name), key))
}

// KVList implements [syscall.Host].
func (in *instance) KVList(prefix []byte) ([][]byte, abi.Errno) {
	keys, err := in.a.sys.cfg.Store.Keys(store.KV(in.a.name), prefix)
	return keys, in.kvErr(err)
}

// Call implements [syscall.Host]: the wait never outlasts the caller's own
// budget, so a slow callee cannot get the caller interrupted.
func (in *instance) Call(module string, req []byte, timeout time.Duration) ([]byte, abi.Errno) {
	if timeout <= 0 {
		timeout = in.a.sys.policy.CallTimeout
	}
	if r := in.rt.Remaining(); r > 0 {
		timeout = min(timeout, r-r/10)
	}
	if timeout <= 0 {
		return nil, abi.ETIMEDOUT
	}
	return in.a.sys.route(in.a.name, in.chain, module, req, timeout)
}

// CallReply implements [syscall.Host].
func (in *instance) CallReply(id uint64, data []byte) abi.Errno {
	c := in.call
	if c == nil || c.id != id || c.replied {
		return abi.ESTATE
	}
	c.replied, c.replyData = true, data
	return abi.OK
}

// NodeStatus implements [syscall.Host].
func (in *instance) NodeStatus() []byte { return in.a.sys.nodeStatus() }

// timer is one timer of an instance.
type timer struct {
	id     uint64
	delay  time.Duration
	period time.Duration

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (t *timer) start(a *Actor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.t = time.AfterFunc(t.delay, func() { t.fire(a) })
	}
}

func (t *timer) fire(a *Actor) {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	if t.period > 0 {
		t.t.Reset(t.period)
	}
	t.mu.Unlock()
	a.notifyTimer(t.id)
}

func (t *timer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.t != nil {
		t.t.Stop()
	}
}
