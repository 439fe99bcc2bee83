package egress

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// ClientOptions configures (*Guard).HTTPClient.
type ClientOptions struct {
	// RootCAs verifies servers. Nil means the system roots.
	RootCAs *x509.CertPool
	// Certificate is presented when a server asks for a client certificate.
	// Ignored when GetClientCertificate is set.
	Certificate *tls.Certificate
	// GetClientCertificate supplies the client certificate per handshake,
	// for certificates that reload without a restart.
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// Timeout bounds a whole request, redirects included. Zero means no
	// limit beyond the caller's context.
	Timeout time.Duration
	// MaxRedirects is the number of redirects followed. Zero refuses every
	// redirect with a *DeniedError of RuleRedirect. A followed redirect must
	// keep the https scheme and pass CheckHost; its connection goes
	// through DialContext like any other.
	MaxRedirects int
}

// HTTPClient returns an HTTP client whose every connection goes through
// g.DialContext, never through a proxy from the environment, with TLS
// configured by tlspolicy.Client.
func (g *Guard) HTTPClient(opts ClientOptions) *http.Client {
	conf := tlspolicy.Client(opts.RootCAs, opts.Certificate)
	if opts.GetClientCertificate != nil {
		conf.Certificates = nil
		conf.GetClientCertificate = opts.GetClientCertificate
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		TLSClientConfig:       conf,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       opts.Timeout,
		CheckRedirect: g.checkRedirect(opts.MaxRedirects),
	}
}

func (g *Guard) checkRedirect(max int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		host, port := hostPort(req.URL)
		switch {
		case max == 0:
			return g.deny(&DeniedError{Host: host, Port: port, Rule: RuleRedirect, Detail: "redirects are not followed"})
		case len(via) > max:
			return g.deny(&DeniedError{Host: host, Port: port, Rule: RuleRedirect,
				Detail: fmt.Sprintf("more than %d redirects", max)})
		case via[0].URL.Scheme == "https" && req.URL.Scheme != "https":
			return g.deny(&DeniedError{Host: host, Port: port, Rule: RuleRedirect,
				Detail: fmt.Sprintf("redirect from https to %s", req.URL.Scheme)})
		}
		return g.CheckHost(host, port)
	}
}

// hostPort returns the URL's host and port, with the scheme's default port.
func hostPort(u *url.URL) (string, uint16) {
	host, portText := u.Hostname(), u.Port()
	if portText == "" {
		switch u.Scheme {
		case "https":
			return host, 443
		case "http":
			return host, 80
		}
		return host, 0
	}
	port, err := parsePort(portText)
	if err != nil {
		return host, 0
	}
	return host, port
}
