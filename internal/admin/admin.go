// Package admin serves the administrator's listener: Prometheus metrics,
// liveness and readiness. Every request must come over mutual TLS with a
// certificate that chains to the configured CA and carries an
// urn:gatehouse:admin: URI SAN; partner certificates are refused, so a
// partner can never reach the operations surface.
package admin

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Options configures the admin handler. AdminOf is required.
type Options struct {
	// AdminOf extracts the administrator name from a verified certificate.
	AdminOf func(*x509.Certificate) (string, bool)
	// Metrics serves /metrics; nil leaves the route out.
	Metrics http.Handler
	// Ready reports whether the gateway can serve: database reachable,
	// record store accepting. nil means always ready.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
}

// Handler returns the admin HTTP handler. extra routes, such as the kill
// switch, are mounted on the same authenticated mux.
func Handler(opts Options, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if opts.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := opts.Ready(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	return requireAdmin(opts, mux)
}

// requireAdmin refuses requests whose verified client certificate is not an
// administrator's.
func requireAdmin(opts Options, next http.Handler) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := "", false
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			name, ok = opts.AdminOf(r.TLS.VerifiedChains[0][0])
		}
		if !ok {
			log.Warn("admin request refused: not an administrator certificate", "source", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "an administrator client certificate is required"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, name)))
	})
}

type adminKey struct{}

// Name returns the authenticated administrator of a request handled by
// Handler.
func Name(ctx context.Context) string {
	name, _ := ctx.Value(adminKey{}).(string)
	return name
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
