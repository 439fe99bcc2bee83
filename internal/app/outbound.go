package app

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
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// startOutbound binds the outbound listener when outbound.listen is set;
// it serves once Start has passed every check.
func (rt *Running) startOutbound(cfg *config.File, gw *gateway.Gateway, log *slog.Logger) error {
	if cfg.Outbound.Listen == "" {
		return nil
	}
	partners, err := outboundPartners(cfg, rt.egress)
	if err != nil {
		return err
	}
	if rt.checkers != nil {
		for i, p := range cfg.Partners {
			if op := partners[p.ID]; op != nil {
				if op.StrictChecker, err = rt.checkers.forPartner(cfg, p); err != nil {
					return fmt.Errorf("partners[%d].strict_unknown_profiles: %w", i, err)
				}
			}
		}
	}
	pool, err := pki.LoadCertPool(cfg.Resolve(cfg.Outbound.ClientCAFile))
	if err != nil {
		return fmt.Errorf("outbound.client_ca_file: %w", err)
	}
	tlsConf, err := rt.internalServerConfig(pool)
	if err != nil {
		return err
	}
	checker, err := congruence.New(payerIdentifiers(cfg)...)
	if err != nil {
		return fmt.Errorf("payer_id: %w", err)
	}
	handler, err := gw.Outbound(gateway.OutboundOptions{Partners: partners, EngineOf: pki.EngineFromCertificate,
		VerifyConnection: tlsConf.VerifyConnection, Congruence: checker, MaxCount: cfg.Policy.MaxCount, Patients: rt.patientLinks,
		Claims: rt.patientLinks, MemberSystems: memberIDSystems(cfg)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Outbound.Listen)
	if err != nil {
		return fmt.Errorf("outbound.listen: %w", err)
	}
	rt.OutboundAddr = ln.Addr()
	ln = rt.listeners.limitConns("outbound", ln, cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerSource, nil)
	rt.outboundServer = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             rt.listeners.http2Config("outbound", cfg.Limits),
		ErrorLog:          serverErrorLog(log, "outbound"),
		// "OPTIONS *" goes to the handler, which refuses and records it,
		// rather than getting net/http's own 200.
		DisableGeneralOptionsHandler: true,
	}
	srv := rt.outboundServer
	rt.serveLater(ln, func() {
		go func() {
			if err := srv.Serve(tls.NewListener(ln, tlsConf)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("outbound listener stopped", "error", err)
			}
		}()
		log.Info("outbound listening", "addr", ln.Addr().String(), "partners", len(partners))
	})
	return nil
}

// outboundPartners compiles each partner's outbound section: its client
// with the payer's certificate, its token source and its allowlist.
func outboundPartners(cfg *config.File, eg *egress.Guard) (map[string]*gateway.OutboundPartner, error) {
	cert, err := pki.LoadTLSCertificate(cfg.Resolve(cfg.Outbound.CertFile), cfg.Resolve(cfg.Outbound.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("outbound.cert_file/outbound.key_file: %w", err)
	}
	key, err := loadPrivateJWK(cfg.Resolve(cfg.Outbound.AssertionKeyFile))
	if err != nil {
		return nil, fmt.Errorf("outbound.assertion_key_file: %w", err)
	}
	out := map[string]*gateway.OutboundPartner{}
	for i, p := range cfg.Partners {
		if p.Outbound == nil {
			continue
		}
		at := fmt.Sprintf("partners[%d].outbound", i)
		op, err := outboundPartner(cfg, eg, p.ID, p.Outbound, cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		op.Strict = cfg.StrictOn(p)
		op.Organization = congruence.Identifier{System: p.Organization.System, Value: p.Organization.Value}
		out[p.ID] = op
	}
	return out, nil
}

func outboundPartner(cfg *config.File, eg *egress.Guard, id string, po *config.PartnerOutbound, cert tls.Certificate, key *jose.JSONWebKey) (*gateway.OutboundPartner, error) {
	var roots *x509.CertPool // nil: the system roots
	if po.CAFile != "" {
		pool, err := pki.LoadCertPool(cfg.Resolve(po.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots = pool
	}
	// Every connection to the partner goes through the egress guard, which
	// checks the resolved address against egress.allow.
	client := eg.HTTPClient(egress.ClientOptions{RootCAs: roots, Certificate: &cert, Timeout: cfg.Upstream.Timeout})
	var allowed []fhirreq.Pattern
	for _, s := range po.Interactions {
		pats, err := fhirreq.ParsePattern(s)
		if err != nil {
			return nil, err
		}
		allowed = append(allowed, pats...)
	}
	base, err := url.Parse(po.FHIRBase)
	if err != nil {
		return nil, err
	}
	src := &tokenSource{client: client, tokenURL: po.TokenURL, clientID: po.ClientID, key: key, scope: strings.Join(po.Scopes, " ")}
	return &gateway.OutboundPartner{ID: id, Base: base, Client: client, Token: src.Token, Allowed: allowed}, nil
}

// tokenSource fetches access tokens from a partner's authorization server
// and reuses each until shortly before it expires.
type tokenSource struct {
	client   *http.Client
	tokenURL string
	clientID string
	key      *jose.JSONWebKey
	scope    string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// Token returns a cached token or fetches a new one.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Now().Before(s.expires) {
		return s.token, nil
	}
	resp, err := token.Fetch(ctx, s.client, s.tokenURL, s.clientID, s.key, s.scope)
	if err != nil {
		return "", err
	}
	s.token = resp.AccessToken
	s.expires = time.Now().Add(time.Duration(resp.ExpiresIn)*time.Second - 30*time.Second)
	return s.token, nil
}

// loadPrivateJWK reads the payer's private signing key.
func loadPrivateJWK(path string) (*jose.JSONWebKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s is not a JWK", path)
	}
	if k.IsPublic() || k.KeyID == "" {
		return nil, fmt.Errorf("%s must hold a private JWK with a kid", path)
	}
	return &k, nil
}

// publicJWKS returns the public JWK set of the payer's assertion key, served
// for partners whose authorization servers fetch it.
func publicJWKS(cfg *config.File) ([]byte, error) {
	if cfg.Outbound.AssertionKeyFile == "" {
		return nil, nil
	}
	k, err := loadPrivateJWK(cfg.Resolve(cfg.Outbound.AssertionKeyFile))
	if err != nil {
		return nil, fmt.Errorf("outbound.assertion_key_file: %w", err)
	}
	pub := k.Public()
	return json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
}
