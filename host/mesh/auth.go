package mesh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"
)

const (
	// alpn is the TLS application protocol; a peer speaking anything else
	// fails the handshake.
	alpn = "pk/1"
	// serverName is the one name every node certificate carries. Nodes are
	// named by their keys, not by DNS, so a constant name lets the standard
	// x509 verifier (which insists on a name) do the chain and time checks.
	serverName = "mesh.p-kernel"

	// certLifetime bounds how long a stolen certificate is good for; a node
	// renews its own at half-life. clockSkew is how far behind a peer's
	// clock may be and still accept a fresh certificate.
	certLifetime = 24 * time.Hour
	clockSkew    = time.Hour

	caKeyContext    = "p-kernel mesh v1 cluster CA key"
	resetKeyContext = "p-kernel mesh v1 stateless reset key"
)

// NodeID is a node's id: "n" and the lowercase base32 (no padding) of the
// first 80 bits of BLAKE3-256(public key).
func NodeID(pub ed25519.PublicKey) string {
	sum := blake3.Sum256(pub)
	return "n" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// cluster is what the secret gives: the cluster CA. Every node derives the
// same CA key from the secret, so every node can both issue its own
// certificate and verify everyone else's, and nobody without the secret
// can do either.
type cluster struct {
	key  ed25519.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
	fp   string // short fingerprint of the CA key, for logs and errors
}

func newCluster(secret []byte) (*cluster, error) {
	seed := make([]byte, ed25519.SeedSize)
	blake3.DeriveKey(caKeyContext, secret, seed)
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	sum := blake3.Sum256(pub)
	fp := hex.EncodeToString(sum[:6])
	// Every field is fixed and Ed25519 signatures are deterministic, so
	// every node builds the byte-identical CA certificate.
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "p-kernel cluster " + fp},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // the CA signs node certificates only
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("cluster ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cluster ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &cluster{key: key, cert: cert, pool: pool, fp: fp}, nil
}

// issue makes a node certificate for key, valid from now-clockSkew for
// lifetime, signed by the cluster CA.
func (c *cluster) issue(key ed25519.PrivateKey, now time.Time, lifetime time.Duration) (*tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: NodeID(pub)},
		DNSNames:              []string{serverName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// certSource hands out the node's current certificate and renews it at
// half-life, so long-running nodes never present an expired one.
type certSource struct {
	cl  *cluster
	key ed25519.PrivateKey

	mu      sync.Mutex
	cert    *tls.Certificate
	renewAt time.Time
}

func (s *certSource) get() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	// Reissue at half-life, and also when the clock went back to before
	// the certificate was issued (a clock that started wrong and was set
	// by a time server): that certificate is not valid yet for anyone
	// with the right time.
	if s.cert != nil && now.Before(s.renewAt) && !now.Before(s.cert.Leaf.NotBefore.Add(clockSkew)) {
		return s.cert, nil
	}
	cert, err := s.cl.issue(s.key, now, certLifetime)
	if err != nil {
		return nil, err
	}
	s.cert, s.renewAt = cert, now.Add(certLifetime/2)
	return cert, nil
}

// tlsConfig is used for both directions. The standard verifier does the
// heavy lifting on both sides (chain to the cluster CA, validity period,
// key usage): the client through RootCAs and ServerName, the server through
// ClientCAs and RequireAndVerifyClientCert. verifyPeer adds what x509 does
// not know about: the key must be Ed25519, because the key is the identity.
func (s *certSource) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{alpn},
		ServerName:           serverName,
		RootCAs:              s.cl.pool,
		ClientCAs:            s.cl.pool,
		ClientAuth:           tls.RequireAndVerifyClientCert,
		GetCertificate:       func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.get() },
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.get() },
		VerifyConnection:     verifyPeer,
		// No resumption: every handshake presents and verifies a
		// certificate, so expiry and the secret are checked every time.
		SessionTicketsDisabled: true,
	}
}

// verifyPeer runs after the chain checks on both sides (and would run on
// resumption too, which is disabled anyway).
func verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		return errors.New("mesh: peer certificate not verified")
	}
	if _, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey); !ok {
		return errors.New("mesh: peer key is not ed25519")
	}
	if cs.NegotiatedProtocol != alpn {
		return fmt.Errorf("mesh: peer speaks %q, not %q", cs.NegotiatedProtocol, alpn)
	}
	return nil
}

// peerID is the authenticated id of the other end of a finished handshake.
func peerID(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("mesh: no peer certificate")
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", errors.New("mesh: peer key is not ed25519")
	}
	return NodeID(pub), nil
}

// resetKey derives the QUIC stateless-reset key from the node's own key:
// a node restarted with the same identity can then reset connections its
// previous incarnation held, and peers notice the restart at once instead
// of after the idle timeout.
func resetKey(key ed25519.PrivateKey) [32]byte {
	var k [32]byte
	blake3.DeriveKey(resetKeyContext, key.Seed(), k[:])
	return k
}
