package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/admin"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/console"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// startAdmin binds the administrators' listener when admin.listen is set;
// it serves once Start has passed every check.
// It presents the inbound listener's server certificate, reloaded with it,
// and requires administrator client certificates.
func (rt *Running) startAdmin(cfg *config.File, extra map[string]http.Handler, log *slog.Logger) error {
	if cfg.Admin.Listen == "" {
		return nil
	}
	pool, err := pki.LoadCertPool(cfg.Resolve(cfg.Admin.ClientCAFile))
	if err != nil {
		return fmt.Errorf("admin.client_ca_file: %w", err)
	}
	tlsConf, err := rt.internalServerConfig(pool)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	rt.AdminAddr = ln.Addr()
	// The admin listener has no source allowlist, so these caps alone bound
	// the connections and handshakes that any client able to reach it can
	// hold open.
	ln = rt.listeners.limitConns("admin", ln, cfg.Admin.MaxConnections, cfg.Admin.MaxConnectionsPerSource, nil)
	h := admin.Handler(admin.Options{
		AdminOf:          pki.AdminFromCertificate,
		VerifyConnection: tlsConf.VerifyConnection,
		Metrics:          rt.Metrics.Handler(),
		Ready:            rt.ready,
		// The console's forms carry its own CSRF token.
		FormPaths: []string{console.Prefix},
		Logger:    log,
	}, extra)
	rt.adminServer = &http.Server{
		Handler:   h,
		TLSConfig: tlsConf,
		// net/http bounds the TLS handshake by the shortest of
		// ReadHeaderTimeout, ReadTimeout and WriteTimeout, so a client that
		// stalls its handshake holds a slot for at most 10 seconds.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             rt.listeners.http2Config("admin", adminHTTP2Limits(cfg)),
		ErrorLog:          serverErrorLog(log, "admin"),
		// Otherwise net/http itself replies 200 to "OPTIONS *" from any
		// client certificate of the CA, before requireAdmin checks and logs it.
		DisableGeneralOptionsHandler: true,
	}
	srv := rt.adminServer
	rt.serveLater(ln, func() {
		go func() {
			if err := srv.Serve(tls.NewListener(ln, tlsConf)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin listener stopped", "error", err)
			}
		}()
		log.Info("admin listening", "addr", ln.Addr().String())
	})
	return nil
}

// adminHTTP2Limits returns the limits that size the admin listener's
// HTTP/2 settings: the stream cap of limits.http2_max_concurrent_streams
// and the admin API's own body cap.
func adminHTTP2Limits(cfg *config.File) config.Limits {
	return config.Limits{
		MaxBodyBytes:              admin.MaxBodyBytes,
		HTTP2MaxConcurrentStreams: cfg.Limits.HTTP2MaxConcurrentStreams,
	}
}

// ready reports whether the database responds to a ping.
func (rt *Running) ready(ctx context.Context) error {
	if err := rt.DB.PingContext(ctx); err != nil {
		return errors.New("database unreachable")
	}
	return nil
}
