package ehrsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/strict"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// HookPath is the rest-hook operation the simulator receives notifications
// on, relative to its FHIR base.
const HookPath = "$subscription-hook"

// Options configures Start. Every field is required unless its comment
// gives a default.
type Options struct {
	// PartnerID is the EHR's OAuth client id at the gateway, the partner id
	// its client certificate names.
	PartnerID string
	// OrganizationSystem and OrganizationValue identify the EHR's
	// organisation, which the Subscription filter names.
	OrganizationSystem string
	OrganizationValue  string
	// ClientCertificate is the EHR's TLS client certificate toward the
	// gateway.
	ClientCertificate tls.Certificate
	// AssertionKey signs the EHR's client assertions, and JWKSURL serves
	// its public half. Nil means a fresh ES384 key.
	AssertionKey *jose.JSONWebKey
	// Scope is the space-separated scopes the EHR requests from the
	// gateway.
	Scope string
	// GatewayRoots verifies the gateway's server certificate.
	GatewayRoots *x509.CertPool

	// ServerCertificate serves the EHR's own endpoints: the JWKS listener
	// and the mutual-TLS FHIR listener.
	ServerCertificate tls.Certificate
	// PayerRoots verifies the client certificate the gateway presents
	// when it delivers a notification.
	PayerRoots *x509.CertPool
	// PayerClientID is the payer's client id at the EHR's authorization
	// server. A notification is accepted only over a certificate whose
	// urn:gatehouse:partner: URI SAN names it, with an access token bound
	// to that certificate.
	PayerClientID string
	// PayerKeys are the payer's public keys that verify its client
	// assertions.
	PayerKeys jose.JSONWebKeySet
	// PayerScopes are the maximum scopes the payer may be granted, by
	// default system/Task.cruds. The EHR does not check them further.
	PayerScopes []string

	// JWKSAddr and FHIRAddr are the loopback host:port the two listeners
	// bind to, by default 127.0.0.1 with an ephemeral port.
	JWKSAddr, FHIRAddr string
	// Strict checks every notification Bundle. Nil means strict.New with
	// the default PAS versions.
	Strict *strict.Checker
	// Drop, when set, is asked about each new event of an accepted
	// notification. When it returns true the simulator acknowledges the
	// notification but discards the event, like an EHR that lost it after
	// acknowledging it. Tests use it to exercise catch-up through $events.
	// Nil drops nothing.
	Drop func(subscriptionID string, eventNumber int64) bool
	// Logger receives rejections and catch-up failures, without content.
	// Nil discards them.
	Logger *slog.Logger
}

// Sim is a running EHR simulator. Its methods are safe for concurrent use.
type Sim struct {
	opts   Options
	key    *jose.JSONWebKey
	jwks   []byte
	tokens *token.Server
	log    *slog.Logger

	jwksServer *http.Server
	fhirServer *http.Server
	jwksAddr   net.Addr
	fhirAddr   net.Addr

	client atomic.Pointer[ehrclient.Client] // set by Connect

	state   state
	catchUp chan struct{}
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// Start binds the simulator's two listeners and starts serving. Close
// stops it.
func Start(opts Options) (*Sim, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := &Sim{opts: opts, log: opts.Logger, catchUp: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.state.init()
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.done.Add(1)
	go s.runCatchUp(ctx)
	return s, nil
}

func (o *Options) check() error {
	var missing []string
	for name, empty := range map[string]bool{
		"PartnerID": o.PartnerID == "", "OrganizationValue": o.OrganizationValue == "",
		"ClientCertificate": len(o.ClientCertificate.Certificate) == 0, "GatewayRoots": o.GatewayRoots == nil,
		"ServerCertificate": len(o.ServerCertificate.Certificate) == 0, "PayerRoots": o.PayerRoots == nil,
		"PayerClientID": o.PayerClientID == "", "PayerKeys": len(o.PayerKeys.Keys) == 0,
	} {
		if empty {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("ehrsim: missing options: %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	for name, addr := range map[string]*string{"JWKSAddr": &o.JWKSAddr, "FHIRAddr": &o.FHIRAddr} {
		if *addr == "" {
			*addr = "127.0.0.1:0"
		}
		host, _, err := net.SplitHostPort(*addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("ehrsim: %s %q is not a loopback IP address with a port; the simulator serves this machine only", name, *addr)
		}
	}
	if len(o.PayerScopes) == 0 {
		o.PayerScopes = []string{"system/Task.cruds"}
	}
	return nil
}

// prepare sets up the assertion key, its published set and the strict
// checker.
func (s *Sim) prepare() error {
	s.key = s.opts.AssertionKey
	if s.key == nil {
		k, err := token.GenerateKey("ES384")
		if err != nil {
			return fmt.Errorf("ehrsim: %w", err)
		}
		s.key = k
	}
	pub := s.key.Public()
	if !pub.Valid() {
		return errors.New("ehrsim: AssertionKey has no valid public half")
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return fmt.Errorf("ehrsim: encode JWKS: %w", err)
	}
	s.jwks = jwks
	if s.opts.Strict == nil {
		c, err := strict.New(nil)
		if err != nil {
			return fmt.Errorf("ehrsim: %w", err)
		}
		s.opts.Strict = c
	}
	return nil
}

// listen binds the JWKS listener (server TLS only, because the gateway
// fetches keys without a client certificate) and the FHIR listener
// (mutual TLS), then builds the token service, which needs the bound URL.
func (s *Sim) listen() error {
	jwksLn, err := net.Listen("tcp", s.opts.JWKSAddr)
	if err != nil {
		return fmt.Errorf("ehrsim: JWKS listener: %w", err)
	}
	fhirLn, err := net.Listen("tcp", s.opts.FHIRAddr)
	if err != nil {
		jwksLn.Close()
		return fmt.Errorf("ehrsim: FHIR listener: %w", err)
	}
	s.jwksAddr, s.fhirAddr = jwksLn.Addr(), fhirLn.Addr()
	if err := s.newTokenService(); err != nil {
		jwksLn.Close()
		fhirLn.Close()
		return err
	}

	fhirConf, err := tlspolicy.Server(s.opts.ServerCertificate, s.opts.PayerRoots)
	if err != nil {
		jwksLn.Close()
		fhirLn.Close()
		return fmt.Errorf("ehrsim: %w", err)
	}
	// HTTP/1.1 only, because an HTTP/2 server's graceful shutdown waits up
	// to a second for the peer to leave, which would slow every Close.
	fhirConf.NextProtos = []string{"http/1.1"}
	// The JWKS listener applies the same policy without requesting a
	// client certificate.
	jwksConf := fhirConf.Clone()
	jwksConf.ClientAuth = tls.NoClientCert
	jwksConf.ClientCAs = nil

	s.jwksServer = s.newServer(http.HandlerFunc(s.serveJWKS))
	s.fhirServer = s.newServer(s.fhirRoutes())
	go s.jwksServer.Serve(tls.NewListener(jwksLn, jwksConf))
	go s.fhirServer.Serve(tls.NewListener(fhirLn, fhirConf))
	return nil
}

// newServer returns a server whose own errors, such as failed TLS
// handshakes, go to the simulator's logger.
func (s *Sim) newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
}

// newTokenService builds the SMART token endpoint at which the payer, as
// a client of this EHR, obtains certificate-bound access tokens.
func (s *Sim) newTokenService() error {
	signer, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	replay, err := token.NewMemoryReplayCache(10000, nil)
	if err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	s.tokens, err = token.NewServer(token.ServerOptions{
		TokenURL: s.TokenURL(), Issuer: s.baseURL(s.fhirAddr), Audience: s.FHIRBase(),
		SigningKey: signer, Replay: replay,
		Clients: token.StaticClients{s.opts.PayerClientID: {ID: s.opts.PayerClientID, Keys: s.opts.PayerKeys, Scopes: s.opts.PayerScopes}},
		PeerClient: func(r *http.Request) (string, bool) {
			if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
				return "", false
			}
			return pki.PartnerFromCertificate(r.TLS.VerifiedChains[0][0])
		},
	})
	if err != nil {
		return fmt.Errorf("ehrsim: token service: %w", err)
	}
	return nil
}

func (s *Sim) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/jwks.json" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// The shortest lifetime the gateway honours, so a rotated key is
	// picked up soon.
	w.Header().Set("Cache-Control", "max-age=60")
	w.Write(s.jwks)
}

// Close stops both listeners and the catch-up loop.
func (s *Sim) Close(ctx context.Context) error {
	s.stop()
	s.done.Wait()
	err := errors.Join(s.jwksServer.Shutdown(ctx), s.fhirServer.Shutdown(ctx))
	if c := s.client.Load(); c != nil {
		c.CloseIdle()
	}
	return err
}

// baseURL names a listener by IP address, which the server certificate
// must carry as a SAN.
func (s *Sim) baseURL(addr net.Addr) string { return "https://" + addr.String() }

// JWKSURL returns the URL of the EHR's published key set, the value of
// partners[].jwks_url.
func (s *Sim) JWKSURL() string { return s.baseURL(s.jwksAddr) + "/jwks.json" }

// FHIRBase returns the EHR's FHIR base, partners[].outbound.fhir_base.
func (s *Sim) FHIRBase() string { return s.baseURL(s.fhirAddr) + "/fhir" }

// TokenURL returns the EHR's token endpoint for the payer,
// partners[].outbound.token_url.
func (s *Sim) TokenURL() string { return s.baseURL(s.fhirAddr) + "/oauth2/token" }

// HookURL returns the rest-hook endpoint the Subscription names.
func (s *Sim) HookURL() string { return s.FHIRBase() + "/" + HookPath }

// Addrs returns the host:port of both listeners, the entries of
// egress.allow the gateway needs to reach the simulator.
func (s *Sim) Addrs() []string { return []string{s.jwksAddr.String(), s.fhirAddr.String()} }

// Endpoints are the simulator's URLs and addresses as a gateway
// configuration names them.
type Endpoints struct {
	JWKSURL  string   `json:"jwks_url"`
	FHIRBase string   `json:"fhir_base"`
	TokenURL string   `json:"token_url"`
	Addrs    []string `json:"egress_allow"`
	// PayerScopes are what the payer requests at TokenURL.
	PayerScopes []string `json:"payer_scopes"`
}

// Endpoints returns the simulator's URLs and addresses.
func (s *Sim) Endpoints() Endpoints {
	return Endpoints{JWKSURL: s.JWKSURL(), FHIRBase: s.FHIRBase(), TokenURL: s.TokenURL(), Addrs: s.Addrs(),
		PayerScopes: s.opts.PayerScopes}
}

// Connect points the simulator at a gateway's public URL, such as
// https://localhost:8443. It must be called before the calling methods
// (Token, Do, Subscribe, ...).
func (s *Sim) Connect(publicURL string) error {
	c, err := ehrclient.New(ehrclient.Options{PublicURL: publicURL, ClientID: s.opts.PartnerID, AssertionKey: s.key,
		Certificate: s.opts.ClientCertificate, Roots: s.opts.GatewayRoots, Scope: s.opts.Scope})
	if err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	s.client.Store(c)
	return nil
}

// Client returns the EHR's client toward the gateway, nil before Connect.
func (s *Sim) Client() *ehrclient.Client { return s.client.Load() }
