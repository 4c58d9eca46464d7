// Package boot holds the boot tests: images built by boot/image booted under
// QEMU (software emulation), read through their serial consoles. They run
// when PK_BOOT_TESTS=1 (.ci/run sets it); a missing QEMU then fails the
// test rather than skipping it when CI=true.
package boot
