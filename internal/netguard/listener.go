package netguard

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Listen returns a listener that accepts only connections whose source is
// in the global allowlist. Accept closes every refused connection before
// reading or writing a byte, then waits for the next one, so the caller
// (typically tls.NewListener) never sees it.
//
// When ProxyProtocol is set, a connection whose direct peer is a trusted
// proxy is returned at once and its PROXY protocol header is read, within
// ProxyHeaderTimeout, by the first call to Read, Write or RemoteAddr, so
// that a slow proxy cannot stall Accept. The client address from the header
// is then checked against the global allowlist before Read returns any
// byte; RemoteAddr reports it in place of the proxy's address.
func (g *Guard) Listen(inner net.Listener) net.Listener {
	return &listener{Listener: inner, g: g}
}

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if conn := l.g.admit(c); conn != nil {
			return conn, nil
		}
	}
}

// admit returns the connection to hand to the server, or nil after closing
// a refused one.
func (g *Guard) admit(c net.Conn) net.Conn {
	peer, ok := addrPortOf(c.RemoteAddr())
	if !ok {
		g.deny(&DeniedError{Rule: RuleUnknownSource, Reason: "the peer address is not a TCP address"})
		c.Close()
		return nil
	}
	if g.SendsProxyHeader(peer.Addr()) {
		return &proxiedConn{Conn: c, g: g, peer: peer}
	}
	if err := g.checkGlobal(peer.Addr(), netip.Addr{}); err != nil {
		g.deny(err)
		c.Close()
		return nil
	}
	g.accepted.Add(1)
	return c
}

// addrPortOf returns the IP address and port of a TCP address.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := tcp.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.Addr().IsValid()
}

// proxiedConn is a connection from a trusted proxy that starts with a
// PROXY protocol header.
type proxiedConn struct {
	net.Conn
	g    *Guard
	peer netip.AddrPort

	once   sync.Once
	client netip.AddrPort
	err    error

	// mu guards readDeadline, the last read deadline the caller set, which
	// is restored once the header has been read.
	mu           sync.Mutex
	readDeadline time.Time
}

// start reads and checks the PROXY protocol header once. After a failure
// the connection is closed and every later call returns the same error.
func (c *proxiedConn) start() error {
	c.once.Do(func() {
		c.client, c.err = c.readHeader()
		if c.err != nil {
			c.Conn.Close()
			return
		}
		c.g.accepted.Add(1)
	})
	return c.err
}

func (c *proxiedConn) readHeader() (netip.AddrPort, error) {
	c.mu.Lock()
	restore := c.readDeadline
	c.mu.Unlock()
	deadline := c.g.now().Add(c.g.headerTimeout)
	if !restore.IsZero() && restore.Before(deadline) {
		deadline = restore
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return netip.AddrPort{}, c.denyHeader(err)
	}
	h, err := readProxyHeader(c.Conn)
	if err != nil {
		return netip.AddrPort{}, c.denyHeader(err)
	}
	if err := c.Conn.SetReadDeadline(restore); err != nil {
		return netip.AddrPort{}, c.denyHeader(err)
	}

	client := h.src
	if h.local {
		client = c.peer
	}
	if err := c.g.checkGlobal(client.Addr(), c.peer.Addr()); err != nil {
		c.g.deny(err)
		return netip.AddrPort{}, err
	}
	return client, nil
}

func (c *proxiedConn) denyHeader(cause error) error {
	err := &DeniedError{Peer: c.peer.Addr(), Rule: RuleProxyHeader, Reason: cause.Error()}
	c.g.deny(err)
	return err
}

func (c *proxiedConn) Read(b []byte) (int, error) {
	if err := c.start(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *proxiedConn) Write(b []byte) (int, error) {
	if err := c.start(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// RemoteAddr returns the client address stated by the proxy, or the
// proxy's own address when the header was refused.
func (c *proxiedConn) RemoteAddr() net.Addr {
	if err := c.start(); err != nil {
		return c.Conn.RemoteAddr()
	}
	return net.TCPAddrFromAddrPort(c.client)
}

func (c *proxiedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *proxiedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// Source describes where a connection accepted by a Guard listener comes
// from.
type Source struct {
	// Client is the address the allowlists were checked against.
	Client netip.AddrPort
	// Proxy is the trusted proxy that stated Client in a PROXY protocol
	// header; the zero value for a direct connection.
	Proxy netip.AddrPort
}

// SourceOf returns the Source of a connection returned by a Guard listener,
// first unwrapping a connection with a NetConn method such as *tls.Conn. For
// a direct connection, or one not from a Guard listener, Client is the
// remote address. It reports false for a proxied connection whose header was
// refused and for a remote address that is not TCP.
func SourceOf(c net.Conn) (Source, bool) {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	if p, ok := c.(*proxiedConn); ok {
		if p.start() != nil {
			return Source{}, false
		}
		return Source{Client: p.client, Proxy: p.peer}, true
	}
	ap, ok := addrPortOf(c.RemoteAddr())
	return Source{Client: ap}, ok
}
