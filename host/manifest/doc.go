// Package manifest is the cluster manifest: the replicated state machine
// behind consensus. It holds which module versions the cluster runs (name →
// version hash, generation, grants and limits, placement, rollout state),
// every module's history of versions, and cluster settings.
//
// It is a pure, deterministic state machine in the etcd-raft style: [State]
// changes only through [State.Apply] of encoded [Command]s, which must give
// the same result on every node for the same sequence, so Apply takes its
// time from the command, never from the clock. [State.Merge] reconciles two
// manifests that diverged while a partition let both sides re-form consensus:
// per module, last writer wins by hybrid logical clock, and the losing entry
// is kept in the module's history, so no acknowledged change disappears
// silently.
//
// It imports only the stdlib and is not safe for concurrent use: the raft
// FSM wrapper serialises access.
package manifest
