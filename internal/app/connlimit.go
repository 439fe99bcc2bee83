package app

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// Reasons a connLimiter closes a connection, the "reason" label of
// gatehouse_connections_over_limit_total.
const (
	overListenerLimit = "listener"
	overSourceLimit   = "source"
)

// connLimiter caps the connections a listener holds open at once, in total
// and per source address. A connection over either cap is closed as soon
// as it is accepted, before the TLS handshake, so it costs no handshake
// and no goroutine. Slots are taken below the source allowlist, so the
// source is the TCP peer: behind a PROXY protocol load balancer it is the
// balancer, whose connections exempt reports, and only the total applies
// to them.
type connLimiter struct {
	net.Listener
	maxTotal, maxPerSource int
	// exempt reports whether the per-source cap skips a peer; nil skips none.
	exempt func(netip.Addr) bool
	// overLimit is called with the reason of every connection closed.
	overLimit func(reason string)

	mu       sync.Mutex
	open     int
	bySource map[netip.Addr]int
}

func newConnLimiter(ln net.Listener, maxTotal, maxPerSource int, exempt func(netip.Addr) bool, overLimit func(string)) *connLimiter {
	return &connLimiter{Listener: ln, maxTotal: maxTotal, maxPerSource: maxPerSource,
		exempt: exempt, overLimit: overLimit, bySource: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps, closing the others.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		source := peerAddr(c)
		if reason := l.take(source); reason != "" {
			// Counted before the close, so that anyone who sees the
			// connection end also sees the count.
			if l.overLimit != nil {
				l.overLimit(reason)
			}
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(source) }}, nil
	}
}

// take claims a slot for a connection from source, or returns the reason
// it cannot.
func (l *connLimiter) take(source netip.Addr) string {
	perSource := source.IsValid() && (l.exempt == nil || !l.exempt(source))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.maxTotal {
		return overListenerLimit
	}
	if perSource {
		if l.bySource[source] >= l.maxPerSource {
			return overSourceLimit
		}
		l.bySource[source]++
	}
	l.open++
	return ""
}

func (l *connLimiter) release(source netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n, ok := l.bySource[source]; ok {
		if n <= 1 {
			delete(l.bySource, source)
		} else {
			l.bySource[source] = n - 1
		}
	}
}

// peerAddr returns the TCP peer's address, or the zero Addr when the peer
// is not TCP.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its slot back on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// listenerMetrics counts what the inbound, outbound and admin listeners
// close or reset before any handler runs, so nothing else records it.
type listenerMetrics struct {
	overLimit   *prometheus.CounterVec
	http2Errors *prometheus.CounterVec
}

func newListenerMetrics(reg prometheus.Registerer) *listenerMetrics {
	m := &listenerMetrics{
		overLimit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_connections_over_limit_total",
			Help: "Connections closed before the TLS handshake because the listener (reason listener) or their source address (reason source) held the most connections allowed.",
		}, []string{"listener", "reason"}),
		http2Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http2_errors_total",
			Help: "HTTP/2 protocol errors Go's HTTP/2 server answered itself with a stream or connection error, by listener and Go's error type.",
		}, []string{"listener", "type"}),
	}
	reg.MustRegister(m.overLimit, m.http2Errors)
	return m
}

// limitConns wraps the listener called name in caps of maxTotal
// connections and maxPerSource from one source address. exempt names the
// peers the per-source cap skips, or is nil.
func (m *listenerMetrics) limitConns(name string, ln net.Listener, maxTotal, maxPerSource int, exempt func(netip.Addr) bool) net.Listener {
	return newConnLimiter(ln, maxTotal, maxPerSource, exempt, func(reason string) {
		m.overLimit.WithLabelValues(name, reason).Inc()
	})
}

// http2Config returns the HTTP/2 settings of the inbound and outbound
// listeners, set explicitly rather than left to Go's defaults.
func (m *listenerMetrics) http2Config(name string, limits config.Limits) *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams: limits.HTTP2MaxConcurrentStreams,
		// Go's server keeps one read buffer of this size per connection,
		// so with limits.max_connections it bounds that memory. A body
		// larger than one frame arrives in several.
		MaxReadFrameSize: http2FrameSize(limits.MaxBodyBytes),
		// The flow-control windows bound what a client may send before
		// the handler reads it: per stream, at most one body.
		MaxReceiveBufferPerConnection: 1 << 20,
		MaxReceiveBufferPerStream:     int(min(limits.MaxBodyBytes, 1<<20)),
		// A connection that sends no frame for a minute is pinged, and
		// closed when the ping goes unanswered for 15 seconds.
		SendPingTimeout:  time.Minute,
		PingTimeout:      15 * time.Second,
		WriteByteTimeout: 30 * time.Second,
		CountError: func(errType string) {
			m.http2Errors.WithLabelValues(name, errType).Inc()
		},
	}
}

// http2FrameSize returns the largest HTTP/2 frame accepted: 64 KiB, or
// the body cap when that is smaller, and never below the protocol's
// minimum of 16 KiB.
func http2FrameSize(maxBody int64) int {
	return int(max(min(maxBody, 64<<10), 16<<10))
}
