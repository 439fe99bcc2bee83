package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePrivateKeyPEM checks that the parser never panics and that any
// key it accepts survives an encode and parse round trip unchanged.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, kind := range []KeyType{ECDSAP256, ECDSAP384} {
		key, err := GenerateKey(kind)
		if err != nil {
			f.Fatal(err)
		}
		data, err := EncodePrivateKeyPEM(key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		encoded, err := EncodePrivateKeyPEM(key)
		if err != nil {
			t.Fatalf("accepted key does not encode: %v", err)
		}
		again, err := ParsePrivateKeyPEM(encoded)
		if err != nil {
			t.Fatalf("encoded key does not parse: %v", err)
		}
		if !publicKeysEqual(key.Public(), again.Public()) {
			t.Fatal("round trip changed the key")
		}
	})
}

// FuzzPartnerURI checks that every id ValidateID accepts round-trips through
// a URI SAN, and that PartnerFromCertificate accepts no id ValidateID rejects.
func FuzzPartnerURI(f *testing.F) {
	// "a#" once read back as "a", because net/url drops an empty fragment.
	for _, seed := range []string{"demo-ehr", "a", "epic.prod-1", "Demo", "a:b", "-a", "a%2Db", "", "a#", "a?"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		cert, err := buildCertWithURIs(PartnerURI(id))
		if err != nil {
			// Go's x509 parser rejects some URI strings outright.
			if ValidateID(id) == nil {
				t.Fatalf("valid id %q gives an unusable certificate: %v", id, err)
			}
			return
		}
		got, ok := PartnerFromCertificate(cert)
		switch {
		case ValidateID(id) == nil && (!ok || got != id):
			t.Fatalf("valid id %q read back as %q, %v", id, got, ok)
		case ValidateID(id) != nil && ok:
			t.Fatalf("invalid id %q accepted as %q", id, got)
		}
	})
}

// TestNoVerificationBypass rejects the tls.Config field that turns off
// certificate verification anywhere in this package or devmode, tests
// included.
func TestNoVerificationBypass(t *testing.T) {
	banned := []byte("Insecure" + "SkipVerify")
	for _, dir := range []string{".", "../devmode"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, banned) {
				t.Errorf("%s uses %s", path, banned)
			}
		}
	}
}
