package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

type ed25519PublicKey = ed25519.PublicKey

// guarded starts a mesh whose stream and datagram handlers count every
// call: for strangers they must stay at zero.
func guarded(t *testing.T, secret []byte) (*Mesh, *atomic.Int64) {
	m := startMesh(t, secret)
	var calls atomic.Int64
	m.Handle(protoEcho, func(s *Stream) { calls.Add(1); io.Copy(s, s) })
	m.HandleDatagrams(func(string, string, []byte) { calls.Add(1) })
	return m, &calls
}

func TestWrongSecretRefused(t *testing.T) {
	a, calls := guarded(t, NewSecret())
	x := startMesh(t, NewSecret())
	ctx := timeout(t, 10*time.Second)
	start := time.Now()
	_, err := x.Dial(ctx, a.Addr().String(), protoEcho)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("stranger dial: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("refusal took %v: retried instead of failing", time.Since(start))
	}
	t.Logf("stranger's error: %v", err)
	if err := x.SendDatagram(ctx, a.Addr().String(), []byte("x")); !errors.Is(err, ErrHandshake) {
		t.Fatalf("stranger datagram: %v", err)
	}
	// The other way round: we refuse the stranger's certificate as a server's.
	if _, err := a.Dial(ctx, x.Addr().String(), protoEcho); !errors.Is(err, ErrHandshake) {
		t.Fatalf("dial to stranger: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 0 || len(a.Peers()) != 0 || len(x.Peers()) != 0 {
		t.Fatalf("handlers ran %d times; peers %v %v", n, a.Peers(), x.Peers())
	}
}

// rawClient connects to addr with plain quic-go and the given client
// certificate (nil: none), not verifying the server, and tries to run an
// echo exchange. It returns nil only if the exchange worked.
func rawClient(addr string, cert *tls.Certificate, proto string) error {
	conf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}, MinVersion: tls.VersionTLS13}
	// GetClientCertificate, not Certificates: crypto/tls would quietly
	// withhold a certificate whose issuer the server did not ask for.
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, conf, &quic.Config{EnableDatagrams: true})
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	// In TLS 1.3 the client finishes before the server has checked its
	// certificate, so try to inject a stream and a datagram, then read.
	conn.SendDatagram([]byte("inject"))
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	s.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := s.Write([]byte{protoEcho, 'h', 'i'}); err != nil {
		return err
	}
	s.Close()
	got, err := io.ReadAll(s)
	if err != nil {
		return err
	}
	if string(got) != "hi" {
		return errors.New("bad echo " + string(got))
	}
	return nil
}

// selfSigned makes a self-signed certificate shaped like a node's.
func selfSigned(t *testing.T) *tls.Certificate {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "intruder"},
		DNSNames: []string{serverName}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ecdsaCert makes a certificate that chains to cl's CA but carries an
// ECDSA key: valid x509, but not a node identity.
func ecdsaCert(t *testing.T, cl *cluster) *tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "ecdsa"},
		DNSNames: []string{serverName}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, cl.cert, &key.PublicKey, cl.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// forgedCA is a CA with the same name as cl's, but not its key.
func forgedCA(t *testing.T, cl *cluster) *cluster {
	fake, _ := newCluster(NewSecret())
	tmpl := *cl.cert // same name, same key id
	tmpl.PublicKey = fake.key.Public()
	der, err := x509.CreateCertificate(nil, &tmpl, &tmpl, fake.key.Public(), fake.key)
	if err != nil {
		t.Fatal(err)
	}
	fake.cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if fake.cert.Subject.String() != cl.cert.Subject.String() {
		t.Fatal("forgery has another name")
	}
	return fake
}

func TestRawClientsRefused(t *testing.T) {
	secret := NewSecret()
	a, calls := guarded(t, secret)
	addr := a.Addr().String()
	cl, _ := newCluster(secret)
	other, _ := newCluster(NewSecret())
	issue := func(c *cluster, now time.Time, life time.Duration) *tls.Certificate {
		cert, err := c.issue(newKey(t), now, life)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	// The control: a client with a proper certificate gets through, so the
	// refusals below are about the certificates and nothing else.
	if err := rawClient(addr, issue(cl, time.Now(), time.Hour), alpn); err != nil {
		t.Fatalf("valid raw client refused: %v", err)
	}
	waitFor(t, 2*time.Second, "control handler", func() bool { return calls.Load() >= 1 })
	base := calls.Load()

	cases := []struct {
		name  string
		cert  *tls.Certificate
		alpn  string
		wants string // the alert the server sent
	}{
		{"no certificate", nil, alpn, "certificate required"},
		{"self-signed", selfSigned(t), alpn, "unknown certificate authority"},
		{"other cluster", issue(other, time.Now(), time.Hour), alpn, "unknown certificate authority"},
		{"forged issuer", issue(forgedCA(t, cl), time.Now(), time.Hour), alpn, "unknown certificate authority"},
		{"expired", issue(cl, time.Now().Add(-3*time.Hour), time.Hour), alpn, "expired certificate"},
		{"not yet valid", issue(cl, time.Now().Add(3*time.Hour), time.Hour), alpn, "expired certificate"},
		{"ecdsa key", ecdsaCert(t, cl), alpn, "bad certificate"},
		{"wrong alpn", issue(cl, time.Now(), time.Hour), "h3", "application protocol"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := rawClient(addr, c.cert, c.alpn)
			if err == nil {
				t.Fatal("stranger got an echo")
			}
			if !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("error %v does not mention %q", err, c.wants)
			}
			t.Logf("refused: %v", err)
		})
	}
	// A TLS client over TCP finds nothing to talk to on the mesh's port.
	d := &net.Dialer{Timeout: time.Second}
	if c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("tls over tcp connected")
	}
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != base || len(a.Peers()) != 0 {
		t.Fatalf("strangers reached handlers %d times; peers %v", n-base, a.Peers())
	}
}

// TestOurClientRefusesStrangeServer checks the client side: a server that
// is not of the cluster never sees our certificate accepted.
func TestOurClientRefusesStrangeServer(t *testing.T) {
	secret := NewSecret()
	a := startMesh(t, secret)
	stranger := selfSigned(t)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*stranger}, NextProtos: []string{alpn},
		ClientAuth: tls.RequireAnyClientCert,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := timeout(t, 5*time.Second)
	_, err = a.Dial(ctx, ln.Addr().String(), protoEcho)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial to a self-signed server: %v", err)
	}
}

func TestCertificateRenewal(t *testing.T) {
	cl, _ := newCluster(NewSecret())
	s := &certSource{cl: cl, key: newKey(t)}
	c1, _ := s.get()
	c2, _ := s.get()
	if c1 != c2 {
		t.Fatal("certificate reissued before half-life")
	}
	s.mu.Lock()
	s.renewAt = time.Now().Add(-time.Second)
	s.mu.Unlock()
	c3, _ := s.get()
	if c3 == c1 || !c3.Leaf.NotAfter.After(c1.Leaf.NotAfter.Add(-time.Second)) {
		t.Fatal("certificate not renewed")
	}
	if _, err := c3.Leaf.Verify(x509.VerifyOptions{Roots: cl.pool, DNSName: serverName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	// A certificate issued while the clock ran ahead (it was then set back
	// by a time server) is replaced at once, not at its half-life.
	ahead, err := cl.issue(s.key, time.Now().Add(4*365*24*time.Hour), certLifetime)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.cert, s.renewAt = ahead, time.Now().Add(4*365*24*time.Hour+certLifetime/2)
	s.mu.Unlock()
	if c4, _ := s.get(); c4 == ahead || c4.Leaf.NotBefore.After(time.Now()) {
		t.Fatalf("kept a certificate from the future: valid from %v", c4.Leaf.NotBefore)
	}
}

func TestClusterCADeterministic(t *testing.T) {
	secret := NewSecret()
	c1, _ := newCluster(secret)
	c2, _ := newCluster(secret)
	c3, _ := newCluster(NewSecret())
	if !c1.cert.Equal(c2.cert) || c1.fp != c2.fp {
		t.Fatal("one secret, two CAs")
	}
	if c1.fp == c3.fp {
		t.Fatal("two secrets, one CA fingerprint")
	}
}
