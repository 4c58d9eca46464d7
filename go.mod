module github.com/p-kernel/p-kernel

go 1.25.0

require (
	github.com/tetratelabs/wazero v1.12.0
	github.com/zeebo/blake3 v0.2.4
	go.etcd.io/bbolt v1.4.3
)

require (
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	golang.org/x/sys v0.44.0 // indirect
)
