// Package admin serves the administrator's listener: Prometheus metrics,
// liveness and readiness. Every request must come over mutual TLS with a
// certificate that chains to the configured CA and carries an
// urn:gatehouse:admin: URI SAN; partner certificates are refused, so a
// partner can never reach the operations surface.
//
// An administrator's browser presents that certificate to any page that
// makes it send a request here, so the listener also rejects cross-site
// requests: a request whose Sec-Fetch-Site header names another origin
// gets 403, and a POST, PUT, PATCH or DELETE outside Options.FormPaths
// must carry Content-Type application/json (415 otherwise). Browsers send
// that media type to another origin only after a CORS preflight, which
// this listener never grants.
package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Options configures the admin handler. AdminOf is required.
type Options struct {
	// AdminOf extracts the administrator name from a verified certificate.
	AdminOf func(*x509.Certificate) (string, bool)
	// VerifyConnection, when set, is the listener's
	// tls.Config.VerifyConnection, run again on every request. The
	// handshake runs it once per connection, so without this an
	// administrator certificate revoked after the handshake could keep
	// engaging and releasing cuts on a connection opened before.
	VerifyConnection func(tls.ConnectionState) error
	// Metrics serves /metrics; nil leaves the route out.
	Metrics http.Handler
	// Ready reports whether the gateway can serve: database reachable,
	// record store accepting. nil means always ready.
	Ready func(ctx context.Context) error
	// FormPaths are path prefixes whose handlers accept browser forms and
	// check a CSRF token themselves, such as the console. Other
	// state-changing requests must be JSON.
	FormPaths []string
	Logger    *slog.Logger
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
		setSecurityHeaders(w.Header())
		name, ok := "", false
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			name, ok = opts.AdminOf(r.TLS.VerifiedChains[0][0])
		}
		if !ok {
			log.Warn("admin request refused: not an administrator certificate", "source", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "an administrator client certificate is required"})
			return
		}
		if opts.VerifyConnection != nil {
			if err := opts.VerifyConnection(*r.TLS); err != nil {
				log.Warn("admin request rejected: the certificate failed the CRL check", "admin", name, "source", r.RemoteAddr, "error", err)
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "the administrator certificate is revoked, or its CA's revocation list has expired"})
				return
			}
		}
		if !sameOrigin(r) {
			log.Warn("admin request rejected: cross-site request", "admin", name, "source", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site requests to the admin listener are rejected"})
			return
		}
		if changesState(r.Method) && !hasPrefix(r.URL.Path, opts.FormPaths) && !isJSON(r.Header.Values("Content-Type")) {
			log.Warn("admin request rejected: body is not JSON", "admin", name, "source", r.RemoteAddr)
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the request body as JSON, with Content-Type: application/json"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, name)))
	})
}

// setSecurityHeaders sets the headers every admin response carries,
// rejections included. An administrator may open the JSON routes (the work
// queue, the cuts) in the browser that has the administrator
// certificate, so the responses must not be cached, sniffed as another
// type or framed by another page. The console replaces the
// Content-Security-Policy with its own, which also forbids framing.
func setSecurityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}

// sameOrigin reports whether the browser's Sec-Fetch-Site header, when
// present, shows that the request came from this listener's own pages or from
// the user directly. Clients other than browsers send no such header.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// isJSON reports whether the request has exactly one Content-Type and it
// is application/json, a media type that HTML forms cannot send and that
// fetch sends to another origin only after a CORS preflight.
func isJSON(contentTypes []string) bool {
	if len(contentTypes) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentTypes[0])
	return err == nil && mt == "application/json"
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
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
