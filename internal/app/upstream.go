package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// payerServer is the built-in payer service on its loopback listener.
type payerServer struct {
	server *http.Server
	addr   net.Addr
}

func (p *payerServer) close(ctx context.Context) error { return p.server.Shutdown(ctx) }

// startUpstream returns the upstream FHIR base URL, starting the built-in
// payer service first when it is the upstream.
func (rt *Running) startUpstream(ctx context.Context, cfg *config.File, now func() time.Time) (*url.URL, error) {
	if cfg.Upstream.URL != config.Builtin {
		return url.Parse(cfg.Upstream.URL)
	}
	host, _, _ := net.SplitHostPort(cfg.Payer.Listen)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// The built-in service trusts the gateway's identity headers, so it
		// must be reachable from this host only.
		return nil, fmt.Errorf("payer.listen: %q is not a loopback address", cfg.Payer.Listen)
	}
	svc, err := rt.newPayerService(ctx, cfg, now)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Payer.Listen)
	if err != nil {
		return nil, fmt.Errorf("payer.listen: %w", err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	rt.payer = &payerServer{server: srv, addr: ln.Addr()}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.log.Error("payer service stopped", "error", err)
		}
	}()
	rt.PayerURL = "http://" + ln.Addr().String()
	return url.Parse(rt.PayerURL)
}

func (rt *Running) newPayerService(ctx context.Context, cfg *config.File, now func() time.Time) (*payer.Service, error) {
	opts := payer.Options{Now: now, MaxBodyBytes: cfg.Limits.MaxBodyBytes, Logger: rt.log}
	if cfg.Payer.RulesFile != "" {
		rules, err := payer.LoadRules(cfg.Resolve(cfg.Payer.RulesFile))
		if err != nil {
			return nil, fmt.Errorf("payer.rules_file: %w", err)
		}
		opts.Rules = rules
	}
	svc, err := payer.New(rt.DB, opts)
	if err != nil {
		return nil, err
	}
	if err := svc.Migrate(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// upstreamClient is the HTTP client for forwarded requests. It never
// follows redirects: a redirect from the upstream is returned as is.
func upstreamClient(cfg *config.File) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	if cfg.Upstream.CAFile != "" {
		pool, err := pki.LoadCertPool(cfg.Resolve(cfg.Upstream.CAFile))
		if err != nil {
			return nil, fmt.Errorf("upstream.ca_file: %w", err)
		}
		tr.TLSClientConfig = tlspolicy.Client(pool, nil)
	} else {
		tr.TLSClientConfig = tlspolicy.Client(nil, nil)
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       cfg.Upstream.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
