// Package cluster joins a node to the collective: the cluster secret and
// join tokens, the QUIC mesh (host/mesh), SWIM membership riding it
// (host/member), raft consensus on the cluster manifest over mesh streams
// (host/consensus), and the node-to-node RPCs that glue them (join, forward
// a manifest write to the leader, fetch module bytes by hash).
//
// A [Cluster] is safe for concurrent use. Imports: host/mesh, host/member,
// host/consensus, host/manifest, raft (for its stream layer type), blake3,
// and the stdlib.
package cluster
