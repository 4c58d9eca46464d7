// Package sim holds in-process simulations of cluster membership and gossip
// at scale: up to a thousand real memberlist instances (host/member) over an
// in-memory network, and thousands of replica stores (host/replica) doing
// simulated anti-entropy rounds. They measure convergence time against
// cluster size and check that the survivors of a 90% loss converge on the new
// membership. Results are recorded in README.md. Nothing imports this
// package.
package sim
