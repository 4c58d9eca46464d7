// Package polyglot holds one tiny p-kernel guest per language (C, WAT,
// AssemblyScript, Zig, Rust), all with identical behaviour, their committed
// builds under testdata/, and the tests that check them against the ABI.
//
// It has no Go API; it exists for its tests and fixtures. Every guest imports
// only from module "pk" (no WASI), exports memory, pk_abi_version (0x00010000),
// pk_alloc, pk_init, pk_event, pk_snapshot and pk_restore, and behaves so:
//
//   - pk_alloc(size): one static 64 KiB arena, or 0 when size > 65536.
//   - pk_init: event_buffer(static 64 KiB buffer), subscribe("poly/<lang>/in",
//     flags 0), log(0, "ready"); returns the first failing errno, else 0.
//   - pk_event MESSAGE: increments a u32 counter (wrapping) and publishes
//     "<lang>:<payload>:<counter in decimal>" to "poly/<lang>/out" with kind 0,
//     returning publish's errno; EINVAL for a truncated event (the counter is
//     unchanged), EMSGSIZE for a payload over 64 KiB.
//   - pk_event CALL: call_reply(call_id, counter in decimal), returns 0
//     whatever call_reply returned; EINVAL for a truncated event.
//   - pk_event, any other kind: returns 0.
//   - pk_snapshot: snapshot_write(counter as u32 little-endian), returns its
//     errno. pk_restore(ptr, len): len 4 loads the counter and returns 0; any
//     other length returns EINVAL (2).
//
// build.sh rebuilds testdata/<lang>.wasm from <lang>/ (it records the exact
// commands), ci-setup.sh installs the toolchains and check-rebuild.sh checks
// that a rebuild has the committed fixtures' imports, exports and behaviour.
// The C guest uses the SDK header sdk/c/pk.h, which the tests also check
// against package abi.
package polyglot
