// Package consensus runs the cluster manifest (host/manifest) on
// hashicorp/raft: the FSM wrapper, the bolt log and stable stores and file
// snapshots in the node's data directory, a raft transport over any stream
// layer (the node gives it QUIC streams from host/mesh; tests use TCP), and
// the leader's housekeeping: promoting non-voters up to the configured
// number of voters and replacing dead voters.
//
// A [Consensus] is safe for concurrent use. Imports: host/manifest,
// hashicorp/raft, raft-boltdb, hclog and the stdlib.
package consensus
