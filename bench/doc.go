// Package bench holds the cross-package benchmarks of p-kernel: event
// delivery, syscalls, the bus, hot swap, module loading and the runaway
// guard, each measured side by side with a baseline (raw wazero, a Go
// channel) in the same process. run.sh runs the suite and summarises it;
// RESULTS.md records a run and explains it.
//
// It may import anything in the module; nothing imports it. All of its code
// is in _test files, one per measurement, each with a Test that runs the
// benchmark's setup once: `go test ./bench/` runs those tests (a few
// seconds), `go test -run '^$' -bench . -benchtime=1x ./bench/` runs every
// benchmark once as a smoke test.
//
// Two helpers under host/internal cannot be imported from here (Go's
// internal rule): the Go guest is built with the same command as
// host/internal/wasmbuild, and the runaway guard is measured through
// runtime.Load, which applies host/internal/guard, next to hand-assembled
// copies of the guest that carry parts of the same instrumentation
// (wasm_test.go, guardMode).
package bench
