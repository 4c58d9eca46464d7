// Package abi is the contract between the p-kernel host (pkhost) and its wasm
// guests: the import-module name, every syscall's name, signature and
// capability group, the error codes, the event kinds and their byte layouts,
// the limits, and the ABI version.
//
// It is the shared vocabulary of host/ and sdk/: it imports only the standard
// library and builds both for the host and for GOOS=wasip1. It holds no state,
// so everything in it is safe for concurrent use.
//
// The full reference, one section per syscall, is abi/README.md; a test keeps
// that page and [Syscalls] in step.
//
// # Shape of the contract
//
// All host functions live in one import module, [ImportModule] ("pk"). Every
// pointer and length is a wasm i32 offset into the guest's exported "memory";
// every syscall returns an [Errno] as i32 (0 is success). Integers in guest
// memory are little-endian.
//
// A guest exports:
//
//	pk_abi_version() -> i32            (Major<<16 | Minor) the ABI it was built for
//	pk_alloc(size i32) -> i32          a buffer the host may fill (0: out of memory)
//	pk_init() -> i32                   Errno; subscribe, set timers, read kv here
//	pk_event(kind, ptr, len i32) -> i32  handle one event (see [EventKind])
//	pk_snapshot() -> i32               optional: hand state over with snapshot_write
//	pk_restore(ptr, len i32) -> i32    optional: take state back after restart/swap
//	memory                             the linear memory
//	_initialize                        optional: WASI reactor start, called first
package abi

// ImportModule is the wasm import-module name under which the host exports
// every syscall.
const ImportModule = "pk"

// The ABI version. A guest built for a different Major is refused at load;
// a guest built for a newer Minor of the same Major is refused too (it may
// call syscalls this host lacks), an older Minor is accepted.
const (
	Major = 1
	Minor = 1 // 1.1 added the fs group
)

// Version packs a major and minor version the way pk_abi_version returns it.
func Version(major, minor uint16) uint32 { return uint32(major)<<16 | uint32(minor) }

// SplitVersion is the inverse of [Version].
func SplitVersion(v uint32) (major, minor uint16) { return uint16(v >> 16), uint16(v) }

// Names of the functions a guest exports.
const (
	ExportABIVersion = "pk_abi_version"
	ExportAlloc      = "pk_alloc"
	ExportInit       = "pk_init"
	ExportEvent      = "pk_event"
	ExportSnapshot   = "pk_snapshot"
	ExportRestore    = "pk_restore"
	ExportMemory     = "memory"
	ExportInitialize = "_initialize" // WASI reactor initialiser
)

// Limits enforced by the host. A syscall that exceeds one returns the Errno
// named beside it.
const (
	MaxTopicLen    = 255        // ENAMETOOLONG
	MaxPayload     = 4 << 20    // EMSGSIZE; messages, call requests and replies, snapshots
	MaxKeyLen      = 1024       // ENAMETOOLONG
	MaxValueLen    = 4 << 20    // EMSGSIZE
	MaxModuleName  = 64         // ENAMETOOLONG
	MaxTimers      = 1024       // ENOMEM: live timers per module
	MaxSubs        = 1024       // ENOMEM: subscriptions per module
	MaxLogLen      = 16 << 10   // longer log messages are truncated, not refused
	MinTimer       = 1_000_000  // ns; shorter delays and periods are raised to 1 ms
	MaxSnapshot    = MaxPayload // EMSGSIZE from snapshot_write
	MinEventBuffer = 16         // EINVAL from event_buffer below this (0 unregisters)
	SysTopicRoot   = "sys/"     // topics under it are published by the host only (EPERM)
)

// p-fs as modules see it (the fs group, since ABI v1.1).
const (
	FSNamespace = "shared"   // the one p-fs namespace modules read and write
	MaxFSName   = 4096       // ENAMETOOLONG: p-fs names and list prefixes, in bytes
	MaxFSRead   = MaxPayload // fs_read returns at most this many bytes per call
	FSIDSize    = 32         // a content id: the BLAKE3-256 of the file object
	FSStatSize  = 56         // bytes fs_stat writes: see [FSStat]
)
