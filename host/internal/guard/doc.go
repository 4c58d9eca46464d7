// Package guard rewrites WebAssembly binaries at load time so that the host
// can interrupt runaway guests cheaply and bound their memory.
//
// It owns one transformation, [Instrument], which:
//
//   - appends a mutable i32 global, exported as [InterruptGlobal], and
//     checks it at the entry of every function and the head of every loop.
//     Setting it to a non-zero value from the host, from any goroutine,
//     makes the guest trap with "unreachable" at its next call or loop
//     iteration. The flag is a latch: only the host clears it.
//   - makes the guest yield to the Go runtime every 16384 function entries
//     or loop iterations. wazero's compiler runs guest code that Go cannot
//     preempt, so a guest that never returns to Go blocks every
//     stop-the-world, and therefore the garbage collector and the whole
//     process, including the goroutine that would raise the flag. The yield
//     is `table.grow` by zero on a table the rewriter adds, an operation
//     wazero performs in Go. It counts with a second appended global (calls)
//     and an appended local in each function (loop iterations).
//   - caps the maximum of every memory, defined or imported, at
//     [Options].MaxMemoryPages.
//
// Everything is appended at the end of its index space (globals, tables,
// locals) and no import is added, so every existing index stays valid and
// the rewritten module behaves exactly like the original until the flag is
// raised. The output needs the reference-types feature (a second table and
// table.grow), which wazero's default CoreFeaturesV2 includes.
//
// The package imports only the standard library. It is safe for concurrent
// use: [Instrument] is a pure function of its arguments and the package
// holds no mutable state.
package guard
