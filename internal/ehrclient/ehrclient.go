// Package ehrclient plays the partner side of the link: an EHR that
// authenticates with its client certificate, obtains a SMART Backend
// Services access token with a signed client assertion, and calls the
// gateway's FHIR API. The demo and `gatehouse token` use it.
package ehrclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// Options configures a Client. All fields are required except Scope.
type Options struct {
	PublicURL    string // the gateway's public URL, e.g. https://localhost:8443
	ClientID     string
	AssertionKey *jose.JSONWebKey // private key that signs client assertions
	Certificate  tls.Certificate  // the partner's client certificate
	Roots        *x509.CertPool   // verifies the gateway's certificate
	Scope        string           // requested scopes, space separated
}

// Client is safe for concurrent use. It caches its access token until
// shortly before expiry.
type Client struct {
	opts Options
	http *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
	// audience is the aud of client assertions when it is not TokenURL(),
	// set by AdoptLoopbackAudience.
	audience string
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	if opts.PublicURL == "" || opts.ClientID == "" || opts.AssertionKey == nil || opts.Roots == nil || len(opts.Certificate.Certificate) == 0 {
		return nil, errors.New("ehrclient: PublicURL, ClientID, AssertionKey, Certificate and Roots are required")
	}
	tr := &http.Transport{
		TLSClientConfig:     tlspolicy.Client(opts.Roots, &opts.Certificate),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}
	return &Client{opts: opts, http: &http.Client{Transport: tr, Timeout: time.Minute}}, nil
}

// TokenURL returns the gateway's token endpoint.
func (c *Client) TokenURL() string { return strings.TrimRight(c.opts.PublicURL, "/") + "/oauth/token" }

// FHIRBase returns the gateway's FHIR base URL.
func (c *Client) FHIRBase() string { return strings.TrimRight(c.opts.PublicURL, "/") + "/fhir" }

// HTTPClient returns the mutually authenticated HTTP client.
func (c *Client) HTTPClient() *http.Client { return c.http }

// Token returns a valid access token, fetching a new one when needed.
func (c *Client) Token(ctx context.Context) (*token.Response, error) {
	c.mu.Lock()
	audience := c.audience
	c.mu.Unlock()
	if audience == "" {
		audience = c.TokenURL()
	}
	resp, err := token.FetchForAudience(ctx, c.http, c.TokenURL(), audience, c.opts.ClientID, c.opts.AssertionKey, c.opts.Scope)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.token = resp.AccessToken
	c.expires = time.Now().Add(time.Duration(resp.ExpiresIn)*time.Second - 30*time.Second)
	c.mu.Unlock()
	return resp, nil
}

func (c *Client) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, exp := c.token, c.expires
	c.mu.Unlock()
	if tok != "" && time.Now().Before(exp) {
		return tok, nil
	}
	resp, err := c.Token(ctx)
	if err != nil {
		return "", err
	}
	return resp.AccessToken, nil
}

// Response is a FHIR API answer.
type Response struct {
	Status   int
	Body     []byte
	Header   http.Header
	Duration time.Duration
}

// Do sends a FHIR request to path (relative to the FHIR base, such as
// "Claim/$submit") with a bearer token. A nil body sends none.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	tok, err := c.bearer(ctx)
	if err != nil {
		return nil, fmt.Errorf("ehrclient: access token: %w", err)
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.FHIRBase()+"/"+strings.TrimLeft(path, "/"), rd)
	if err != nil {
		return nil, fmt.Errorf("ehrclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ehrclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("ehrclient: %s %s: reading response: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Body: data, Header: resp.Header, Duration: time.Since(start)}, nil
}

// CloseIdle closes idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// DevPartner returns the client of the development partner whose
// credentials a development data directory contains.
func DevPartner(layout *devmode.Layout, publicURL, scope string) (*Client, error) {
	key, err := layout.PartnerAssertionKey()
	if err != nil {
		return nil, err
	}
	cert, err := layout.PartnerClientCertificate()
	if err != nil {
		return nil, err
	}
	roots, err := layout.CAPool()
	if err != nil {
		return nil, err
	}
	return New(Options{PublicURL: publicURL, ClientID: devmode.PartnerID, AssertionKey: key,
		Certificate: cert, Roots: roots, Scope: scope})
}
