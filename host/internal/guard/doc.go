// Package guard rewrites WebAssembly binaries at load time so that the host
// can interrupt runaway guests cheaply and bound their memory.
//
// It owns one transformation, [Instrument]:
//
//   - it appends a mutable i32 global, exported as [InterruptGlobal], and
//     inserts a check of that global at the entry of every function and at
//     the head of every loop. Setting the global to a non-zero value from
//     the host (from any goroutine) makes the guest trap with "unreachable"
//     at its next call or loop iteration. Only the host resets it to 0.
//   - it caps the maximum of every memory, defined or imported, at
//     [Options].MaxMemoryPages.
//
// Function, type, table, memory and global indices are left unchanged, so
// the rewritten module links and behaves exactly like the original until
// the interrupt flag is raised.
//
// The package imports only the standard library. It is safe for concurrent
// use: [Instrument] is a pure function of its arguments and the package
// holds no mutable state.
package guard
