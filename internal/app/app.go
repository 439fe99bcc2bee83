// Package app assembles a running Gatehouse from a configuration: the
// database, the exchange record store, the built-in payer service, the
// token service, the gateway pipeline and the inbound TLS listener.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/httpbody"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/metrics"
	"github.com/gatehouse-health/gatehouse/internal/netguard"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/token"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Options adjusts Start for tests and the demo.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// WrapRecords, when set, wraps the record store, for tests that need a
	// store that fails on demand.
	WrapRecords func(record.Store) record.Store
	// ConfigFile is the file cfg was loaded from, for line numbers in the
	// console's posture report; empty in development mode.
	ConfigFile string
	// SpanProcessor, when set, receives the spans in place of the OTLP
	// exporter, for tests that record them in memory. Tracing stays off
	// unless tracing.endpoint is set.
	SpanProcessor sdktrace.SpanProcessor
	// NotificationPoll is how often the notification sender looks for due
	// notifications; zero means the default of one second. The demo
	// shortens it so that a notification follows its decision at once.
	NotificationPoll time.Duration
	// PayerMembers are PAS request bundles whose patients the built-in
	// payer stores as members before it serves
	// (members.Store.AddRequestPatient). Development mode, the demo and
	// the load generator's own gateway pass the bundles their partner
	// sends. With a configuration file it is empty, so members come from
	// `gatehouse payer load` only.
	PayerMembers [][]byte
}

// Running is a started gateway.
type Running struct {
	Addr      net.Addr
	PublicURL string
	FHIRBase  string
	TokenURL  string
	// PayerURL is the built-in payer service's base URL, empty when the
	// upstream is external.
	PayerURL string
	DB       *storage.DB
	Records  record.Store
	Metrics  *metrics.Metrics
	// listeners counts the connections and HTTP/2 errors the inbound and
	// outbound listeners handle before any handler runs.
	listeners *listenerMetrics
	// AdminAddr is the admin listener's address, nil when it is disabled.
	AdminAddr net.Addr
	// OutboundAddr is the outbound listener's address, nil when it is
	// disabled.
	OutboundAddr net.Addr
	// ProxyAddr is the forward proxy's address, nil when it is disabled.
	ProxyAddr net.Addr

	// KillSwitch contains the engaged cuts.
	KillSwitch *killswitch.Switch

	server         *http.Server
	adminServer    *http.Server
	outboundServer *http.Server
	proxyServer    *http.Server
	conns          *connTracker
	sources        *netguard.Guard
	egress         *egress.Guard
	// egressRecords is Records once the audit log is open. Egress refusals
	// read it, and the log's witness sink can connect while the log opens.
	egressRecords atomic.Pointer[record.Store]
	certs         *certreload.Holder
	audit         *auditlog.Log
	auditKeys     *auditKeys
	payer         *payerServer
	payerService  *payer.Service // nil when the upstream is external
	// patientLinks contains the patients each partner named inbound, which
	// the outbound pipeline requires of every patient it sends a partner.
	patientLinks *patientlinks.Store
	pages        *pagelink.Sealer // seals search links into page tokens
	// checkers contains the strict mode checkers. It is nil when
	// strict.mode is off.
	checkers *strictCheckers
	// payerDB is the built-in payer service's handle on DB's file, with
	// commits that wait for the next exchange-record commit to be synced
	// (storage.DeferCommitSync). It is DB itself on PostgreSQL.
	payerDB *storage.DB
	// upstream is the client of forwarded requests.
	upstream   *http.Client
	payerKey   string      // secret the built-in payer service requires
	monitoring *monitoring // alerts and the console
	// pending holds the bound listeners that serve only once Start has
	// passed every check.
	pending    []pendingServe
	configFile string
	// bg scopes the background loops (kill-switch polling, retention);
	// Close cancels it.
	bg       context.Context
	cancelBG context.CancelFunc
	log      *slog.Logger
	// tracerProvider is a no-op provider when tracing is off;
	// shutdownTracing flushes the spans still queued.
	tracerProvider  trace.TracerProvider
	shutdownTracing func(context.Context) error
}

// Start opens everything cfg names and starts serving. It returns once the
// listener is bound; Close stops it.
func Start(ctx context.Context, cfg *config.File, opts Options) (_ *Running, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rt := &Running{log: log, Metrics: metrics.New()}
	rt.listeners = newListenerMetrics(rt.Metrics.Registry())
	rt.bg, rt.cancelBG = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			rt.closePending()
			rt.Close(context.Background())
		}
	}()

	storage.ReportCheckpoints(func(file string, err error) {
		if err != nil {
			log.Error("background checkpoint failed; the database's write-ahead log grows until one succeeds or, after a failed fsync, until Gatehouse restarts", "database", file, "error", err)
			return
		}
		log.Info("background checkpoints succeed again", "database", file)
	})
	if rt.DB, err = storage.Open(ctx, cfg.DatabaseURL()); err != nil {
		return nil, fmt.Errorf("%s: %w", databaseKey(cfg), err)
	}
	if rt.auditKeys, err = loadAuditKeys(cfg); err != nil {
		return nil, err
	}
	// The audit log's witnesses are reached through the egress guard, so
	// the guard exists first. It records refusals once Records is set.
	if rt.egress, err = rt.newEgressGuard(cfg, log); err != nil {
		return nil, err
	}
	if rt.audit, err = openAuditLog(ctx, cfg, rt.auditKeys, rt.DB, rt.egress, log, now); err != nil {
		return nil, err
	}
	rt.Records = rt.audit
	if opts.WrapRecords != nil {
		rt.Records = opts.WrapRecords(rt.Records)
	}
	rt.egressRecords.Store(&rt.Records)
	if err := rt.startKillSwitch(ctx, cfg, now); err != nil {
		return nil, err
	}
	go runRetention(rt.bg, rt.audit, cfg.Audit.Retention, log)

	if rt.sources, err = newSourceGuard(cfg, log); err != nil {
		return nil, err
	}
	// Bind first: the payer service needs the public URL, which contains the
	// bound port in development mode.
	ln, tlsConf, err := rt.listen(cfg, log)
	if err != nil {
		return nil, err
	}
	rt.Addr = ln.Addr()
	rt.setURLs(cfg, ln.Addr())
	upstream, err := rt.startUpstream(ctx, cfg, now, opts.PayerMembers)
	if err != nil {
		ln.Close()
		return nil, err
	}
	rt.registerPerimeterMetrics()
	if err := rt.startForwardProxy(cfg, rt.egress, log); err != nil {
		ln.Close()
		return nil, err
	}
	rt.configFile = opts.ConfigFile
	if err := rt.startMonitoring(ctx, cfg, log, now); err != nil {
		ln.Close()
		return nil, err
	}
	if err := rt.startAdmin(cfg, rt.adminRoutes(), log); err != nil {
		ln.Close()
		return nil, err
	}

	if err := rt.startTracing(ctx, cfg, opts, log); err != nil {
		ln.Close()
		return nil, err
	}
	gw, err := rt.buildGateway(ctx, cfg, upstream, log, now)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := rt.startOutbound(cfg, gw, log); err != nil {
		ln.Close()
		return nil, err
	}
	if err := rt.startNotifications(cfg, now, opts.NotificationPoll, log); err != nil {
		ln.Close()
		return nil, err
	}
	handler := http.Handler(gw)
	rt.server = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             rt.listeners.http2Config("inbound", cfg.Limits),
		ConnState:         rt.conns.track,
		ErrorLog:          serverErrorLog(log, "inbound"),
		// net/http responds to "OPTIONS *" with 200 itself, before the
		// handler, so the request would be neither refused nor recorded.
		// The gateway refuses and records it through its pipeline instead.
		DisableGeneralOptionsHandler: true,
	}

	// Every check passed: only now do the listeners accept connections.
	rt.servePending()
	go func() {
		if err := rt.server.Serve(tls.NewListener(ln, tlsConf)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("inbound listener stopped", "error", err)
		}
	}()
	log.Info("gateway listening", "addr", rt.Addr.String(), "fhir_base", rt.FHIRBase, "upstream", upstreamName(cfg))
	warnPlainUpstream(cfg, log)
	warnRelaxedStrict(cfg, log)
	return rt, nil
}

// pendingServe is a bound listener and the function that starts serving it.
type pendingServe struct {
	ln    net.Listener
	serve func()
}

// serveLater queues serve, which starts the server on ln, until Start has
// passed every check, so that a failed start accepts no connection and
// logs no "listening" line.
func (rt *Running) serveLater(ln net.Listener, serve func()) {
	rt.pending = append(rt.pending, pendingServe{ln: ln, serve: serve})
}

// servePending starts every queued server.
func (rt *Running) servePending() {
	for _, p := range rt.pending {
		p.serve()
	}
	rt.pending = nil
}

// closePending closes the listeners that never served. A server's
// Shutdown closes only the listeners its Serve was given.
func (rt *Running) closePending() {
	for _, p := range rt.pending {
		p.ln.Close()
	}
	rt.pending = nil
}

// Close stops the listener, the payer service and the database.
func (rt *Running) Close(ctx context.Context) error {
	var errs []error
	rt.cancelBG()
	if rt.server != nil {
		errs = append(errs, rt.server.Shutdown(ctx))
	}
	if rt.adminServer != nil {
		errs = append(errs, rt.adminServer.Shutdown(ctx))
	}
	if rt.outboundServer != nil {
		errs = append(errs, rt.outboundServer.Shutdown(ctx))
	}
	errs = append(errs, rt.closeProxy(ctx))
	if rt.shutdownTracing != nil {
		errs = append(errs, rt.shutdownTracing(ctx))
	}
	if rt.payer != nil {
		// A connection the client opened but never used counts as active
		// for up to 5 s in the payer server's Shutdown. Closing the
		// client's idle connections first lets Shutdown return at once.
		if rt.upstream != nil {
			rt.upstream.CloseIdleConnections()
		}
		errs = append(errs, rt.payer.close(ctx))
	}
	if rt.audit != nil {
		errs = append(errs, rt.audit.Close(ctx))
	}
	if rt.payerDB != nil && rt.payerDB != rt.DB {
		errs = append(errs, rt.payerDB.Close())
	}
	if rt.patientLinks != nil {
		errs = append(errs, rt.patientLinks.Close())
	}
	if rt.DB != nil {
		errs = append(errs, rt.DB.Close())
	}
	return errors.Join(errs...)
}

// setURLs derives the public URLs. When the configured public URL has port
// 0 (an ephemeral listener), the bound port replaces it.
func (rt *Running) setURLs(cfg *config.File, addr net.Addr) {
	u, _ := url.Parse(cfg.PublicURL) // validated by config
	if u.Port() == "0" {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(addr.(*net.TCPAddr).Port))
		cfg.PublicURL = u.String()
	}
	rt.PublicURL = cfg.PublicURL
	rt.FHIRBase = cfg.FHIRBase()
	rt.TokenURL = cfg.TokenURL()
}

func (rt *Running) buildGateway(ctx context.Context, cfg *config.File, upstream *url.URL, log *slog.Logger, now func() time.Time) (*gateway.Gateway, error) {
	partners, clients, err := loadPartners(cfg, rt.egress, rt.certs, log, now, rt.Metrics.ObserveJWKSFetch)
	if err != nil {
		return nil, err
	}
	if remote, ok := clients.(*token.RemoteKeys); ok {
		go remote.Prefetch(rt.bg)
	}
	tokens, err := newTokenServer(ctx, cfg, rt.DB, clients, now)
	if err != nil {
		return nil, err
	}
	upClient, err := upstreamClient(cfg, rt.payerKey, rt.payer, log)
	if err != nil {
		return nil, err
	}
	rt.upstream = upClient
	jwks, err := publicJWKS(cfg)
	if err != nil {
		return nil, err
	}
	enforced, shadow, err := newPolicies(cfg)
	if err != nil {
		return nil, err
	}
	var checker gateway.StrictChecker
	if cfg.Strict.Mode != "off" {
		rt.checkers = newStrictCheckers(cfg)
		shared, err := rt.checkers.get(cfg.Strict.UnknownProfiles == "warn")
		if err != nil {
			return nil, err
		}
		checker = shared
		for i, p := range cfg.Partners {
			if partners[p.ID].StrictChecker, err = rt.checkers.forPartner(cfg, p); err != nil {
				return nil, fmt.Errorf("partners[%d].strict_unknown_profiles: %w", i, err)
			}
		}
	}
	reader, err := auditlog.NewReader(ctx, rt.DB)
	if err != nil {
		return nil, err
	}
	if err := rt.openPatientLinks(ctx, cfg, log, now); err != nil {
		return nil, err
	}
	if rt.pages, err = newPageSealer(cfg); err != nil {
		return nil, err
	}
	return gateway.New(gateway.Options{
		Partners:           partners,
		PartnerOf:          pki.PartnerFromCertificate,
		Tokens:             tokens,
		Issuer:             tokens,
		TokenControl:       tokens,
		SmartConfiguration: token.SmartConfiguration(cfg.TokenURL(), cfg.RevocationURL(), allScopes(cfg)),
		JWKS:               jwks,
		Receipts:           reader,
		Records:            rt.Records,
		// Only the built-in payer service on SQLite writes to the
		// record's own file; on PostgreSQL every commit is durable anyway.
		UpstreamSharesRecordFile: rt.payerService != nil && rt.DB.Dialect == storage.SQLite,
		// The patient links and the record are both on rt.DB.
		LinksShareRecordFile: rt.DB.Dialect == storage.SQLite,
		Upstream:             upstream,
		UpstreamClient:       upClient,
		MaxBodyBytes:         cfg.Limits.MaxBodyBytes,
		BodyBudget:           httpbody.NewBudget(cfg.Limits.MaxBufferedBodyBytes),
		Observer:             rt.observer(),
		KillSwitch:           rt.KillSwitch,
		Sources:              rt.sources,
		VerifyConnection:     rt.certs.VerifyConnection,
		Policy:               enforced,
		ShadowPolicy:         shadow,
		Strict:               checker,
		TracerProvider:       rt.tracerProvider,
		Links:                rt.patientLinks,
		Pages:                rt.pages,
		PageLifetime:         cfg.Policy.PageTokenLifetime,
		PublicFHIRBase:       cfg.FHIRBase(),
		Logger:               log,
		Now:                  now,
	})
}

func upstreamName(cfg *config.File) string {
	if cfg.Upstream.URL == config.Builtin {
		return "builtin payer service"
	}
	u, _ := url.Parse(cfg.Upstream.URL)
	return u.Scheme + "://" + u.Host
}

// startKillSwitch loads the persisted cuts, polls for cuts engaged by other
// replicas, and closes the connections a new full cut covers.
func (rt *Running) startKillSwitch(ctx context.Context, cfg *config.File, now func() time.Time) error {
	sw, err := killswitch.Open(ctx, rt.DB, now, rt.log)
	if err != nil {
		return err
	}
	ids := make([]string, len(cfg.Partners))
	for i, p := range cfg.Partners {
		ids[i] = p.ID
	}
	sw.SetPartners(ids)
	rt.KillSwitch = sw
	rt.conns = newConnTracker()
	sw.OnEngage(func(added []*killswitch.Cut) {
		for _, c := range added {
			rt.log.Warn("kill switch engaged", "cut", c.ID, "mode", string(c.Mode), "scope", c.Scope, "direction", string(c.Direction), "by", c.EngagedBy)
		}
		if n := rt.conns.cut(added); n > 0 {
			rt.log.Warn("kill switch closed live connections", "count", n)
		}
	})
	go sw.Run(rt.bg)
	return nil
}

// databaseKey returns the configuration key that names the database.
func databaseKey(cfg *config.File) string {
	if cfg.Database.URL == "" {
		return "database.path"
	}
	return "database.url"
}

// warnPlainUpstream warns once at start-up when PHI and the gateway's
// identity headers would travel to the upstream in clear text over the
// network.
func warnPlainUpstream(cfg *config.File, log *slog.Logger) {
	if cfg.Upstream.URL == config.Builtin {
		return
	}
	u, err := url.Parse(cfg.Upstream.URL)
	if err != nil || u.Scheme != "http" {
		return
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	log.Warn("the upstream is reached over plain http: payloads and identity headers cross the network unencrypted; use https", "upstream", upstreamName(cfg))
}
