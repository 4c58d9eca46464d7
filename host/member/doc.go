// Package member is the node's view of who is alive: SWIM membership with
// suspicion and incarnation numbers (hashicorp/memberlist) over a transport
// that rides the node's QUIC mesh instead of its own UDP and TCP sockets.
// Members carry metadata (version, capacity, roles). Every change is
// reported to a callback; the node publishes it on the system topic
// sys/members and derives the degrade level from it.
//
// A [List] is safe for concurrent use. Imports: memberlist and the stdlib;
// the mesh comes in through the [Network] interface.
package member
