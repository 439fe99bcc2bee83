package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// notificationPartners gives the payer service, for each partner the
// payer can reach, where its FHIR API is and which organisation it is.
func notificationPartners(cfg *config.File) map[string]subscriptions.Partner {
	out := map[string]subscriptions.Partner{}
	for _, p := range cfg.Partners {
		if p.Outbound != nil {
			out[p.ID] = subscriptions.Partner{FHIRBase: p.Outbound.FHIRBase,
				OrganizationSystem: p.Organization.System, OrganizationValue: p.Organization.Value}
		}
	}
	return out
}

// startNotifications runs the Subscription notification sender. It posts
// through the outbound listener with an engine certificate, so every
// notification passes the same policy, strict mode and record as the
// engine's own traffic. A kill-switch cut of the outbound direction pauses
// it.
func (rt *Running) startNotifications(cfg *config.File, now func() time.Time, poll time.Duration, log *slog.Logger) error {
	n := cfg.Payer.Notifications
	if rt.payerService == nil || n.CertFile == "" {
		return nil
	}
	if rt.OutboundAddr == nil {
		return errors.New("payer.notifications: the outbound listener (outbound.listen) is required to send notifications")
	}
	cert, err := pki.LoadTLSCertificate(cfg.Resolve(n.CertFile), cfg.Resolve(n.KeyFile))
	if err != nil {
		return fmt.Errorf("payer.notifications.cert_file/key_file: %w", err)
	}
	caFile := n.CAFile
	if caFile == "" {
		caFile = cfg.TLS.ClientCAFile
	}
	outboundURL, serverName := notificationTarget(rt.OutboundAddr, rt.PublicURL)
	transport := &notificationTransport{cert: cert, serverName: serverName}
	// The certificate holder reloads the CA file with the certificates and
	// checks each candidate certificate against it. So the gateway neither
	// starts with nor rotates to a certificate the sender rejects, and the
	// sender switches to new roots together with the certificate they
	// verify.
	err = rt.certs.SetTrustFile(cfg.Resolve(caFile), func(cert *tls.Certificate, data []byte) error {
		roots, err := parseCertPool(data)
		if err != nil {
			return err
		}
		return checkNotificationTrust(cert, roots, serverName)
	}, func(data []byte) {
		// check has parsed the same content, so this cannot fail.
		if roots, err := parseCertPool(data); err == nil {
			transport.setRoots(roots)
		}
	})
	if err != nil {
		return fmt.Errorf("payer.notifications.ca_file: %w", err)
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hub, err := subscriptions.New(rt.DB, subscriptions.Options{
		FHIRBase: rt.FHIRBase,
		Partners: notificationPartners(cfg),
		Delivery: &subscriptions.Delivery{Client: client, OutboundURL: outboundURL, PollInterval: poll},
		Now:      now,
		Logger:   log.With("component", "notifications"),
		// The sender purges too, so it must keep Subscriptions as long
		// as the payer service does.
		Retention: cfg.Payer.SubscriptionRetention,
	})
	if err != nil {
		return err
	}
	go hub.Run(rt.bg)
	log.Info("notification sender started")
	return nil
}

// notificationTransport sends the notifications. It replaces its
// http.Transport when the trust pool changes, because a tls.Config's
// RootCAs must not change once the transport uses it.
type notificationTransport struct {
	cert       tls.Certificate
	serverName string
	current    atomic.Pointer[http.Transport]
}

func (t *notificationTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.current.Load().RoundTrip(r)
}

// setRoots installs a transport that trusts roots and closes the idle
// connections of the one it replaces, whose server was verified with the
// old roots.
func (t *notificationTransport) setRoots(roots *x509.CertPool) {
	tlsConf := tlspolicy.Client(roots, &t.cert)
	tlsConf.ServerName = t.serverName
	if old := t.current.Swap(&http.Transport{Proxy: nil, TLSClientConfig: tlsConf}); old != nil {
		old.CloseIdleConnections()
	}
}

// parseCertPool parses a PEM bundle of CA certificates.
func parseCertPool(data []byte) (*x509.CertPool, error) {
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// notificationTarget returns the URL the notification sender posts to and
// the host name it verifies in the outbound listener's certificate. The URL
// has the listener's bound address (loopback for a wildcard), because
// localhost may not reach an outbound.listen on one internal address. The
// name is public_url's host, which tls.cert_file names (posture GH-TLS-007).
func notificationTarget(outbound net.Addr, publicURL string) (baseURL, serverName string) {
	host, port, _ := net.SplitHostPort(outbound.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	serverName = "localhost"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		serverName = u.Hostname()
	}
	return "https://" + net.JoinHostPort(host, port), serverName
}

// checkNotificationTrust verifies cert, the outbound listener's server
// certificate, as the notification sender will. A bundle that does not
// verify it, such as the default tls.client_ca_file beside a certificate
// from a public CA, would fail every delivery.
func checkNotificationTrust(cert *tls.Certificate, roots *x509.CertPool, serverName string) error {
	intermediates := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("tls.cert_file: invalid chain certificate: %w", err)
		}
		intermediates.AddCert(c)
	}
	_, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: intermediates,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("failed to verify the server certificate (tls.cert_file) "+
			"for %q, the host of public_url: %w; set payer.notifications.ca_file to the CA bundle that issued tls.cert_file", serverName, err)
	}
	return nil
}

// adminRoutes are the routes mounted on the admin listener beside metrics
// and health: the kill switch, the console and, with the built-in payer
// service, its operator decisions on pended items.
func (rt *Running) adminRoutes() map[string]http.Handler {
	routes := killswitch.Handlers(rt.KillSwitch, rt.Records)
	if rt.payerService != nil {
		for pattern, h := range rt.payerService.AdminHandlers() {
			routes[pattern] = h
		}
	}
	if rt.monitoring != nil && rt.monitoring.console != nil {
		for pattern, h := range rt.monitoring.console.Routes() {
			routes[pattern] = h
		}
	}
	return routes
}
