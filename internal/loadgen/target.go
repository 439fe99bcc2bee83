package loadgen

import (
	"bytes"
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
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// RequestTimeout bounds one request, from sending to the last byte of the
// response.
const RequestTimeout = 30 * time.Second

// maxResponseBytes caps the response body read per request.
const maxResponseBytes = 16 << 20

// Target is the server a run sends its requests to.
type Target interface {
	// Name describes the target in summaries.
	Name() string
	// NewSender returns the sender of one worker, with its own
	// connection.
	NewSender(ctx context.Context) (Sender, error)
}

// Sender posts one request Bundle to $submit and returns the response's
// HTTP status and whether it is a rejection (see Response). It reads the
// response body to its end. An error means no complete response arrived.
type Sender interface {
	Send(ctx context.Context, body []byte) (Response, error)
	Close()
}

// ErrNotLoopback is returned for a target address outside 127.0.0.0/8 and
// ::1: a load is only ever aimed at this machine.
var ErrNotLoopback = errors.New("loadgen: the target is not a loopback address (127.0.0.0/8, ::1 or localhost)")

// CheckLoopbackURL returns an error unless raw is an http or https URL
// whose host is "localhost" or a loopback IP address. Connections are
// checked again when dialled, after name resolution.
func CheckLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: invalid target URL %q: use http:// or https:// with a host", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%w: %q", ErrNotLoopback, host)
	}
	return nil
}

// loopbackOnly rejects, at connect time, any address that is not a
// loopback IP address, whatever the name resolved to.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", ErrNotLoopback, host)
	}
	return nil
}

// newHTTPClient returns a client with one kept-alive HTTP/1.1 connection
// that dials loopback addresses only and never follows redirects. tlsConf
// nil means plain HTTP.
func newHTTPClient(tlsConf *tls.Config) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// HTTP/1.1 for every target, as most EHR integrations use, so
		// that the targets compare on equal terms.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends body as FHIR JSON. It decodes the start of a 2xx response
// body to find a rejection, and discards the rest.
func post(ctx context.Context, c *http.Client, url, bearer string, body []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()

	respBody := &io.LimitedReader{R: resp.Body, N: maxResponseBytes + 1}
	res := Response{Status: resp.StatusCode}
	if res.Status >= 200 && res.Status < 300 {
		res.Rejected = rejectedClaimResponse(respBody)
	}
	// Read to the end, so that the connection can carry the next request.
	if _, err := io.Copy(io.Discard, respBody); err != nil {
		return Response{}, fmt.Errorf("reading the response: %w", err)
	}
	if respBody.N == 0 {
		return Response{}, fmt.Errorf("the response is larger than %d bytes", maxResponseBytes)
	}
	return res, nil
}

// Gateway is a Gatehouse gateway reached as a partner: mutual TLS, then a
// SMART Backend Services access token per worker, then $submit.
type Gateway struct {
	PublicURL    string // the gateway's public URL, such as https://localhost:8443
	ClientID     string
	AssertionKey *jose.JSONWebKey // signs the client assertions
	Certificate  tls.Certificate  // the partner's client certificate
	Roots        *x509.CertPool   // verifies the gateway's certificate
	Scope        string           // space-separated scopes to request
}

// Name returns "gatehouse" and the public URL.
func (g *Gateway) Name() string { return "gatehouse " + g.PublicURL }

func (g *Gateway) base() string { return strings.TrimRight(g.PublicURL, "/") }

// NewSender connects and obtains the worker's access token.
func (g *Gateway) NewSender(ctx context.Context) (Sender, error) {
	if err := CheckLoopbackURL(g.PublicURL); err != nil {
		return nil, err
	}
	s := &gatewaySender{g: g, client: newHTTPClient(tlspolicy.Client(g.Roots, &g.Certificate))}
	if err := s.refresh(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

type gatewaySender struct {
	g         *Gateway
	client    *http.Client
	token     string
	refreshAt time.Time
}

// refresh obtains a new access token and schedules the next one 30
// seconds before it expires.
func (s *gatewaySender) refresh(ctx context.Context) error {
	resp, err := token.Fetch(ctx, s.client, s.g.base()+"/oauth/token", s.g.ClientID, s.g.AssertionKey, s.g.Scope)
	if err != nil {
		return err
	}
	s.token = resp.AccessToken
	s.refreshAt = time.Now().Add(time.Duration(resp.ExpiresIn)*time.Second - 30*time.Second)
	return nil
}

// Send posts body to Claim/$submit. A token refresh, every few minutes,
// falls within the latency of the request that triggers it.
func (s *gatewaySender) Send(ctx context.Context, body []byte) (Response, error) {
	if time.Now().After(s.refreshAt) {
		if err := s.refresh(ctx); err != nil {
			return Response{}, err
		}
	}
	return post(ctx, s.client, s.g.base()+"/fhir/Claim/$submit", s.token, body)
}

func (s *gatewaySender) Close() { s.client.CloseIdleConnections() }

// HTTP posts to a $submit URL without an access token: the built-in payer
// service on its own (plain HTTP), or a reverse proxy in front of it.
type HTTP struct {
	// SubmitURL is the full URL of Claim/$submit.
	SubmitURL string
	// TLS configures https; nil means plain http.
	TLS *tls.Config
	// Label names the target in summaries. Empty means the URL alone.
	Label string
}

// Name returns the label, or the URL.
func (h *HTTP) Name() string {
	if h.Label != "" {
		return h.Label + " " + h.SubmitURL
	}
	return h.SubmitURL
}

// NewSender returns a sender with its own connection.
func (h *HTTP) NewSender(context.Context) (Sender, error) {
	if err := CheckLoopbackURL(h.SubmitURL); err != nil {
		return nil, err
	}
	return &httpSender{url: h.SubmitURL, client: newHTTPClient(h.TLS)}, nil
}

type httpSender struct {
	url    string
	client *http.Client
}

func (s *httpSender) Send(ctx context.Context, body []byte) (Response, error) {
	return post(ctx, s.client, s.url, "", body)
}

func (s *httpSender) Close() { s.client.CloseIdleConnections() }
