package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/netguard"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// newSourceGuard compiles the inbound source allowlists. The
// configuration was validated, so parse errors here are unexpected.
func newSourceGuard(cfg *config.File, log *slog.Logger) (*netguard.Guard, error) {
	allow, err := netguard.ParseAllowlist(cfg.Network.AllowSources)
	if err != nil {
		return nil, fmt.Errorf("network.allow_sources: %w", err)
	}
	proxies, err := netguard.ParseAllowlist(cfg.Network.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("network.trusted_proxies: %w", err)
	}
	partners := map[string]*netguard.Allowlist{}
	for i, p := range cfg.Partners {
		if len(p.Sources) == 0 {
			continue
		}
		if partners[p.ID], err = netguard.ParseAllowlist(p.Sources); err != nil {
			return nil, fmt.Errorf("partners[%d].sources: %w", i, err)
		}
	}
	return netguard.New(netguard.Options{
		Allow: allow, Partners: partners, TrustedProxies: proxies,
		ProxyProtocol: cfg.Network.ProxyProtocol,
		Logger:        log.With("component", "netguard"),
	})
}

// newEgressGuard compiles the egress allowlist. Every refusal is logged
// and recorded in the audit log.
func (rt *Running) newEgressGuard(cfg *config.File, log *slog.Logger) (*egress.Guard, error) {
	return egress.New(egress.Options{
		Allow: cfg.Egress.Allow,
		OnDeny: func(d *egress.DeniedError) {
			log.Warn("egress refused", "host", d.Host, "port", d.Port, "address", d.Address, "rule", d.Rule)
			rt.recordEgress(&record.Entry{
				Phase: record.PhaseRefusal, Decision: record.Deny, Source: "gateway",
				Target: net.JoinHostPort(d.Host, strconv.Itoa(int(d.Port))), Rule: d.Rule, Reason: d.Error(),
				Status: http.StatusForbidden,
			}, log)
		},
	})
}

// recordEgress appends an entry about an outbound connection attempt. It
// runs on the attempt's path, so a store outage is logged, not returned:
// the attempt itself was already refused or made.
func (rt *Running) recordEgress(e *record.Entry, log *slog.Logger) {
	e.ExchangeID = record.NewExchangeID()
	e.Direction = "egress"
	e.Interaction = "egress"
	e.Received = time.Now()
	records := rt.egressRecords.Load()
	if records == nil {
		log.Error("egress attempt not recorded: the audit log is not open yet", "exchange", e.ExchangeID)
		return
	}
	ctx, cancel := context.WithTimeout(rt.bg, 10*time.Second)
	defer cancel()
	if _, err := (*records).Append(ctx, e); err != nil {
		log.Error("egress attempt not recorded", "exchange", e.ExchangeID, "error", err)
	}
}

// newCertHolder loads the inbound listener's certificate, client CAs
// (tls.client_ca_file and the partners' issuing CA files) and CRL, and
// reloads them when the files change.
func (rt *Running) newCertHolder(cfg *config.File, log *slog.Logger) (*certreload.Holder, error) {
	h, err := certreload.New(certreload.Options{
		CertFile:       cfg.Resolve(cfg.TLS.CertFile),
		KeyFile:        cfg.Resolve(cfg.TLS.KeyFile),
		ClientCAFile:   cfg.Resolve(cfg.TLS.ClientCAFile),
		PartnerCAFiles: partnerCAFiles(cfg),
		CRLFile:        cfg.Resolve(cfg.TLS.CRLFile),
		Interval:       cfg.TLS.ReloadInterval,
		OnExpiring: func(e certreload.Expiry) {
			log.Warn("certificate or CRL expires soon", "item", e.Item, "file", e.File, "not_after", e.NotAfter)
		},
		Logger: log.With("component", "certreload"),
		Keys:   certFileKeys(cfg),
	})
	if err != nil {
		return nil, err
	}
	go h.Run(rt.bg)
	return h, nil
}

// certFileKeys maps each file the certificate holder reads to the
// configuration key that names it. A partner issuing CA file that is also
// tls.client_ca_file keeps the tls key, because the holder reads it once.
func certFileKeys(cfg *config.File) map[string]string {
	keys := map[string]string{}
	for i, p := range cfg.Partners {
		if p.IssuingCA != nil && p.IssuingCA.CertFile != "" {
			keys[cfg.Resolve(p.IssuingCA.CertFile)] = fmt.Sprintf("partners[%d].issuing_ca.cert_file", i)
		}
	}
	keys[cfg.Resolve(cfg.TLS.CertFile)] = "tls.cert_file"
	keys[cfg.Resolve(cfg.TLS.KeyFile)] = "tls.key_file"
	keys[cfg.Resolve(cfg.TLS.ClientCAFile)] = "tls.client_ca_file"
	if cfg.TLS.CRLFile != "" {
		keys[cfg.Resolve(cfg.TLS.CRLFile)] = "tls.crl_file"
	}
	return keys
}

// listen binds the inbound listener behind the source guard, with TLS
// material that reloads without a restart.
func (rt *Running) listen(cfg *config.File, log *slog.Logger) (net.Listener, *tls.Config, error) {
	if err := checkIssuingCAs(cfg); err != nil {
		return nil, nil, err
	}
	holder, err := rt.newCertHolder(cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	rt.certs = holder
	tlsConf, err := holder.ServerConfig()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	// The caps apply below the source allowlist, which reads a PROXY
	// protocol header only in the connection's own goroutine.
	limited := rt.listeners.limitConns("inbound", ln, cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerSource,
		rt.sources.SendsProxyHeader)
	return rt.sources.Listen(limited), tlsConf, nil
}

// internalServerConfig returns the TLS configuration of a listener that
// presents tls.cert_file to clients of another CA pool: the admin and
// outbound listeners. The certificate and the CRLs come from the reloading
// holder, so a rotated server certificate and a new CRL reach these
// listeners without a restart.
func (rt *Running) internalServerConfig(clientCAs *x509.CertPool) (*tls.Config, error) {
	cert, err := rt.certs.GetCertificate(nil)
	if err != nil {
		return nil, err
	}
	conf, err := tlspolicy.Server(*cert, clientCAs)
	if err != nil {
		return nil, err
	}
	// crypto/tls calls GetCertificate only while Certificates is empty.
	conf.Certificates = nil
	conf.GetCertificate = rt.certs.GetCertificate
	// A revoked administrator or engine certificate is refused when
	// tls.crl_file holds its CA's CRL.
	conf.VerifyConnection = rt.certs.VerifyRevocation
	return conf, nil
}

// startForwardProxy binds the CONNECT proxy that forces the integration
// engine's own egress through the allowlist, when configured. It serves
// once Start has passed every check.
func (rt *Running) startForwardProxy(cfg *config.File, eg *egress.Guard, log *slog.Logger) error {
	fpc := cfg.Egress.ForwardProxy
	if fpc.Listen == "" {
		return nil
	}
	clients, err := netguard.ParseAllowlist(fpc.AllowClients)
	if err != nil {
		return fmt.Errorf("egress.forward_proxy.allow_clients: %w", err)
	}
	pg, err := netguard.New(netguard.Options{Allow: clients, Logger: log.With("component", "forward-proxy")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fpc.Listen)
	if err != nil {
		return fmt.Errorf("egress.forward_proxy.listen: %w", err)
	}
	rt.ProxyAddr = ln.Addr()
	fp := &egress.ForwardProxy{Guard: eg, OnAttempt: func(a egress.ProxyAttempt) {
		e := &record.Entry{Source: a.Client, Method: a.Method, Target: a.Target}
		if a.Allowed {
			log.Info("forward proxy connection", "client", a.Client, "target", a.Target)
			e.Phase, e.Decision, e.Rule, e.Status = record.PhaseResponse, record.Allow, "egress.proxy", http.StatusOK
		} else {
			log.Warn("forward proxy refused", "client", a.Client, "target", a.Target, "error", a.Err)
			e.Phase, e.Decision, e.Rule, e.Status = record.PhaseRefusal, record.Deny, "egress.proxy.denied", http.StatusForbidden
			if a.Err != nil {
				e.Reason = a.Err.Error()
			}
		}
		rt.recordEgress(e, log)
	}}
	// "OPTIONS *" goes to the proxy, which refuses and records every
	// method but CONNECT, rather than getting net/http's own 200.
	rt.proxyServer = &http.Server{Handler: fp, ReadHeaderTimeout: 10 * time.Second, DisableGeneralOptionsHandler: true}
	srv := rt.proxyServer
	rt.serveLater(ln, func() {
		go func() {
			if err := srv.Serve(pg.Listen(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("forward proxy stopped", "error", err)
			}
		}()
	})
	return nil
}

// registerPerimeterMetrics exports the source guard's counters and the
// certificates' expiry.
func (rt *Running) registerPerimeterMetrics() {
	reg := rt.Metrics.Registry()
	stat := func(name, help string, get func(netguard.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(rt.sources.Stats())) }))
	}
	stat("gatehouse_connections_accepted_total", "Inbound connections that passed the source allowlist.",
		func(s netguard.Stats) uint64 { return s.Accepted })
	stat("gatehouse_connections_refused_total", "Inbound connections refused by the global source allowlist, before TLS.",
		func(s netguard.Stats) uint64 { return s.RefusedGlobal })
	stat("gatehouse_partner_source_refused_total", "Requests refused because the partner connected from outside its networks.",
		func(s netguard.Stats) uint64 { return s.RefusedPartner })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_killswitch_cuts_engaged",
		Help: "Kill-switch cuts in force.",
	}, func() float64 { return float64(len(rt.KillSwitch.Cuts())) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_audit_checkpoint_age_seconds",
		Help: "Seconds since the audit log's latest signed checkpoint; -1 before the first.",
	}, rt.checkpointAge))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_tls_certificate_expiry_timestamp_seconds",
		Help: "NotAfter of the inbound listener's server certificate, as a Unix time.",
	}, func() float64 { return float64(rt.certs.NotAfter().Unix()) }))
}

// checkpointAge reads the latest checkpoint's signing time at scrape time.
func (rt *Running) checkpointAge() float64 {
	ctx, cancel := context.WithTimeout(rt.bg, 2*time.Second)
	defer cancel()
	reader, err := auditlog.NewReader(ctx, rt.DB)
	if err != nil {
		return -1
	}
	cp, err := reader.LatestCheckpoint(ctx)
	if err != nil || cp == nil {
		return -1
	}
	return time.Since(cp.Created).Seconds()
}

// closeProxy stops the forward proxy.
func (rt *Running) closeProxy(ctx context.Context) error {
	if rt.proxyServer == nil {
		return nil
	}
	return rt.proxyServer.Shutdown(ctx)
}
