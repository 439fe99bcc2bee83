package app_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// partnerTLS is the demo partner's client TLS configuration offering
// HTTP/2 only.
func partnerTLS(t *testing.T, h *harness) *tls.Config {
	t.Helper()
	cert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := h.layout.CAPool()
	conf := tlspolicy.Client(roots, &cert)
	conf.NextProtos = []string{"h2"}
	return conf
}

// dialerFrom returns a dialer whose connections leave from the loopback
// address from, so that a test can act as several sources.
func dialerFrom(from string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
}

// dialTLSFrom opens a mutual-TLS connection to addr from the loopback
// address from, and reads the first byte the server sends. It returns the
// error of the handshake or of that read.
func dialTLSFrom(t *testing.T, addr string, conf *tls.Config, from string) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(dialerFrom(from), "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	// TLS 1.3 ends the client's handshake before the server has read
	// the client's certificate, so a read shows whether the server kept
	// the connection. An HTTP/2 server speaks first, with its SETTINGS.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// byteCountingConn counts the bytes read from the server.
type byteCountingConn struct {
	net.Conn
	received int
}

func (c *byteCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.received += n
	return n, err
}

// requireClosedBeforeHandshake opens a TCP connection to addr from the
// loopback address from and sends a ClientHello on it. The test fails
// unless the server closes the connection without sending a single byte,
// so without a ServerHello, as a listener over its connection limit must.
// The description names the connection in failure messages.
func requireClosedBeforeHandshake(t *testing.T, addr string, conf *tls.Config, from, description string) {
	t.Helper()
	raw, err := dialerFrom(from).Dial("tcp", addr)
	if err != nil {
		t.Fatalf("%s: TCP connect: %v", description, err)
	}
	defer raw.Close()
	counted := &byteCountingConn{Conn: raw}
	conf = conf.Clone()
	if conf.ServerName == "" {
		// tls.Dial takes the name from the address, tls.Client does not.
		conf.ServerName, _, _ = net.SplitHostPort(addr)
	}
	// The deadline only bounds a server that neither responds nor closes.
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	err = tls.Client(counted, conf).Handshake()
	if err == nil {
		t.Fatalf("%s completed its TLS handshake, want it closed before the handshake", description)
	}
	if counted.received != 0 {
		t.Fatalf("%s: the server sent %d bytes before closing (%v), want none", description, counted.received, err)
	}
	// The server may close before or after the ClientHello arrives, so
	// the client sees either the end of the stream or a reset.
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("%s: handshake error %v, want the server to close the connection", description, err)
	}
}

// dialPartnerFrom opens a mutual-TLS connection to the inbound listener
// from the loopback address from, as dialTLSFrom does.
func dialPartnerFrom(t *testing.T, h *harness, from string) (*tls.Conn, error) {
	t.Helper()
	return dialTLSFrom(t, h.rt.Addr.String(), partnerTLS(t, h), from)
}

// counterValue returns the value of the gateway's counter name with the
// given labels, or 0 when it has not been incremented.
func counterValue(t *testing.T, h *harness, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := h.rt.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsMatch(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// TestConnectionLimits opens connections from loopback sources until the
// per-source cap and then the listener's cap are reached: each next
// connection is closed before its handshake and counted by reason. A
// slot freed by a closed connection can be used again.
func TestConnectionLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Limits.MaxConnections = 3
		cfg.Limits.MaxConnectionsPerSource = 2
	}})

	first, err := dialPartnerFrom(t, h, "127.0.0.1")
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	if _, err := dialPartnerFrom(t, h, "127.0.0.1"); err != nil {
		t.Fatalf("second connection: %v", err)
	}
	requireClosedBeforeHandshake(t, h.rt.Addr.String(), partnerTLS(t, h), "127.0.0.1",
		"a third connection from 127.0.0.1, past limits.max_connections_per_source 2,")
	if got := counterValue(t, h, "gatehouse_connections_over_limit_total", map[string]string{"listener": "inbound", "reason": "source"}); got != 1 {
		t.Errorf("over-limit count for reason source = %v, want 1", got)
	}

	if _, err := dialPartnerFrom(t, h, "127.0.0.2"); err != nil {
		t.Fatalf("connection from another source: %v", err)
	}
	requireClosedBeforeHandshake(t, h.rt.Addr.String(), partnerTLS(t, h), "127.0.0.3",
		"a fourth connection, past limits.max_connections 3,")
	if got := counterValue(t, h, "gatehouse_connections_over_limit_total", map[string]string{"listener": "inbound", "reason": "listener"}); got != 1 {
		t.Errorf("over-limit count for reason listener = %v, want 1", got)
	}

	// The server releases the slot once it sees the close, which happens
	// on its own goroutine, so a new connection may need a few attempts.
	first.Close()
	again := retryUntilNil(func() error {
		_, err := dialPartnerFrom(t, h, "127.0.0.3")
		return err
	})
	if again != nil {
		t.Fatalf("no connection accepted after one was closed: %v", again)
	}
}

// h2Conn is a raw HTTP/2 client connection to the inbound listener.
type h2Conn struct {
	conn   *tls.Conn
	framer *http2.Framer
}

func openH2(t *testing.T, h *harness) *h2Conn {
	t.Helper()
	c, err := tls.Dial("tcp", h.rt.Addr.String(), partnerTLS(t, h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newH2Conn(t, c)
}

// newH2Conn sends the client preface and SETTINGS on c.
func newH2Conn(t *testing.T, c *tls.Conn) *h2Conn {
	t.Helper()
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	f := http2.NewFramer(c, c)
	if err := f.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &h2Conn{conn: c, framer: f}
}

// serverSettings reads frames until the server's first SETTINGS frame and
// returns its values.
func (c *h2Conn) serverSettings(t *testing.T) map[http2.SettingID]uint32 {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		fr, err := c.framer.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		sf, ok := fr.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			continue
		}
		out := map[http2.SettingID]uint32{}
		sf.ForeachSetting(func(s http2.Setting) error {
			out[s.ID] = s.Val
			return nil
		})
		return out
	}
}

// TestHTTP2SettingsFromConfig checks that the inbound listener announces
// the configured stream cap and the frame size derived from the body cap,
// not Go's defaults (250 streams, 1 MiB frames).
func TestHTTP2SettingsFromConfig(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Limits.HTTP2MaxConcurrentStreams = 7
	}})
	c := openH2(t, h)
	settings := c.serverSettings(t)
	if got := settings[http2.SettingMaxConcurrentStreams]; got != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", got)
	}
	if got := settings[http2.SettingMaxFrameSize]; got != 64<<10 {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE = %d, want %d", got, 64<<10)
	}
	if got := settings[http2.SettingMaxHeaderListSize]; got == 0 || got > 128<<10 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want a bound near MaxHeaderBytes", got)
	}

	// An eighth open stream is over the cap. Go rejects it itself, so the
	// gateway counts the rejection because nothing else records it.
	if err := c.framer.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	block := requestHeaders(h, "")
	for i := range 8 {
		if err := c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	go drainFrames(c)
	counted := 0.0
	for range 200 {
		// Go names the type after the error's kind, code and cause.
		counted = counterValue(t, h, "gatehouse_http2_errors_total", map[string]string{"listener": "inbound", "type": "stream_PROTOCOL_ERROR_over_max_streams"})
		if counted > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if counted != 1 {
		t.Errorf("HTTP/2 errors counted for the eighth stream = %v, want 1", counted)
	}
}

// requestHeaders returns an HPACK block of a PAS submission's headers,
// with an Authorization header when token is set.
func requestHeaders(h *harness, token string) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{
		{":method", "POST"}, {":scheme", "https"}, {":authority", h.rt.Addr.String()},
		{":path", "/fhir/Claim/$submit"}, {"content-type", "application/fhir+json"},
	}
	if token != "" {
		fields = append(fields, [2]string{"authorization", "Bearer " + token})
	}
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return block.Bytes()
}

// drainFrames reads the server's frames until the connection ends, so the
// server's writes never block.
func drainFrames(c *h2Conn) {
	for {
		if _, err := c.framer.ReadFrame(); err != nil {
			return
		}
	}
}

// TestRapidResetGoroutinesReturn sends 5,000 HEADERS frames each followed
// by RST_STREAM on one connection, then closes it. The goroutines the
// burst started must end: the count returns near its level before the
// burst. The wait polls with a bound and asserts no duration.
func TestRapidResetGoroutinesReturn(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	token := h.accessToken()
	before := runtime.NumGoroutine()

	c := openH2(t, h)
	block := requestHeaders(h, token)
	go drainFrames(c)
	var sendErr error
	for i := range 5000 {
		id := uint32(2*i + 1)
		if sendErr = c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); sendErr != nil {
			break
		}
		if sendErr = c.framer.WriteRSTStream(id, http2.ErrCodeCancel); sendErr != nil {
			break
		}
	}
	// The server may end the connection during the burst, because Go
	// counts rapid resets. Either way the connection must leave nothing
	// behind.
	if sendErr != nil && !isClosedConn(sendErr) {
		t.Fatalf("sending the burst: %v", sendErr)
	}
	peak := runtime.NumGoroutine()

	// The handlers of the reset streams end while the connection stays
	// open, and the connection's own goroutines end once it is closed.
	const slack = 20
	open := waitGoroutines(before + slack)
	if open > before+slack {
		t.Errorf("goroutines: %d before the burst, %d at its end, still %d with the connection open", before, peak, open)
	}
	c.conn.Close()
	closed := waitGoroutines(before + 5)
	if closed > before+5 {
		t.Errorf("goroutines: %d before the burst, still %d after the close", before, closed)
	}
	t.Logf("goroutines: %d before the burst, %d at its end, %d with the connection open, %d after the close", before, peak, open, closed)
}

// waitGoroutines polls runtime.NumGoroutine, up to about 20 seconds,
// until it is at most limit, and returns the last count.
func waitGoroutines(limit int) int {
	n := runtime.NumGoroutine()
	for range 400 {
		if n <= limit {
			break
		}
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// retryUntilNil calls attempt up to 200 times, 50 ms apart (at least 10
// seconds), until it returns nil, and returns the last error. It serves
// steps that wait for the server to release a connection slot, which it
// does on its own goroutine after it reads the close.
func retryUntilNil(attempt func() error) error {
	var err error
	for range 200 {
		if err = attempt(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func isClosedConn(err error) bool {
	s := err.Error()
	return strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") || strings.Contains(s, "use of closed")
}
