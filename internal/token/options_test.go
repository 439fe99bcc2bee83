package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"strings"
	"testing"
	"time"
)

func validOptions(t *testing.T) ServerOptions {
	t.Helper()
	replay, err := NewMemoryReplayCache(10, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ServerOptions{
		TokenURL:   "https://gatehouse.test/token",
		Issuer:     testIssuer,
		Audience:   testAudience,
		SigningKey: mustECKey(t, elliptic.P256()),
		Clients:    StaticClients{},
		Replay:     replay,
	}
}

func TestNewServerValidatesOptions(t *testing.T) {
	rsaKey := mustRSAKey(t).Key.(*rsa.PrivateKey)
	p384 := mustECKey(t, elliptic.P384())

	tests := []struct {
		name   string
		change func(*ServerOptions)
		option string // expected in the error
	}{
		{"TokenURL missing", func(o *ServerOptions) { o.TokenURL = "" }, "ServerOptions.TokenURL"},
		{"TokenURL over http", func(o *ServerOptions) { o.TokenURL = "http://gatehouse.test/token" }, "ServerOptions.TokenURL"},
		{"TokenURL relative", func(o *ServerOptions) { o.TokenURL = "/token" }, "ServerOptions.TokenURL"},
		{"TokenURL with query", func(o *ServerOptions) { o.TokenURL = "https://gatehouse.test/token?x=1" }, "ServerOptions.TokenURL"},
		{"Issuer missing", func(o *ServerOptions) { o.Issuer = "" }, "ServerOptions.Issuer"},
		{"Audience missing", func(o *ServerOptions) { o.Audience = "" }, "ServerOptions.Audience"},
		{"SigningKey missing", func(o *ServerOptions) { o.SigningKey = nil }, "ServerOptions.SigningKey"},
		{"SigningKey RSA", func(o *ServerOptions) { o.SigningKey = rsaKey }, "ServerOptions.SigningKey"},
		{"SigningKey P-384", func(o *ServerOptions) { o.SigningKey = p384 }, "ServerOptions.SigningKey"},
		{"Lifetime negative", func(o *ServerOptions) { o.Lifetime = -time.Second }, "ServerOptions.Lifetime"},
		{"Lifetime too long", func(o *ServerOptions) { o.Lifetime = MaxLifetime + time.Second }, "ServerOptions.Lifetime"},
		{"Clients missing", func(o *ServerOptions) { o.Clients = nil }, "ServerOptions.Clients"},
		{"Replay missing", func(o *ServerOptions) { o.Replay = nil }, "ServerOptions.Replay"},
		{"MaxAssertionBytes too small", func(o *ServerOptions) { o.MaxAssertionBytes = 100 }, "ServerOptions.MaxAssertionBytes"},
		{"MaxAssertionBytes too large", func(o *ServerOptions) { o.MaxAssertionBytes = 1 << 20 }, "ServerOptions.MaxAssertionBytes"},
		{"Skew negative", func(o *ServerOptions) { o.Skew = -time.Second }, "ServerOptions.Skew"},
		{"Skew too large", func(o *ServerOptions) { o.Skew = time.Hour }, "ServerOptions.Skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := validOptions(t)
			tt.change(&opts)
			srv, err := NewServer(opts)
			if err == nil {
				t.Fatalf("NewServer accepted the options")
			}
			if srv != nil {
				t.Error("NewServer returned a server with an error")
			}
			if !strings.Contains(err.Error(), tt.option) || !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("error %q does not name %s", err, tt.option)
			}
		})
	}
}

func TestNewServerDefaults(t *testing.T) {
	opts := validOptions(t)
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if srv.opts.Lifetime != DefaultLifetime || srv.opts.Skew != DefaultSkew || srv.opts.MaxAssertionBytes != DefaultMaxAssertionBytes {
		t.Errorf("defaults = %v, %v, %d", srv.opts.Lifetime, srv.opts.Skew, srv.opts.MaxAssertionBytes)
	}
	if srv.KeyID() == "" {
		t.Error("KeyID is empty; want the key thumbprint")
	}
	if !srv.PublicKey().Equal(&opts.SigningKey.(*ecdsa.PrivateKey).PublicKey) {
		t.Error("PublicKey is not the signing key's public key")
	}

	opts.KeyID = "gh-2026-03"
	srv, err = NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if srv.KeyID() != "gh-2026-03" {
		t.Errorf("KeyID = %q, want the configured one", srv.KeyID())
	}
}
