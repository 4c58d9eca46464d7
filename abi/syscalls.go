package abi

// Group is a capability: a set of syscalls granted together. A module's
// manifest lists the groups it is granted; a module importing a syscall from
// a group it was not granted fails to load, and the error names the syscall.
type Group string

// The capability groups of ABI v1. [GroupCore] is always granted.
const (
	GroupCore   Group = "core"   // result_take, event_buffer, snapshot_write, self_info
	GroupLog    Group = "log"    // log
	GroupClock  Group = "clock"  // clock_now
	GroupRandom Group = "random" // random_fill
	GroupBus    Group = "bus"    // topic_declare, publish, subscribe, unsubscribe, topic_get
	GroupTimer  Group = "timer"  // timer_set, timer_cancel
	GroupKV     Group = "kv"     // kv_get, kv_put, kv_delete, kv_list
	GroupCall   Group = "call"   // call, call_reply
	GroupNode   Group = "node"   // node_status
	GroupFS     Group = "fs"     // fs_put, fs_read, fs_stat, fs_list, fs_remove (v1.1)
)

// Groups lists every group of this ABI version.
func Groups() []Group {
	return []Group{GroupCore, GroupLog, GroupClock, GroupRandom, GroupBus, GroupTimer, GroupKV, GroupCall, GroupNode, GroupFS}
}

// DefaultGrants is what a module gets when its manifest names no grants:
// everything but introspection of the whole node and the cluster file
// system, which reach beyond the module.
func DefaultGrants() []Group {
	return []Group{GroupCore, GroupLog, GroupClock, GroupRandom, GroupBus, GroupTimer, GroupKV, GroupCall}
}

// ValType is a wasm value type in a syscall signature.
type ValType byte

// The wasm value types used by syscalls.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
)

// Syscall describes one host function: its import name, group and wasm
// signature. Every syscall returns one i32, an [Errno].
type Syscall struct {
	Name   string
	Group  Group
	Params []ValType
	// ParamNames documents Params, one name per entry, as in abi/README.md.
	ParamNames []string
}

// Syscall names, one constant each, in the order of abi/README.md.
const (
	SysResultTake    = "result_take"
	SysEventBuffer   = "event_buffer"
	SysSnapshotWrite = "snapshot_write"
	SysSelfInfo      = "self_info"
	SysLog           = "log"
	SysClockNow      = "clock_now"
	SysRandomFill    = "random_fill"
	SysTopicDeclare  = "topic_declare"
	SysPublish       = "publish"
	SysSubscribe     = "subscribe"
	SysUnsubscribe   = "unsubscribe"
	SysTopicGet      = "topic_get"
	SysTimerSet      = "timer_set"
	SysTimerCancel   = "timer_cancel"
	SysKVGet         = "kv_get"
	SysKVPut         = "kv_put"
	SysKVDelete      = "kv_delete"
	SysKVList        = "kv_list"
	SysCall          = "call"
	SysCallReply     = "call_reply"
	SysNodeStatus    = "node_status"
	SysFSPut         = "fs_put"
	SysFSRead        = "fs_read"
	SysFSStat        = "fs_stat"
	SysFSList        = "fs_list"
	SysFSRemove      = "fs_remove"
)

func sc(name string, g Group, params ...string) Syscall {
	s := Syscall{Name: name, Group: g}
	for _, p := range params {
		t := I32
		if len(p) > 4 && p[len(p)-4:] == ":i64" {
			t, p = I64, p[:len(p)-4]
		}
		s.Params = append(s.Params, t)
		s.ParamNames = append(s.ParamNames, p)
	}
	return s
}

var syscalls = []Syscall{
	sc(SysResultTake, GroupCore, "buf", "cap", "len_out"),
	sc(SysEventBuffer, GroupCore, "ptr", "cap"),
	sc(SysSnapshotWrite, GroupCore, "ptr", "len"),
	sc(SysSelfInfo, GroupCore, "buf", "cap", "len_out"),
	sc(SysLog, GroupLog, "level", "msg", "msg_len", "attrs", "attrs_len"),
	sc(SysClockNow, GroupClock, "clock", "out"),
	sc(SysRandomFill, GroupRandom, "buf", "len"),
	sc(SysTopicDeclare, GroupBus, "topic", "topic_len", "kind", "scope"),
	sc(SysPublish, GroupBus, "topic", "topic_len", "data", "data_len", "kind"),
	sc(SysSubscribe, GroupBus, "topic", "topic_len", "flags"),
	sc(SysUnsubscribe, GroupBus, "topic", "topic_len", "flags"),
	sc(SysTopicGet, GroupBus, "topic", "topic_len", "buf", "cap", "len_out", "seq_out"),
	sc(SysTimerSet, GroupTimer, "delay_ns:i64", "period_ns:i64", "id_out"),
	sc(SysTimerCancel, GroupTimer, "id:i64"),
	sc(SysKVGet, GroupKV, "key", "key_len", "buf", "cap", "len_out"),
	sc(SysKVPut, GroupKV, "key", "key_len", "val", "val_len"),
	sc(SysKVDelete, GroupKV, "key", "key_len"),
	sc(SysKVList, GroupKV, "prefix", "prefix_len", "buf", "cap", "len_out"),
	sc(SysCall, GroupCall, "module", "module_len", "req", "req_len", "buf", "cap", "len_out", "timeout_ms"),
	sc(SysCallReply, GroupCall, "call_id:i64", "data", "data_len"),
	sc(SysNodeStatus, GroupNode, "buf", "cap", "len_out"),
	sc(SysFSPut, GroupFS, "name", "name_len", "data", "data_len", "id_out"),
	sc(SysFSRead, GroupFS, "ref", "ref_len", "offset:i64", "buf", "cap", "len_out"),
	sc(SysFSStat, GroupFS, "ref", "ref_len", "out"),
	sc(SysFSList, GroupFS, "prefix", "prefix_len", "buf", "cap", "len_out"),
	sc(SysFSRemove, GroupFS, "name", "name_len"),
}

// Syscalls returns every syscall of this ABI version, in reference order.
// The slice is a copy.
func Syscalls() []Syscall {
	out := make([]Syscall, len(syscalls))
	copy(out, syscalls)
	return out
}

// LookupSyscall finds a syscall by import name.
func LookupSyscall(name string) (Syscall, bool) {
	for _, s := range syscalls {
		if s.Name == name {
			return s, true
		}
	}
	return Syscall{}, false
}

// Topic kinds (publish and topic_declare "kind").
const (
	KindAny    = 0 // publish only: use the topic's kind; a new topic becomes a queue
	KindQueue  = 1 // every message delivered once to every subscriber, bounded, never silently lost
	KindLatest = 2 // one retained value with a sequence number; subscribers get the newest
)

// Topic scopes (topic_declare "scope").
const (
	ScopeLocal   = 0 // this node only
	ScopeCluster = 1 // replicated to every node (the collective); ENOTSUP on a host without a cluster
)

// Subscribe flags.
const (
	SubPrefix = 1 // the name is a prefix: "vital/" matches "vital/n1", "vital/n2", ...
)

// Clock ids for clock_now.
const (
	ClockRealtime  = 0 // nanoseconds since the Unix epoch
	ClockMonotonic = 1 // nanoseconds since the node started; never goes back
)

// Log levels, the numeric values of log/slog.
const (
	LevelDebug = -4
	LevelInfo  = 0
	LevelWarn  = 4
	LevelError = 8
)
