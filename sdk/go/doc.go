//go:build wasip1

// Package pk is the Go SDK for p-kernel guests: modules built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mod.wasm .
//
// A guest is a WASI reactor. It registers its start function in init and
// leaves main empty:
//
//	func init() {
//		pk.Init(func() error {
//			return pk.Subscribe("sensor/raw", func(m pk.Message) {
//				pk.Publish("sensor/seen", m.Data)
//			})
//		})
//	}
//
//	func main() {}
//
// The SDK exports the guest half of the ABI (pk_abi_version, pk_alloc,
// pk_init, pk_event, pk_snapshot, pk_restore; see abi/README.md) and wraps
// every syscall in an idiomatic call: Subscribe, Publish, PublishLatest,
// Every, After, Get/Put/Delete/List (the module's durable key-value store),
// Call and HandleCall, the log functions, OnSnapshot/OnRestore for state
// handed over across restarts and hot swaps, and FSPut/FSRead/FSReadAll/
// FSStat/FSList/FSRemove for the cluster file system (the "fs" grant).
//
// Handlers run one at a time on the module's single thread; the SDK is not
// safe for use from goroutines the guest starts. Slices passed to handlers
// (Message.Data, call requests) alias a host-written buffer and are valid
// only until the handler returns: copy what you keep.
//
// Only syscalls the module actually calls are imported (Go drops the rest at
// link time), so a module needs grants only for what it uses.
package pk
