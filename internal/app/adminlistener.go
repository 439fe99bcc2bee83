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
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
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

// ready reports whether the database responds to a ping.
func (rt *Running) ready(ctx context.Context) error {
	if err := rt.DB.PingContext(ctx); err != nil {
		return errors.New("database unreachable")
	}
	return nil
}
