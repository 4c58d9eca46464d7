// Package bus is K-DDS, the node's message bus: named topics of two kinds
// (queue and latest), exact and prefix subscriptions, backpressure, and the
// counters that make every drop visible.
//
// A topic has a kind and a scope. Queue topics deliver each message once to
// every subscriber through the subscriber's bounded queue; when a queue stays
// full for the publisher's backpressure wait, that copy is dropped, counted
// on the topic and the subscription, and Publish says so (never silent loss).
// Latest topics retain one value with a sequence number; subscribers are
// notified and read the newest value when they get to it, so a slow reader
// coalesces instead of dropping, and a new subscriber gets the current value
// at once. Scope is carried for the collective (cluster-scoped topics are
// replicated by gossip); this package implements the local part.
//
// The bus does not know what a subscriber is: actors and the control API both
// implement [Subscriber]. All methods are safe for concurrent use.
// Imports: stdlib and abi.
package bus
