package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// payerServer is the built-in payer service on its loopback listener.
type payerServer struct {
	server  *http.Server
	addr    net.Addr
	handler http.Handler // the listener's handler, payer key check included
}

func (p *payerServer) close(ctx context.Context) error { return p.server.Shutdown(ctx) }

// startUpstream returns the upstream FHIR base URL, binding the built-in
// payer service first when it is the upstream. The payer service serves
// once Start has passed every check.
func (rt *Running) startUpstream(ctx context.Context, cfg *config.File, now func() time.Time, seed [][]byte) (*url.URL, error) {
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
	if err := rt.seedMembers(ctx, svc, seed); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Payer.Listen)
	if err != nil {
		return nil, fmt.Errorf("payer.listen: %w", err)
	}
	rt.payerKey = newPayerKey()
	handler := requirePayerKey(rt.payerKey, svc.Handler())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	rt.payer = &payerServer{server: srv, addr: ln.Addr(), handler: handler}
	rt.serveLater(ln, func() {
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				rt.log.Error("payer service stopped", "error", err)
			}
		}()
	})
	rt.PayerURL = "http://" + ln.Addr().String()
	return url.Parse(rt.PayerURL)
}

func (rt *Running) newPayerService(ctx context.Context, cfg *config.File, now func() time.Time) (*payer.Service, error) {
	opts := payer.Options{Now: now, MaxBodyBytes: cfg.Limits.MaxBodyBytes, Logger: rt.log,
		FHIRBase: cfg.FHIRBase(), Partners: notificationPartners(cfg), Records: rt.Records,
		SubscriptionRetention: cfg.Payer.SubscriptionRetention}
	if cfg.Payer.RulesFile != "" {
		rules, err := payer.LoadRules(cfg.Resolve(cfg.Payer.RulesFile))
		if err != nil {
			return nil, fmt.Errorf("payer.rules_file: %w", err)
		}
		opts.Rules = rules
	}
	// Every response of the service reaches a partner only after the
	// exchange record's response entry has committed with a full sync on
	// the same file, which makes the service's own earlier commits durable
	// too. Its commits therefore skip their own fsync.
	db, err := rt.DB.DeferCommitSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("payer: %w", err)
	}
	rt.payerDB = db
	svc, err := payer.New(rt.payerDB, opts)
	if err != nil {
		return nil, err
	}
	if err := svc.Migrate(ctx); err != nil {
		return nil, err
	}
	rt.payerService = svc
	// Decides pended items whose rule-table delay has passed.
	go svc.Run(rt.bg)
	return svc, nil
}

// seedMembers stores the patients of the seed bundles as members, then
// warns when the payer has no member at all, because it then rejects
// every Claim/$submit.
func (rt *Running) seedMembers(ctx context.Context, svc *payer.Service, seed [][]byte) error {
	store := svc.Members()
	for i, bundle := range seed {
		if err := store.AddRequestPatient(ctx, bundle); err != nil {
			return fmt.Errorf("payer: member from request bundle %d: %w", i+1, err)
		}
	}
	loaded, err := store.Any(ctx)
	if err != nil {
		return fmt.Errorf("payer: %w", err)
	}
	if !loaded {
		rt.log.Warn("the built-in payer has no members, so it rejects every Claim/$submit with reject reason 75; load them with 'gatehouse payer load'")
	}
	return nil
}

// payerKeyHeader carries the per-process secret with which the gateway
// proves itself to the built-in payer service. The service trusts the
// gateway's identity headers, so no other local process may reach it.
const payerKeyHeader = "X-Gatehouse-Upstream-Key"

func newPayerKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("app: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// requirePayerKey refuses requests without the gateway's secret.
func requirePayerKey(key string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(payerKeyHeader)), []byte(key)) != 1 {
			outcome.Write(w, http.StatusForbidden, outcome.New(outcome.CodeSecurity, "the payer service accepts requests from its gateway only"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// keyTransport adds the payer key to every request.
type keyTransport struct {
	key  string
	next http.RoundTripper
}

func (t keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(payerKeyHeader, t.key)
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the wrapped transport's idle connections.
// http.Client.CloseIdleConnections reaches a transport only through this
// method.
func (t keyTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// upstreamWriteBuffer is the size of each upstream HTTP/1.1 connection's
// write buffer. net/http (Go 1.26) writes a request body that does not fit
// the buffer through net.TCPConn.ReadFrom, which allocates a copy buffer
// of up to 32 KB for every request. With 64 KB per kept-alive connection,
// a PAS Bundle of typical size goes out with its headers without that
// allocation: the Synthea-derived load of bench/compare averages 7 KB, the
// shipped PAS referral example is 24 KB.
const upstreamWriteBuffer = 64 << 10

// upstreamClient is the HTTP client for forwarded requests. It never
// follows redirects: a redirect from the upstream is returned as is. With
// payer set (the built-in payer service is the upstream), requests for its
// listener are served in this process (inProcessTransport).
func upstreamClient(cfg *config.File, payerKey string, payer *payerServer, log *slog.Logger) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		WriteBufferSize:     upstreamWriteBuffer,
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
	var rtp http.RoundTripper = tr
	if payer != nil {
		rtp = inProcessTransport{host: payer.addr.String(), handler: payer.handler, next: tr, log: log}
	}
	if payerKey != "" {
		rtp = keyTransport{key: payerKey, next: rtp}
	}
	return &http.Client{
		Transport:     rtp,
		Timeout:       cfg.Upstream.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
