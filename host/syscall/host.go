package syscall

import (
	"context"
	"log/slog"
	"time"

	"github.com/p-kernel/p-kernel/abi"
)

// Host is what the syscalls act on: one guest instance and its node.
// Implementations are called on the instance's goroutine, one syscall at a
// time, and must not retain the slices they are given.
type Host interface {
	// Kept returns the instance's slot for results too big for their buffer.
	Kept() *Kept
	SetEventBuffer(ptr, cap uint32) abi.Errno
	SnapshotWrite(p []byte) abi.Errno
	SelfInfo() []byte
	Log(level slog.Level, msg string, attrs []slog.Attr)
	Monotonic() time.Duration

	TopicDeclare(topic string, kind, scope uint32) abi.Errno
	Publish(topic string, data []byte, kind uint32) abi.Errno // data is a copy the host may keep
	Subscribe(topic string, flags uint32) abi.Errno
	Unsubscribe(topic string, flags uint32) abi.Errno
	TopicGet(topic string) (value []byte, seq uint64, e abi.Errno)

	TimerSet(delay, period time.Duration) (uint64, abi.Errno)
	TimerCancel(id uint64) abi.Errno

	KVGet(key []byte) ([]byte, abi.Errno)
	KVPut(key, val []byte) abi.Errno
	KVDelete(key []byte) abi.Errno
	KVList(prefix []byte) ([][]byte, abi.Errno)

	Call(module string, req []byte, timeout time.Duration) ([]byte, abi.Errno) // req is a copy
	CallReply(id uint64, data []byte) abi.Errno                                // data is a copy

	NodeStatus() []byte

	// The fs group (abi/README.md § fs): p-fs names in the namespace
	// abi.FSNamespace. These may block; the Host bounds the wait.
	FSPut(name string, data []byte) (id [abi.FSIDSize]byte, e abi.Errno) // data is a copy the host may keep
	FSRead(ref string, off int64, n uint32) ([]byte, abi.Errno)          // at most n bytes from off; empty at EOF
	FSStat(ref string) (abi.FSStat, abi.Errno)
	FSList(prefix string) ([]string, abi.Errno)
	FSRemove(name string) abi.Errno
}

// Kept holds a result that did not fit its buffer until result_take fetches
// it or another syscall replaces it.
type Kept struct {
	data []byte
	ok   bool
}

// Reset forgets the kept result (the host calls it at the end of an event).
func (k *Kept) Reset() { k.data, k.ok = nil, false }

type hostKey struct{}

// WithHost returns a context carrying h; calls into a guest made with it reach
// h from every syscall.
func WithHost(ctx context.Context, h Host) context.Context {
	return context.WithValue(ctx, hostKey{}, h)
}

func hostFrom(ctx context.Context) Host {
	h, _ := ctx.Value(hostKey{}).(Host)
	return h
}
