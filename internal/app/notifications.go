package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	roots, err := pki.LoadCertPool(cfg.Resolve(caFile))
	if err != nil {
		return fmt.Errorf("payer.notifications.ca_file: %w", err)
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{Proxy: nil, TLSClientConfig: tlspolicy.Client(roots, &cert)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	_, port, _ := net.SplitHostPort(rt.OutboundAddr.String())
	hub, err := subscriptions.New(rt.DB, subscriptions.Options{
		FHIRBase: rt.FHIRBase,
		Partners: notificationPartners(cfg),
		Delivery: &subscriptions.Delivery{Client: client, OutboundURL: "https://localhost:" + port, PollInterval: poll},
		Now:      now,
		Logger:   log.With("component", "notifications"),
	})
	if err != nil {
		return err
	}
	go hub.Run(rt.bg)
	log.Info("notification sender started")
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
