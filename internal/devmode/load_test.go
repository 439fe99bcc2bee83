package devmode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func TestPartnerKeysSignAndVerify(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})
	private, err := l.PartnerAssertionKey()
	if err != nil {
		t.Fatal(err)
	}
	set, err := l.PartnerJWKS()
	if err != nil {
		t.Fatal(err)
	}

	if private.Algorithm != "ES384" || private.KeyID == "" || private.IsPublic() {
		t.Errorf("assertion key alg=%q kid=%q public=%v, want private ES384 with a kid", private.Algorithm, private.KeyID, private.IsPublic())
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
		t.Fatalf("JWK set = %d keys, want one public key", len(set.Keys))
	}

	// A JWS signed with the private JWK must verify with the key that the
	// JWK set names by the same kid.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: private}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte("client assertion"))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		t.Fatal(err)
	}
	kid := parsed.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWK set has %d keys for kid %q, want 1", len(keys), kid)
	}
	payload, err := parsed.Verify(keys[0])
	if err != nil || string(payload) != "client assertion" {
		t.Errorf("Verify = %q, %v", payload, err)
	}
}

func TestKIDIsThumbprint(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})
	set, err := l.PartnerJWKS()
	if err != nil {
		t.Fatal(err)
	}
	key := set.Keys[0]
	thumbprint, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(thumbprint); key.KeyID != got {
		t.Errorf("kid = %q, want RFC 7638 thumbprint %q", key.KeyID, got)
	}
}

func TestTokenSigningKey(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})
	key, err := l.TokenSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("token key is %s, want ECDSA P-256", describeKey(key))
	}
}

func TestEnsureRejectsTamperedFiles(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, l *Layout)
		want   string
	}{
		{"client from another CA", func(t *testing.T, l *Layout) {
			other := ensureNew(t, filepath.Join(t.TempDir(), "other"), Options{})
			copyFile(t, other.ClientCertFile, l.ClientCertFile)
			copyFile(t, other.ClientKeyFile, l.ClientKeyFile)
		}, "does not verify"},
		{"server key swapped", func(t *testing.T, l *Layout) {
			copyFile(t, l.ClientKeyFile, l.ServerKeyFile)
		}, "does not match"},
		{"token key on P-384", func(t *testing.T, l *Layout) {
			key, err := pki.GenerateKey(pki.ECDSAP384)
			if err != nil {
				t.Fatal(err)
			}
			replaceKey(t, l.TokenKeyFile, key)
		}, "key type is ECDSA P-384, want ECDSA P-256"},
		{"JWK set for another key", func(t *testing.T, l *Layout) {
			other := ensureNew(t, filepath.Join(t.TempDir(), "other"), Options{})
			copyFile(t, other.JWKSFile, l.JWKSFile)
		}, "with kid"},
		{"private key in JWK set", func(t *testing.T, l *Layout) {
			private, err := os.ReadFile(l.AssertionKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, l.JWKSFile, []byte(`{"keys":[`+string(private)+`]}`))
		}, "contains a private key"},
		{"unknown marker version", func(t *testing.T, l *Layout) {
			writeFile(t, l.MarkerFile, []byte(`{"format":"gatehouse-devmode","version":2,"partner":"demo-ehr","created":"2026-01-01T00:00:00Z"}`))
		}, "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			l := ensureNew(t, dir, Options{})
			tt.tamper(t, l)

			_, _, err := Ensure(dir, Options{})
			if err == nil {
				t.Fatal("Ensure accepted a tampered layout")
			}
			for _, want := range []string{tt.want, "delete " + dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Count(err.Error(), "devmode: ") != 1 {
				t.Errorf("error %q repeats the devmode: prefix", err)
			}
		})
	}
}

func TestCorruptAssertionKeyErrorHidesContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l := ensureNew(t, dir, Options{})
	const secret = "c2VjcmV0LWtleS1tYXRlcmlhbA"
	writeFile(t, l.AssertionKeyFile, []byte(`{"kty":"EC","crv":"P-384","d":"`+secret+`",`))

	_, _, err := Ensure(dir, Options{})
	if err == nil {
		t.Fatal("Ensure accepted a corrupt assertion key")
	}
	if strings.Contains(err.Error(), secret[:8]) {
		t.Errorf("error %q quotes the key file", err)
	}
	if !strings.Contains(err.Error(), l.AssertionKeyFile) {
		t.Errorf("error %q does not name %s", err, l.AssertionKeyFile)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

// writeFile replaces path, keeping its mode.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func replaceKey(t *testing.T, path string, key crypto.Signer) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePrivateKeyFile(path, key); err != nil {
		t.Fatal(err)
	}
}
