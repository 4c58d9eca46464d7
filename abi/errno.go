package abi

// Errno is the result of every syscall: 0 for success, or one of the codes
// below. Codes are stable across minor versions; new ones are only added.
type Errno uint32

// The error codes. abi/README.md says, per syscall, which ones it returns.
const (
	OK           Errno = 0  // success
	EFAULT       Errno = 1  // a pointer/length pair is outside guest memory
	EINVAL       Errno = 2  // an argument is invalid (bad flag, empty name, bad UTF-8, ...)
	E2BIG        Errno = 3  // the result does not fit the buffer; its length was written, fetch it with result_take
	ENOENT       Errno = 4  // no such key, value, topic value, timer, module or file
	EPERM        Errno = 5  // not allowed: publishing or declaring under sys/
	EAGAIN       Errno = 6  // backpressure: a subscriber's queue stayed full; copies were dropped and counted
	ETIMEDOUT    Errno = 7  // the operation did not finish in time (call, backpressure wait)
	ENAMETOOLONG Errno = 8  // a topic, key or module name is too long
	EMSGSIZE     Errno = 9  // a payload, value, request, reply or snapshot is too large
	EDEADLK      Errno = 10 // a call would wait on a module already waiting in this call chain
	EKIND        Errno = 11 // the topic exists with another kind (queue vs latest)
	ESTATE       Errno = 12 // not valid now (e.g. snapshot_write outside pk_snapshot)
	ECALLFAILED  Errno = 13 // the callee trapped, ran out of budget, or returned a non-zero code
	EUNAVAILABLE Errno = 14 // the target is not reachable now: a module not running, p-fs data on too few live nodes
	EIO          Errno = 15 // the host's storage failed; nothing was written
	ENOMEM       Errno = 16 // a per-module host resource limit was reached (timers, subscriptions)
	ESHUTDOWN    Errno = 17 // the node or the module is stopping
	ENOTSUP      Errno = 18 // valid in this ABI but not supported by this host (e.g. cluster scope on a lone node)
)

var errnoNames = [...]string{
	OK: "OK", EFAULT: "EFAULT", EINVAL: "EINVAL", E2BIG: "E2BIG", ENOENT: "ENOENT",
	EPERM: "EPERM", EAGAIN: "EAGAIN", ETIMEDOUT: "ETIMEDOUT", ENAMETOOLONG: "ENAMETOOLONG",
	EMSGSIZE: "EMSGSIZE", EDEADLK: "EDEADLK", EKIND: "EKIND", ESTATE: "ESTATE",
	ECALLFAILED: "ECALLFAILED", EUNAVAILABLE: "EUNAVAILABLE", EIO: "EIO", ENOMEM: "ENOMEM",
	ESHUTDOWN: "ESHUTDOWN", ENOTSUP: "ENOTSUP",
}

var errnoText = [...]string{
	OK: "success", EFAULT: "bad guest pointer or length", EINVAL: "invalid argument",
	E2BIG: "result larger than buffer", ENOENT: "not found", EPERM: "not permitted",
	EAGAIN: "queue full (backpressure)", ETIMEDOUT: "timed out", ENAMETOOLONG: "name too long",
	EMSGSIZE: "payload too large", EDEADLK: "call would deadlock", EKIND: "topic kind mismatch",
	ESTATE: "not valid in this state", ECALLFAILED: "callee failed", EUNAVAILABLE: "unavailable",
	EIO: "host storage error", ENOMEM: "resource limit reached", ESHUTDOWN: "shutting down",
	ENOTSUP: "not supported",
}

// Errnos lists every defined code in order.
func Errnos() []Errno {
	out := make([]Errno, len(errnoNames))
	for i := range errnoNames {
		out[i] = Errno(i)
	}
	return out
}

// Name returns the symbolic name ("EFAULT"), or "E<n>" for an unknown code.
func (e Errno) Name() string {
	if int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return "E" + utoa(uint64(e))
}

// Error makes Errno an error: "EFAULT: bad guest pointer or length".
func (e Errno) Error() string {
	if int(e) < len(errnoText) {
		return errnoNames[e] + ": " + errnoText[e]
	}
	return e.Name() + ": unknown error"
}

// utoa avoids strconv so that tiny guests importing abi stay tiny.
func utoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
