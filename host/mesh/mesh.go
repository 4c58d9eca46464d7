package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/p-kernel/p-kernel/host/sntp"
)

// MaxDatagram is the largest datagram payload SendDatagram accepts. It fits
// one QUIC packet at the smallest packet size QUIC allows (1200 bytes), so
// it never depends on path MTU discovery.
const MaxDatagram = 1100

const (
	defaultIdleTimeout      = 5 * time.Second
	defaultHandshakeTimeout = 3 * time.Second
	backoffMin              = 50 * time.Millisecond
	backoffMax              = 2 * time.Second
	// protoTimeout bounds how long an accepted stream may take to name its
	// protocol; the dialer writes the byte at once, so only a broken peer
	// takes long.
	protoTimeout = 10 * time.Second
	// maxStreams is how many streams a peer may have open to us at once;
	// further opens wait (OpenStreamSync) rather than fail.
	maxStreams = 1024
)

// Connection close codes.
const (
	codeNodeClosing quic.ApplicationErrorCode = 0
	codeBadPeer     quic.ApplicationErrorCode = 1
)

var (
	// ErrHandshake wraps every failed TLS handshake: the peer is not in our
	// cluster (another secret), or its certificate is bad or expired. Dial
	// does not retry it.
	ErrHandshake = errors.New("mesh: tls handshake refused (not in this cluster, or a bad certificate)")

	errClosed   = fmt.Errorf("mesh: closed: %w", net.ErrClosed)
	errFiltered = errors.New("mesh: address blocked by filter")
)

// Config configures a Mesh. Identity and Secret are required.
type Config struct {
	// Listen is the UDP address to listen on, e.g. "127.0.0.1:0" or ":7946".
	Listen string
	// Identity is the node's key; its id is NodeID of the public key.
	Identity ed25519.PrivateKey
	// Secret is the cluster secret (SecretSize bytes); nodes without it
	// cannot connect to us, nor we to them.
	Secret []byte
	Logger *slog.Logger
	// Filter, if set, is consulted for every outgoing dial and every packet
	// in or out, by peer address: false drops it, as a lossy network
	// would. Tests use it to cut links and simulate partitions; it disables
	// quic-go's UDP batching and offload, so it costs throughput.
	Filter func(addr net.Addr) bool
	// IdleTimeout is how long a silent peer is tolerated before its
	// connection is dropped (default 5s). Keep-alives go out at a third of it.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds one connection attempt's wait for an answer
	// (default 3s; the whole handshake may take twice that).
	HandshakeTimeout time.Duration
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID      string        // authenticated node id
	Addr    string        // its UDP address
	Since   time.Time     // when this connection came up
	RTT     time.Duration // smoothed round-trip time, 0 before the first sample
	Inbound bool          // it dialed us
}

// Mesh is a node's endpoint: one UDP socket carrying QUIC connections to
// other nodes of the same cluster.
type Mesh struct {
	id     string
	cfg    Config
	log    *slog.Logger
	cl     *cluster
	tls    *tls.Config
	quic   *quic.Config
	udp    *net.UDPConn
	tr     *quic.Transport
	ln     *quic.Listener
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the mesh started, handlers included

	onDatagram atomic.Pointer[func(from, peer string, b []byte)]

	mu       sync.Mutex
	closed   bool
	links    map[string][]*link // by peer address; the first is used for dialing
	dials    map[string]*dialCall
	handlers map[byte]handler

	closeOnce sync.Once
	closeErr  error
}

// link is one established, authenticated QUIC connection.
type link struct {
	conn    *quic.Conn
	addr    string
	peer    string
	since   time.Time
	inbound bool
}

// dialCall is one connection attempt, shared by every Dial that wants the
// same address while it runs.
type dialCall struct {
	done chan struct{}
	l    *link
	err  error
}

type handler struct {
	fn    func(*Stream)
	owns  bool // fn keeps the stream after returning (a Listener)
	owner any
}

// Listen opens the UDP socket and starts accepting connections from nodes
// of the cluster. ctx bounds the setup only, as for net.ListenConfig.
func Listen(ctx context.Context, cfg Config) (*Mesh, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	cl, err := newCluster(cfg.Secret)
	if err != nil {
		return nil, err
	}
	pc, err := new(net.ListenConfig).ListenPacket(ctx, "udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("mesh: listen: %w", err)
	}
	m := newMesh(cfg, cl, pc.(*net.UDPConn))
	m.ln, err = m.tr.Listen(m.tls, m.quic)
	if err != nil {
		m.tr.Close()
		m.udp.Close()
		return nil, fmt.Errorf("mesh: listen: %w", err)
	}
	// quic-go drops packets that are not QUIC until someone has asked for
	// them: ask once now (the context is already done), so that time
	// requests arriving before serveTime first runs are queued.
	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	m.tr.ReadNonQUICPacket(done, nil)
	m.wg.Add(2)
	go m.acceptLinks()
	go m.serveTime()
	m.log.Info("mesh: listening", "addr", m.Addr().String(), "id", m.id, "cluster", cl.fp)
	return m, nil
}

func checkConfig(cfg *Config) error {
	if len(cfg.Identity) != ed25519.PrivateKeySize {
		return errors.New("mesh: identity is not an ed25519 private key")
	}
	if len(cfg.Secret) != SecretSize {
		return fmt.Errorf("mesh: cluster secret is %d bytes, want %d", len(cfg.Secret), SecretSize)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	return nil
}

func newMesh(cfg Config, cl *cluster, udp *net.UDPConn) *Mesh {
	var pc net.PacketConn = udp
	if cfg.Filter != nil {
		pc = &filteredConn{PacketConn: udp, udp: udp, allow: cfg.Filter}
	}
	rk := quic.StatelessResetKey(resetKey(cfg.Identity))
	certs := &certSource{cl: cl, key: cfg.Identity}
	ctx, cancel := context.WithCancel(context.Background())
	return &Mesh{
		id:  NodeID(cfg.Identity.Public().(ed25519.PublicKey)),
		cfg: cfg,
		log: cfg.Logger,
		cl:  cl,
		tls: certs.tlsConfig(),
		quic: &quic.Config{
			HandshakeIdleTimeout:  cfg.HandshakeTimeout,
			MaxIdleTimeout:        cfg.IdleTimeout,
			KeepAlivePeriod:       cfg.IdleTimeout / 3,
			MaxIncomingStreams:    maxStreams,
			MaxIncomingUniStreams: -1, // unused: every stream is bidirectional
			EnableDatagrams:       true,
		},
		udp:      udp,
		tr:       &quic.Transport{Conn: pc, StatelessResetKey: &rk},
		ctx:      ctx,
		cancel:   cancel,
		links:    map[string][]*link{},
		dials:    map[string]*dialCall{},
		handlers: map[byte]handler{},
	}
}

// ID is the node id, derived from the identity's public key.
func (m *Mesh) ID() string { return m.id }

// Addr is the UDP address the mesh listens on (with the real port when
// Config.Listen asked for port 0).
func (m *Mesh) Addr() net.Addr { return m.udp.LocalAddr() }

// Close closes every connection (peers are told), the socket, and waits
// for the mesh's goroutines, stream handlers included: their streams fail
// once the connections are gone, so handlers that read or write return.
func (m *Mesh) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		var links []*link
		for _, ls := range m.links {
			links = append(links, ls...)
		}
		m.mu.Unlock()
		m.cancel()
		for _, l := range links {
			l.conn.CloseWithError(codeNodeClosing, "node closing")
		}
		m.ln.Close()
		m.closeErr = errors.Join(m.tr.Close(), m.udp.Close())
		m.wg.Wait()
		m.log.Info("mesh: closed", "addr", m.Addr().String())
	})
	return m.closeErr
}

// Handle routes incoming streams of proto to h, on a goroutine per stream.
// The stream is closed when h returns; a panic in h is logged and resets
// the stream. A nil h removes the handler. Streams for a protocol with no
// handler are reset, and the dialer's Read fails with ErrUnknownProtocol,
// so register handlers before other nodes learn the address.
func (m *Mesh) Handle(proto byte, h func(*Stream)) {
	if h == nil {
		m.mu.Lock()
		delete(m.handlers, proto)
		m.mu.Unlock()
		return
	}
	m.setHandler(proto, handler{fn: h})
}

func (m *Mesh) setHandler(proto byte, h handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[proto] = h
}

// clearHandler removes proto's handler if owner still holds it.
func (m *Mesh) clearHandler(proto byte, owner any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handlers[proto].owner == owner {
		delete(m.handlers, proto)
	}
}

// HandleDatagrams sets the function that receives every datagram: from is
// the sender's address, peer its authenticated node id. It is called on
// one goroutine per connection and must not block for long (datagrams
// arriving meanwhile queue, then drop). A nil h discards datagrams.
func (m *Mesh) HandleDatagrams(h func(from, peer string, b []byte)) {
	if h == nil {
		m.onDatagram.Store(nil)
		return
	}
	m.onDatagram.Store(&h)
}

// Dial opens a stream of protocol proto to the node at addr, on the
// connection to addr (made if there is none; concurrent Dials share one
// attempt). Unreachable peers are retried with exponential backoff until
// ctx ends; a refused handshake (ErrHandshake) is returned at once. The
// caller must Close the stream.
//
// Opening a stream takes no round trip, so a connection whose peer died
// unnoticed yields a stream whose first Read fails (quickly if the peer
// restarted, it resets the connection; else after the idle timeout); the
// connection is dropped then, and a retry reconnects.
func (m *Mesh) Dial(ctx context.Context, addr string, proto byte) (*Stream, error) {
	var s *Stream
	err := m.withLink(ctx, addr, func(l *link) error {
		var err error
		s, err = m.open(ctx, l, proto)
		return err
	})
	return s, err
}

// open opens a stream on l and names its protocol. Writing the byte is
// also what makes the stream exist for the peer.
func (m *Mesh) open(ctx context.Context, l *link, proto byte) (*Stream, error) {
	qs, err := l.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stream{qs: qs, l: l, proto: proto}
	if _, err := qs.Write([]byte{proto}); err != nil {
		s.reset(codeClosed)
		return nil, err
	}
	return s, nil
}

// SendDatagram sends b (at most MaxDatagram bytes) to the node at addr,
// connecting first if needed, like Dial. Delivery is not guaranteed: a
// nil error means queued, not received.
func (m *Mesh) SendDatagram(ctx context.Context, addr string, b []byte) error {
	if len(b) > MaxDatagram {
		return fmt.Errorf("mesh: datagram of %d bytes exceeds %d", len(b), MaxDatagram)
	}
	return m.withLink(ctx, addr, func(l *link) error { return l.conn.SendDatagram(b) })
}

// Peers lists the connected peers, one per address, sorted by id.
func (m *Mesh) Peers() []PeerInfo {
	m.mu.Lock()
	var ps []PeerInfo
	for _, ls := range m.links {
		l := ls[0]
		ps = append(ps, PeerInfo{ID: l.peer, Addr: l.addr, Since: l.since, Inbound: l.inbound,
			RTT: l.conn.ConnectionStats().SmoothedRTT})
	}
	m.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].ID != ps[j].ID {
			return ps[i].ID < ps[j].ID
		}
		return ps[i].Addr < ps[j].Addr
	})
	return ps
}

// withLink calls use with a live link to addr, connecting and reconnecting
// with exponential backoff until use succeeds or ctx ends. use's errors on
// a live link are the caller's and returned as they are.
func (m *Mesh) withLink(ctx context.Context, addr string, use func(*link) error) error {
	ua, err := resolve(ctx, addr)
	if err != nil {
		return err
	}
	key := ua.String()
	delay := backoffMin
	for {
		l, err := m.link(ctx, ua, key)
		if err == nil {
			if err = use(l); err == nil {
				return nil
			}
			if !dead(l, err) || ctx.Err() != nil {
				return fmt.Errorf("mesh: %s: %w", key, err)
			}
			m.dropLink(l) // the watcher would too, but the retry must not find it
		}
		if ctx.Err() != nil {
			return fmt.Errorf("mesh: %s: %w (last error: %v)", key, ctx.Err(), err)
		}
		if errors.Is(err, ErrHandshake) || errors.Is(err, errClosed) {
			return err
		}
		m.log.Debug("mesh: retrying", "addr", key, "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("mesh: %s: %w (last error: %v)", key, ctx.Err(), err)
		}
		delay = min(2*delay, backoffMax)
	}
}

// dead tells whether err means l's connection is gone (as opposed to a
// per-stream or per-call failure).
func dead(l *link, err error) bool {
	return l.conn.Context().Err() != nil || errors.Is(err, net.ErrClosed)
}

// resolve turns addr into the canonical form links are keyed by.
func resolve(ctx context.Context, addr string) (*net.UDPAddr, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.UDPAddrFromAddrPort(canonical(ap)), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: address %q: %w", addr, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("mesh: address %q: %w", addr, errors.Join(err, errors.New("no addresses")))
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ips[0].String(), port))
	if err != nil {
		return nil, fmt.Errorf("mesh: address %q: %w", addr, err)
	}
	return net.UDPAddrFromAddrPort(canonical(ap)), nil
}

// canonical unmaps IPv4-in-IPv6, which a dual-stack socket reports, so
// one peer has one key.
func canonical(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func addrKey(a net.Addr) string {
	if ua, ok := a.(*net.UDPAddr); ok {
		return canonical(ua.AddrPort()).String()
	}
	return a.String()
}

// link returns the cached link to key, or joins (or starts) the attempt
// to make one.
func (m *Mesh) link(ctx context.Context, ua *net.UDPAddr, key string) (*link, error) {
	if m.cfg.Filter != nil && !m.cfg.Filter(ua) {
		return nil, errFiltered
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errClosed
	}
	if ls := m.links[key]; len(ls) > 0 {
		m.mu.Unlock()
		return ls[0], nil
	}
	c := m.dials[key]
	if c == nil {
		c = &dialCall{done: make(chan struct{})}
		m.dials[key] = c
		m.wg.Add(1)
		go m.connect(ua, key, c)
	}
	m.mu.Unlock()
	select {
	case <-c.done:
		return c.l, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// connect makes one connection attempt for everyone waiting on c. It runs
// under the mesh's context, not a caller's: one impatient caller must not
// fail the attempt for the others.
func (m *Mesh) connect(ua *net.UDPAddr, key string, c *dialCall) {
	defer m.wg.Done()
	conn, err := m.tr.Dial(m.ctx, ua, m.tls, m.quic)
	if err == nil {
		c.l, err = m.addLink(conn, false)
	}
	c.err = m.dialError(key, err)
	m.mu.Lock()
	delete(m.dials, key)
	m.mu.Unlock()
	close(c.done)
}

// dialError says what a failed attempt means for the caller.
func (m *Mesh) dialError(key string, err error) error {
	var te *quic.TransportError
	switch {
	case err == nil:
		return nil
	case m.ctx.Err() != nil:
		return errClosed
	case errors.As(err, &te) && te.ErrorCode.IsCryptoError():
		m.log.Warn("mesh: handshake refused", "addr", key, "err", err)
		return fmt.Errorf("%w: %s: %w", ErrHandshake, key, err)
	default:
		return fmt.Errorf("mesh: connect %s: %w", key, err)
	}
}

// acceptLinks takes in the connections other nodes make. quic-go hands
// them over only after the handshake, so only cluster members get here.
func (m *Mesh) acceptLinks() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept(m.ctx)
		if err != nil {
			return
		}
		m.addLink(conn, true)
	}
}

// addLink registers an authenticated connection and starts serving it.
func (m *Mesh) addLink(conn *quic.Conn, inbound bool) (*link, error) {
	peer, err := peerID(conn.ConnectionState().TLS)
	if err != nil { // unreachable: verifyPeer checked the same
		conn.CloseWithError(codeBadPeer, err.Error())
		return nil, err
	}
	l := &link{conn: conn, addr: addrKey(conn.RemoteAddr()), peer: peer, since: time.Now(), inbound: inbound}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		conn.CloseWithError(codeNodeClosing, "node closing")
		return nil, errClosed
	}
	m.links[l.addr] = append(m.links[l.addr], l)
	m.wg.Add(3)
	m.mu.Unlock()
	m.log.Info("mesh: link up", "peer", peer, "addr", l.addr, "inbound", inbound)
	go m.watch(l)
	go m.acceptStreams(l)
	go m.receiveDatagrams(l)
	return l, nil
}

// watch drops l from the cache when its connection ends, so the next Dial
// reconnects.
func (m *Mesh) watch(l *link) {
	defer m.wg.Done()
	<-l.conn.Context().Done()
	m.dropLink(l)
	level := slog.LevelInfo
	if m.ctx.Err() != nil {
		level = slog.LevelDebug
	}
	m.log.Log(context.Background(), level, "mesh: link down", "peer", l.peer, "addr", l.addr,
		"err", context.Cause(l.conn.Context()))
}

func (m *Mesh) dropLink(l *link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.links[l.addr]
	for i, x := range ls {
		if x == l {
			ls = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(m.links, l.addr)
	} else {
		m.links[l.addr] = ls
	}
}

func (m *Mesh) acceptStreams(l *link) {
	defer m.wg.Done()
	for {
		qs, err := l.conn.AcceptStream(m.ctx)
		if err != nil {
			return
		}
		if !m.track() {
			qs.CancelRead(codeClosed)
			qs.CancelWrite(codeClosed)
			return
		}
		go m.serve(l, qs)
	}
}

// track counts one more goroutine for Close to wait for, unless closing.
func (m *Mesh) track() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// serve reads an accepted stream's protocol byte and runs its handler.
func (m *Mesh) serve(l *link, qs *quic.Stream) {
	defer m.wg.Done()
	s := &Stream{qs: qs, l: l}
	var b [1]byte
	qs.SetReadDeadline(time.Now().Add(protoTimeout))
	if _, err := io.ReadFull(qs, b[:]); err != nil {
		s.reset(codeUnknownProto)
		return
	}
	qs.SetReadDeadline(time.Time{})
	s.proto = b[0]
	m.mu.Lock()
	h, ok := m.handlers[s.proto]
	m.mu.Unlock()
	if !ok {
		m.log.Warn("mesh: stream for unknown protocol", "proto", s.proto, "peer", l.peer)
		s.reset(codeUnknownProto)
		return
	}
	m.run(h, s)
}

// run calls a handler, containing its panics: a bad handler costs its
// stream, never the node.
func (m *Mesh) run(h handler, s *Stream) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("mesh: stream handler panicked", "proto", s.proto, "peer", s.Peer(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.reset(codePanic)
			return
		}
		if !h.owns {
			s.Close()
		}
	}()
	h.fn(s)
}

func (m *Mesh) receiveDatagrams(l *link) {
	defer m.wg.Done()
	for {
		b, err := l.conn.ReceiveDatagram(m.ctx)
		if err != nil {
			return
		}
		if h := m.onDatagram.Load(); h != nil {
			m.deliver(*h, l, b)
		}
	}
}

func (m *Mesh) deliver(h func(from, peer string, b []byte), l *link, b []byte) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("mesh: datagram handler panicked", "peer", l.peer,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h(l.addr, l.peer, b)
}

// serveTime answers SNTP requests that arrive on the mesh's port (QUIC
// leaves packets whose first two bits are 0 to us; an SNTP request's first
// byte is 0x23). A machine without a real-time clock starts in 1970, where
// no certificate of the cluster is valid, so it asks a seed for the time
// before it can join. The answer is not authenticated: whoever can forge
// packets between the two can also just drop them.
func (m *Mesh) serveTime() {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := m.tr.ReadNonQUICPacket(m.ctx, buf)
		if err != nil {
			return // closed
		}
		recv := time.Now()
		if !sntp.IsRequest(buf[:n]) {
			continue
		}
		if out, err := sntp.Reply(buf[:n], recv, time.Now()); err == nil {
			m.tr.WriteTo(out, from)
		}
	}
}
