// Package pfs is p-fs: a content-addressed, erasure-coded, replicated,
// history-preserving file system for the cluster.
//
// The library knows nothing of wasm or QUIC. Its sub-packages each own one
// job:
//
//	cid         content ids (BLAKE3-256) and their printable form
//	chunk       cutting streams into chunks: fixed size and FastCDC
//	object      File and Dir manifests, their canonical encoding, file trees
//	blockstore  the Store interface and the memory store
//	  disk      the on-disk store (atomic writes, verified reads)
//	  storetest the conformance suite every Store passes
//	pfsfs       the io/fs view of a tree, and importing one from an fs.FS
//	erasure     Reed-Solomon stripes, shard verification and repair, coding policy
//	place       rendezvous placement: which nodes hold a chunk's blocks
//	names       names in namespaces with their history of versions, retention
//	vol         the volume engine: put, read, repair, scrub and GC over a
//	            Cluster and Names the host implements
//
// Remote peers come in through interfaces the host implements.
//
// Imports: engines (blake3, reedsolomon) and the standard library.
package pfs
