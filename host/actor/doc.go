// Package actor runs modules as supervised actors: each loaded module is an
// [Actor] with a bounded mailbox, served one event at a time (message, timer,
// call, lifecycle) by its current wasm instance.
//
// It owns supervision (a crash restarts the module from its last snapshot
// with exponential backoff; a crash loop quarantines it), hot swap (a new
// version is compiled, instantiated and initialised off the critical path,
// then, between two events, the old instance's snapshot is restored into the
// new one and the new one takes over the same mailbox, so no event is lost
// or duplicated), periodic checkpoints (kept in memory and in the node's
// store), timers, calls between modules (resolved at call time, with
// deadlock detection), and the per-instance [syscall.Host].
//
// Concurrency: each actor has one goroutine that owns its instance; other
// goroutines talk to it through the mailbox and a control channel. [System]
// methods are safe for concurrent use.
//
// Imports: abi, host/runtime, host/bus, host/store, host/syscall.
package actor
