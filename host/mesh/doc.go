// Package mesh owns the links between nodes: one UDP port per node, QUIC
// (quic-go) over it, TLS 1.3 with mutual authentication, and on each
// connection reliable streams (multiplexed by a protocol byte) and
// unreliable datagrams. It knows nothing of what travels on them;
// membership, consensus and p-fs sit on top.
//
// # Who may connect
//
// A node is its Ed25519 key; its id is NodeID(public key). A cluster is its
// secret (SecretSize random bytes, passed around as a Token). From the
// secret every node derives the same "cluster CA" key (BLAKE3 derive-key
// with a fixed context, used as an Ed25519 seed) and the same self-signed
// CA certificate. Each node issues itself a short-lived certificate
// (24 h, renewed at half-life, backdated an hour for clock skew) for its own
// node key, signed by that CA. Both sides of every handshake present
// their certificate and verify the other's with the standard x509
// verifier against the CA alone (no InsecureSkipVerify anywhere): chain,
// validity period and key usage; then the key must be Ed25519 and the
// ALPN "pk/1". The peer's id is computed from the key in its verified
// certificate, and TLS has proved that the peer holds that key, so
// Stream.Peer and the peer argument of datagram handlers are
// authenticated. There is no session resumption and no 0-RTT: every
// connection runs the full check.
//
// A node without the secret can neither make a certificate we accept nor
// verify ours, so the handshake fails (ErrHandshake) and quic-go never
// hands us the connection: no stream or datagram of a stranger reaches a
// handler. What a stranger does see is our certificate (TLS 1.3 sends the
// server's before it asks for the client's): our node id and the
// cluster's CA fingerprint, not the secret. Anyone holding the secret can
// join under any key, so the secret is the cluster's one password:
// changing it means handing a new token to every node. Garbage packets
// never get past quic-go's header parsing and decryption.
//
// # Connections
//
// There is one connection per peer address, reused by every stream and
// datagram to it; connections the peer made count too (a node dials from
// its listening port, so its address is the same either way). Concurrent
// Dials to one address share one attempt; unreachable peers are retried
// with exponential backoff (50 ms doubling to 2 s) until the caller's
// context ends. Keep-alives hold idle links open; a silent peer is dropped
// after Config.IdleTimeout and the next Dial reconnects. The stateless
// reset key is derived from the node key, so a node restarted with the
// same identity resets its previous incarnation's connections at once.
//
// # Concurrency
//
// A Mesh is safe for concurrent use. Each accepted stream runs its handler
// on its own goroutine; datagram handlers run on one goroutine per
// connection. Close waits for every goroutine the mesh started, handlers
// included. A Stream is a net.Conn: one reader and one writer may use it
// at once.
//
// # Time
//
// The mesh's UDP port also answers SNTP time requests (see host/sntp), so
// that a machine without a real-time clock can set it from a seed before
// its certificates can be valid. The answer is not authenticated.
//
// Imports: quic-go, blake3, host/sntp and the standard library.
package mesh
