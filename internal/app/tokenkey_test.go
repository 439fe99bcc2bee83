package app

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// TestTokenSigningKeyWrongType starts from a token.signing_key_file that
// contains a key other than ECDSA P-256, as 'openssl genrsa' or a P-384 curve
// produce. The error must name the configuration key, the file, the key
// it found and the command that creates a usable one.
func TestTokenSigningKeyWrongType(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384Key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tests := []struct {
		name  string
		key   crypto.Signer
		found string
	}{
		{"rsa", rsaKey, "an RSA 2048-bit key"},
		{"p384", p384Key, "an ECDSA P-384 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token-signing-key.pem")
			if err := pki.WritePrivateKeyFile(path, tt.key); err != nil {
				t.Fatal(err)
			}
			cfg := &config.File{PublicURL: "https://gatehouse.payer.example:8443"}
			cfg.Token.SigningKeyFile = path
			_, err := newTokenServer(context.Background(), cfg, db, nil, time.Now)
			if err == nil {
				t.Fatal("the key was accepted")
			}
			msg := err.Error()
			for _, want := range []string{"token.signing_key_file: " + path, tt.found, "ECDSA P-256", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

// TestTokenSigningKeyP256 accepts the key the runbook's openssl command
// creates.
func TestTokenSigningKeyP256(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token-signing-key.pem")
	if err := pki.WritePrivateKeyFile(path, key); err != nil {
		t.Fatal(err)
	}
	if _, err := loadTokenSigningKey(path); err != nil {
		t.Errorf("P-256 key rejected: %v", err)
	}
}
