package posture

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// DefaultProbeTimeout bounds one probe: a handshake or a request.
const DefaultProbeTimeout = 10 * time.Second

// maxProbeBody caps the response body a probe reads.
const maxProbeBody = 64 << 10

// LiveOptions configures Probe. Every probe connects to the host and port
// of URL and nowhere else; redirects are not followed.
type LiveOptions struct {
	// URL is the gateway's public URL, such as https://gatehouse.payer.example:8443.
	URL string
	// Roots verifies the gateway's server certificate.
	Roots *x509.CertPool
	// Certificate is a registered partner's client certificate.
	Certificate tls.Certificate
	// Token returns a valid access token for the partner of Certificate.
	Token func(ctx context.Context) (string, error)
	// Timeout bounds each probe; zero means DefaultProbeTimeout.
	Timeout time.Duration
}

// prober runs the live checks against one gateway.
type prober struct {
	ctx    context.Context
	opts   LiveOptions
	base   *url.URL
	addr   string // host:port every probe dials
	client *http.Client
	token  string // fetched once, on first use
	tokErr error
	// killSwitch is set when some probe got a kill-switch 503.
	killSwitch bool
}

// Probe runs every live check of the catalogue against the gateway at
// opts.URL. It returns an error only for invalid options; a probe that
// cannot connect becomes a finding with status Error.
func Probe(ctx context.Context, opts LiveOptions) (*Report, error) {
	p, err := newProber(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer p.client.CloseIdleConnections()
	r := &Report{Subject: opts.URL, Mode: ModeLive}

	// A refusal proves something only when it comes from the gateway, so
	// every probe is skipped unless a modern handshake verifies its
	// certificate first.
	unreachable := p.baseline()
	for _, c := range Catalogue() {
		if c.Mode != ModeLive {
			continue
		}
		r.Checks = append(r.Checks, c)
		results := []result{errorResult("", "not probed: %s", unreachable)}
		if unreachable == "" {
			results = c.live(p)
		}
		r.Findings = append(r.Findings, complete(c, results, nil)...)
	}
	sortFindings(r.Findings)
	r.KillSwitchEngaged = p.killSwitch
	return r, nil
}

// baseline performs one TLS 1.2 or 1.3 handshake with the partner
// certificate and returns why the gateway could not be reached or
// verified, or "" when it could.
func (p *prober) baseline() string {
	_, err := p.handshake(p.withCertificate(tls.VersionTLS12, 0, nil))
	if err == nil {
		return ""
	}
	return refusalOf(err)
}

func newProber(ctx context.Context, opts LiveOptions) (*prober, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("posture: invalid gateway URL %q: use https://host:port", opts.URL)
	}
	if opts.Roots == nil || len(opts.Certificate.Certificate) == 0 || opts.Token == nil {
		return nil, errors.New("posture: live probes need Roots, Certificate and Token")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	p := &prober{ctx: ctx, opts: opts, base: u, addr: net.JoinHostPort(u.Hostname(), port)}
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       p.dialContext,
		TLSClientConfig:   tlspolicy.Client(opts.Roots, &opts.Certificate),
		ForceAttemptHTTP2: true,
	}
	p.client = &http.Client{
		Transport:     tr,
		Timeout:       opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// dialContext connects to the gateway's address whatever address the
// caller names, so no probe can reach another host.
func (p *prober) dialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	d := net.Dialer{Timeout: p.opts.Timeout}
	return d.DialContext(ctx, network, p.addr)
}

// handshake performs one TLS handshake with conf completed by the
// gateway's name and roots, and returns the connection state.
func (p *prober) handshake(conf *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.Timeout)
	defer cancel()
	raw, err := p.dialContext(ctx, "tcp", "")
	if err != nil {
		return tls.ConnectionState{}, &connectError{err}
	}
	defer raw.Close()
	conf.ServerName = p.base.Hostname()
	conf.RootCAs = p.opts.Roots
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

// connectError marks a failure to reach the gateway at all.
type connectError struct{ err error }

func (e *connectError) Error() string { return "cannot connect: " + e.err.Error() }

// refusalOf classifies a handshake error. It returns "" for a refusal by
// the gateway and otherwise why the probe could not decide.
func refusalOf(err error) string {
	var ce *connectError
	var ve *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return ce.Error()
	case errors.As(err, &ve):
		return "the gateway's certificate did not verify: " + ve.Err.Error() + "; pass the CA that issued it with --ca"
	case errors.As(err, &re):
		return "the server did not answer with TLS: check the port of the URL"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "the handshake timed out"
	}
	return ""
}

// withCertificate returns a client configuration presenting the partner
// certificate, so that a refusal cannot be caused by a missing one.
func (p *prober) withCertificate(minV, maxV uint16, suites []uint16) *tls.Config {
	return &tls.Config{
		MinVersion:   minV,
		MaxVersion:   maxV,
		CipherSuites: suites,
		Certificates: []tls.Certificate{p.opts.Certificate},
	}
}

// accessToken returns the partner's access token, fetching it once.
func (p *prober) accessToken() (string, error) {
	if p.token == "" && p.tokErr == nil {
		ctx, cancel := context.WithTimeout(p.ctx, p.opts.Timeout)
		defer cancel()
		p.token, p.tokErr = p.opts.Token(ctx)
	}
	return p.token, p.tokErr
}

// probeResponse is the part of an HTTP answer the probes judge.
type probeResponse struct {
	status    int
	header    http.Header
	isOutcome bool
	// killSwitch is set when the response is a 503 with which the gateway
	// rejects a request under an engaged kill-switch cut.
	killSwitch bool
}

// get sends a GET for the escaped path (with its query) on the partner's
// mutually authenticated client, with token as bearer when not empty.
func (p *prober) get(escapedPath, token string) (*probeResponse, error) {
	u := *p.base
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	target, err := url.Parse(strings.TrimRight(u.String(), "/") + escapedPath)
	if err != nil {
		return nil, fmt.Errorf("invalid probe path %q: %w", escapedPath, err)
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return nil, err
	}
	r := &probeResponse{status: resp.StatusCode, header: resp.Header, isOutcome: isOperationOutcome(body)}
	// Only a 503 is read for the kill switch, because unavailable reads
	// killSwitch for no other status.
	if resp.StatusCode == http.StatusServiceUnavailable {
		r.killSwitch = namesKillSwitch(body)
		p.killSwitch = p.killSwitch || r.killSwitch
	}
	return r, nil
}
