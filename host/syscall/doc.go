// Package syscall is the host side of every pk syscall: the "pk" host module
// registered in wazero, one file per syscall family. It is the one place that
// reads and writes guest memory for syscalls and maps failures to
// [abi.Errno]: every pointer/length pair is bounds-checked (EFAULT), every
// name and size validated, and no argument a guest passes can make the host
// panic.
//
// The semantics (topics, timers, storage, calls) live behind the [Host]
// interface, which the actor layer implements once per instance and puts in
// the context of every call into the guest ([WithHost]). Slices handed to a
// Host alias guest memory and are valid only during the method call; this
// package copies whatever the Host must keep (published payloads, call
// requests and replies, snapshot pieces, files put).
//
// Imports: abi and wazero's api only.
package syscall
