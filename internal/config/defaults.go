package config

import (
	"path/filepath"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Dir returns the directory relative paths are resolved against.
func (f *File) Dir() string { return f.dir }

// Resolve returns p made absolute against the configuration directory.
func (f *File) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

// DatabaseURL returns the URL to open the database with: database.url or
// database.path, a relative SQLite path resolved against the directory of
// the configuration file.
func (f *File) DatabaseURL() string {
	raw := f.Database.URL
	if raw == "" {
		raw = f.Database.Path
	}
	dialect, target, err := storage.ParseURL(raw)
	if err != nil || dialect != storage.SQLite {
		return raw
	}
	return "sqlite://" + f.Resolve(target)
}

// FHIRBase returns the public FHIR base URL.
func (f *File) FHIRBase() string { return strings.TrimRight(f.PublicURL, "/") + "/fhir" }

// TokenURL returns the public token endpoint URL.
func (f *File) TokenURL() string { return strings.TrimRight(f.PublicURL, "/") + "/oauth/token" }

// RevocationURL is the public URL of the token revocation endpoint (RFC
// 7009) on the inbound listener.
func (f *File) RevocationURL() string { return strings.TrimRight(f.PublicURL, "/") + "/oauth/revoke" }

// ApplyDefaults fills unset optional values of a File built in code.
func ApplyDefaults(f *File) { f.applyDefaults() }

// applyDefaults fills unset optional values.
func (f *File) applyDefaults() {
	if f.Limits.MaxBodyBytes == 0 {
		f.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if f.Limits.MaxBufferedBodyBytes == 0 {
		f.Limits.MaxBufferedBodyBytes = DefaultBufferedBodies * f.Limits.MaxBodyBytes
	}
	if f.Limits.MaxConnections == 0 {
		f.Limits.MaxConnections = DefaultMaxConnections
	}
	if f.Limits.MaxConnectionsPerSource == 0 {
		f.Limits.MaxConnectionsPerSource = min(DefaultMaxConnectionsPerSource, f.Limits.MaxConnections)
	}
	if f.Limits.HTTP2MaxConcurrentStreams == 0 {
		f.Limits.HTTP2MaxConcurrentStreams = DefaultHTTP2MaxConcurrentStreams
	}
	if f.Token.Lifetime == 0 {
		f.Token.Lifetime = DefaultTokenLifetime
	}
	if f.Policy.PageTokenLifetime == 0 {
		f.Policy.PageTokenLifetime = DefaultPageTokenLifetime
	}
	if f.Upstream.URL == "" {
		f.Upstream.URL = Builtin
	}
	if f.Upstream.Timeout == 0 {
		f.Upstream.Timeout = DefaultUpstreamTimeout
	}
	if f.Payer.Listen == "" {
		f.Payer.Listen = "127.0.0.1:0"
	}
	if f.Admin.ClientCAFile == "" {
		f.Admin.ClientCAFile = f.TLS.ClientCAFile
	}
	if f.Admin.MaxConnections == 0 {
		f.Admin.MaxConnections = DefaultAdminMaxConnections
	}
	if f.Admin.MaxConnectionsPerSource == 0 {
		f.Admin.MaxConnectionsPerSource = min(DefaultAdminMaxConnectionsPerSource, f.Admin.MaxConnections)
	}
	if f.Outbound.ClientCAFile == "" {
		f.Outbound.ClientCAFile = f.TLS.ClientCAFile
	}
	f.Alerts.applyDefaults()
	f.Tracing.applyDefaults()
	for i := range f.Partners {
		rl := &f.Partners[i].RateLimit
		if rl.RequestsPerSecond == 0 {
			rl.RequestsPerSecond = DefaultPartnerRate
		}
		if rl.Burst == 0 {
			rl.Burst = int(2 * rl.RequestsPerSecond)
		}
	}
}
