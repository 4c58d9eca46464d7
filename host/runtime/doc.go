// Package runtime owns the wasm engine of a node: one wazero runtime with an
// on-disk compilation cache, reference-counted compiled modules keyed by the
// BLAKE3 hash of their bytes, load-time checks (ABI version, grants, memory
// limit), the runaway guard, and guest instances with the ABI's calling
// convention (pk_init, pk_event, pk_snapshot, pk_restore).
//
// It knows nothing of actors, topics or the control API; the syscall host
// module is handed in by the caller (see [Config.HostModules]). It imports
// abi, host/internal/guard, wazero and blake3.
//
// A [Runtime] and its [Module]s are safe for concurrent use. An [Instance] is
// not: its owner (one actor goroutine) calls into it one event at a time; only
// [Instance.Interrupt] may be called from another goroutine.
package runtime
