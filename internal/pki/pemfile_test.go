package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestWriteFilesModes(t *testing.T) {
	dir := t.TempDir()
	ca := newTestRoot(t, 0)
	c, err := ca.IssueClient(ClientOptions{PartnerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := c.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}

	if got := fileMode(t, keyPath); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	// The umask may remove bits from 0644 but never adds any.
	if got := fileMode(t, certPath); got&^0o644 != 0 || got&0o400 == 0 {
		t.Errorf("certificate file mode = %04o, want 0644 or narrower and owner-readable", got)
	}
}

func TestWriteRefusesExistingFile(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyPath, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}

	err = WritePrivateKeyFile(keyPath, key)
	if err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("overwriting %s: err = %v, want an error naming it", keyPath, err)
	}
	if data, _ := os.ReadFile(keyPath); string(data) != "keep me" {
		t.Errorf("existing file changed to %q", data)
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	dir := t.TempDir()
	root := newTestRoot(t, 1)
	inter, err := root.NewIntermediate(IntermediateOptions{CommonName: "Issuing", KeyType: ECDSAP384})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := inter.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}

	loaded, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if Fingerprint(loaded.Certificate) != Fingerprint(inter.Certificate) {
		t.Error("loaded CA certificate differs from the written one")
	}
	if len(loaded.Parents) != 1 || Fingerprint(loaded.Root()) != Fingerprint(root.Certificate) {
		t.Errorf("loaded CA has %d parents, want the root only", len(loaded.Parents))
	}

	// The loaded CA must still issue leaves that chain to the root.
	loaded.Now = fixedClock(testNow)
	leaf, err := loaded.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Chain) != 2 {
		t.Errorf("leaf chain has %d certificates, want 2", len(leaf.Chain))
	}
}

func TestLoadCARejectsMismatchedKey(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestRoot(t, 0), newTestRoot(t, 0)
	certPath := filepath.Join(dir, "ca.pem")
	if err := WriteCertificateFile(certPath, [][]byte{a.Certificate.Raw}); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "other-key.pem")
	if err := WritePrivateKeyFile(keyPath, b.Key); err != nil {
		t.Fatal(err)
	}

	_, err := LoadCA(certPath, keyPath)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadCA with another CA's key: err = %v, want mismatch", err)
	}
}

func TestLoadCARejectsLeaf(t *testing.T) {
	dir := t.TempDir()
	ca := newTestRoot(t, 0)
	c, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")
	if err := c.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}

	_, err = LoadCA(certPath, keyPath)
	if err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
		t.Errorf("LoadCA of a leaf: err = %v, want not a CA", err)
	}
}

func TestLoadTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestRoot(t, 0)
	c, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "s.pem"), filepath.Join(dir, "s-key.pem")
	otherKey := filepath.Join(dir, "o-key.pem")
	if err := c.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateKeyFile(otherKey, other.Key); err != nil {
		t.Fatal(err)
	}

	tc, err := LoadTLSCertificate(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadTLSCertificate: %v", err)
	}
	if tc.Leaf == nil || Fingerprint(tc.Leaf) != c.Fingerprint() {
		t.Error("loaded leaf differs from the written certificate")
	}
	_, err = LoadTLSCertificate(certPath, otherKey)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: err = %v, want mismatch", err)
	}
}

func TestLoadCertPool(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestRoot(t, 0), newTestRoot(t, 0)
	path := filepath.Join(dir, "bundle.pem")
	bundle := append([]byte("Explanatory text is allowed before a block.\n"),
		EncodeCertificatesPEM([][]byte{a.Certificate.Raw, b.Certificate.Raw})...)
	if err := os.WriteFile(path, bundle, 0o644); err != nil {
		t.Fatal(err)
	}

	pool, err := LoadCertPool(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*CA{a, b} {
		if _, err := ca.Certificate.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow}); err != nil {
			t.Errorf("root %s not in pool: %v", Fingerprint(ca.Certificate), err)
		}
	}
}

func TestParseCertificatesRejects(t *testing.T) {
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no CERTIFICATE PEM block"},
		{"private key", keyPEM, `PEM block 1 is "PRIVATE KEY"`},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), "PEM block 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCertificatesPEM(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParsePrivateKeyRejects(t *testing.T) {
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	good, err := EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(good)
	corrupt := bytes.Clone(block.Bytes)
	corrupt[len(corrupt)/2] ^= 0xff

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no private key PEM block"},
		{"two blocks", append(bytes.Clone(good), good...), "unexpected data after"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: block.Bytes}), "encrypted private keys are not supported"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), `PEM block is "CERTIFICATE"`},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: corrupt}), "invalid PRIVATE KEY"},
		{"SEC 1 as PKCS 1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: block.Bytes}), "invalid RSA PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKeyPEM(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err.Error(), tt.data)
		})
	}
}

// assertNoKeyMaterial fails if msg quotes any 8-character run of the PEM
// body in data, or any 4-byte run of its DER as hex.
func assertNoKeyMaterial(t *testing.T, msg string, data []byte) {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		return
	}
	body := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "-----") {
			continue
		}
		for i := 0; i+8 <= len(line); i++ {
			if strings.Contains(msg, line[i:i+8]) {
				t.Fatalf("error %q quotes PEM body %q", msg, line[i:i+8])
			}
		}
	}
	for i := 0; i+4 <= len(block.Bytes); i++ {
		if strings.Contains(msg, hex.EncodeToString(block.Bytes[i:i+4])) {
			t.Fatalf("error %q quotes DER bytes", msg)
		}
	}
}

func TestLoadRejectsOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(path, make([]byte, maxPrivateKeyFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPrivateKey(path)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want size limit error", err)
	}
}
