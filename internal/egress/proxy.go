package egress

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultProxyIdleTimeout closes a CONNECT tunnel after this long without
// traffic in either direction.
const DefaultProxyIdleTimeout = 5 * time.Minute

// ProxyAttempt describes one request to the forward proxy.
type ProxyAttempt struct {
	// Client is the requesting peer's address (http.Request.RemoteAddr).
	Client string
	// Method is the request method; only CONNECT is served.
	Method string
	// Target is the requested host:port, as sent.
	Target string
	// Allowed is true when the tunnel was opened.
	Allowed bool
	// Err is the cause of a failed attempt: a *DeniedError for a refusal,
	// or the connection error. Nil when Allowed.
	Err error
}

// ForwardProxy is an HTTP handler for CONNECT requests that opens tunnels
// only to targets the Guard allows, so that the payer's integration engine
// can be given no other way out. Every other method is refused with 405.
// Serve it from an http.Server on an internal address; it speaks HTTP/1.1
// only, because the tunnel takes over the connection.
type ForwardProxy struct {
	// Guard checks and dials every target. Required.
	Guard *Guard
	// OnAttempt, if not nil, is called once for every request, allowed or
	// not, before the tunnel starts or the refusal is written.
	OnAttempt func(ProxyAttempt)
	// IdleTimeout closes a tunnel idle for this long. Zero means
	// DefaultProxyIdleTimeout.
	IdleTimeout time.Duration
}

var errNotConnect = errors.New("egress: the forward proxy serves only CONNECT")

func (p *ForwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	attempt := ProxyAttempt{Client: r.RemoteAddr, Method: r.Method, Target: r.Host}
	if r.Method != http.MethodConnect {
		attempt.Err = errNotConnect
		p.report(attempt)
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, "only CONNECT is allowed", http.StatusMethodNotAllowed)
		return
	}

	upstream, err := p.Guard.DialContext(r.Context(), "tcp", r.Host)
	if err != nil {
		attempt.Err = err
		p.report(attempt)
		var denied *DeniedError
		if errors.As(err, &denied) {
			http.Error(w, "destination not allowed", http.StatusForbidden)
		} else {
			http.Error(w, "destination unreachable", http.StatusBadGateway)
		}
		return
	}
	defer upstream.Close()

	client, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		attempt.Err = err
		p.report(attempt)
		http.Error(w, "tunnel not supported on this connection", http.StatusInternalServerError)
		return
	}
	defer client.Close()
	// Deadlines the http.Server set for reading the request stay on a
	// hijacked connection; the tunnel manages its own.
	client.SetDeadline(time.Time{})
	attempt.Allowed = true
	p.report(attempt)

	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the client sent after the CONNECT request may already sit in
	// the server's read buffer.
	if n := buffered.Reader.Buffered(); n > 0 {
		head, _ := buffered.Reader.Peek(n)
		if _, err := upstream.Write(head); err != nil {
			return
		}
	}
	p.splice(client, upstream)
}

func (p *ForwardProxy) report(a ProxyAttempt) {
	if p.OnAttempt != nil {
		p.OnAttempt(a)
	}
}

// splice copies both ways until either side closes or the tunnel carries
// no traffic in either direction for IdleTimeout.
func (p *ForwardProxy) splice(a, b net.Conn) {
	t := &tunnel{idle: p.IdleTimeout}
	if t.idle == 0 {
		t.idle = DefaultProxyIdleTimeout
	}
	t.touch()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		t.copy(b, a)
		closeWrite(b)
	}()
	go func() {
		defer wg.Done()
		t.copy(a, b)
		closeWrite(a)
	}()
	wg.Wait()
}

// tunnel tracks the last time either direction carried data.
type tunnel struct {
	idle       time.Duration
	lastActive atomic.Int64
}

func (t *tunnel) touch() { t.lastActive.Store(time.Now().UnixNano()) }

// copy copies src to dst. A read that times out ends the copy only if the
// other direction was idle too.
func (t *tunnel) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(t.idle))
		n, err := src.Read(buf)
		if n > 0 {
			t.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, t.lastActive.Load())) < t.idle {
			continue
		}
		if err != nil {
			return
		}
	}
}

// closeWrite half-closes c when it supports it, so the other side reads EOF
// while the reverse direction keeps flowing; otherwise it closes c.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
