package cadir

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func initCA(t *testing.T, opts InitOptions) *Dir {
	t.Helper()
	d, err := Init(filepath.Join(t.TempDir(), "ca"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readCRL(t *testing.T, d *Dir) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(d.Path, CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("crl.pem has no X509 CRL block")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(d.Issuing.Certificate); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	return crl
}

func TestInitLayout(t *testing.T) {
	for _, offline := range []bool{false, true} {
		t.Run(map[bool]string{false: "online root", true: "offline root"}[offline], func(t *testing.T) {
			d := initCA(t, InitOptions{KeyType: pki.ECDSAP384, OfflineRoot: offline})
			modes := map[string]os.FileMode{
				MetaFile: 0o644, RootCertFile: 0o644, IssuingFile: 0o644, IssuingKeyFile: 0o600,
				CRLFile: 0o644, IndexFile: 0o644,
			}
			rootKey := RootKeyFile
			if offline {
				rootKey = OfflineRootKeyFile
				if _, err := os.Stat(filepath.Join(d.Path, RootKeyFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists with an offline root", RootKeyFile)
				}
			}
			modes[rootKey] = 0o600
			for name, want := range modes {
				fi, err := os.Stat(filepath.Join(d.Path, name))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s mode %o, want %o", name, got, want)
				}
			}

			opened, err := Open(d.Path)
			if err != nil {
				t.Fatal(err)
			}
			if opened.Meta.KeyType != pki.ECDSAP384 || opened.Meta.OfflineRoot != offline {
				t.Errorf("meta = %+v", opened.Meta)
			}
			if err := opened.Issuing.Certificate.CheckSignatureFrom(opened.Root.Leaf); err != nil {
				t.Errorf("issuing CA not signed by the root: %v", err)
			}
			if crl := readCRL(t, opened); crl.Number.Int64() != 1 || len(crl.RevokedCertificateEntries) != 0 {
				t.Errorf("initial CRL number %s with %d entries, want 1 and none", crl.Number, len(crl.RevokedCertificateEntries))
			}
		})
	}
}

func TestInitRefusesExistingCA(t *testing.T) {
	d := initCA(t, InitOptions{})
	if _, err := Init(d.Path, InitOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second Init = %v, want a not-empty error", err)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotCADir) {
		t.Errorf("Open of an empty directory = %v, want ErrNotCADir", err)
	}
}

func TestIssueRevokeCRL(t *testing.T) {
	d := initCA(t, InitOptions{})
	npi, _ := pki.NPIURI("8189991234")
	client, rec, err := d.IssueClient(pki.ClientOptions{PartnerID: "acme-ehr", OrganizationURIs: []string{npi}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != KindClient || rec.Serial != client.Leaf.SerialNumber.Text(16) ||
		strings.Join(rec.Usages, ",") != "clientAuth" || strings.Join(rec.Names, ",") != "urn:gatehouse:partner:acme-ehr,"+npi {
		t.Errorf("record = %+v", rec)
	}
	if _, err := os.Stat(filepath.Join(d.Path, IssuedDir, rec.Serial+".pem")); err != nil {
		t.Errorf("issued copy: %v", err)
	}
	server, srec, err := d.IssueServer(pki.ServerOptions{DNSNames: []string{"gateway.payer.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(srec.Usages, ",") != "serverAuth" {
		t.Errorf("server usages %v", srec.Usages)
	}

	// Colons and upper case, as openssl prints serials, are accepted.
	revoked, err := d.Revoke(colonHex(rec.Serial), "keyCompromise")
	if err != nil {
		t.Fatal(err)
	}
	if !revoked.Revoked() || revoked.RevocationReason != "keyCompromise" {
		t.Errorf("revoked record = %+v", revoked)
	}
	crl := readCRL(t, d)
	if crl.Number.Int64() != 2 || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL number %s with %d entries, want 2 with 1", crl.Number, len(crl.RevokedCertificateEntries))
	}
	entry := crl.RevokedCertificateEntries[0]
	if entry.SerialNumber.Cmp(client.Leaf.SerialNumber) != 0 || entry.ReasonCode != 1 {
		t.Errorf("CRL entry serial %x reason %d", entry.SerialNumber, entry.ReasonCode)
	}
	if crl.NextUpdate.Sub(crl.ThisUpdate) < DefaultCRLValidity {
		t.Errorf("CRL next update %s is less than %s after this update %s", crl.NextUpdate, DefaultCRLValidity, crl.ThisUpdate)
	}
	if len(crl.RevokedCertificateEntries) == 1 && entry.SerialNumber.Cmp(server.Leaf.SerialNumber) == 0 {
		t.Error("the server certificate was revoked")
	}

	if _, err := d.Revoke(rec.Serial, "keyCompromise"); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("second revoke = %v", err)
	}
	if _, err := d.Revoke("abc", "keyCompromise"); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("revoke of an unknown serial = %v", err)
	}
	if _, err := d.Revoke(srec.Serial, "certificateHold"); err == nil || !strings.Contains(err.Error(), "unknown revocation reason") {
		t.Errorf("revoke with certificateHold = %v", err)
	}
	if number, err := d.WriteCRL(time.Hour); err != nil || number != 3 {
		t.Errorf("WriteCRL = %d, %v; want number 3", number, err)
	}
}

func colonHex(s string) string {
	if len(s)%2 == 1 {
		s = "0" + s
	}
	var parts []string
	for i := 0; i < len(s); i += 2 {
		parts = append(parts, strings.ToUpper(s[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func TestLockExclusive(t *testing.T) {
	d := initCA(t, InitOptions{})
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(); err == nil {
		t.Error("second Lock succeeded while the first is held")
	}
	unlock()
	unlock2, err := d.Lock()
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestIndexStrict(t *testing.T) {
	d := initCA(t, InitOptions{})
	os.WriteFile(filepath.Join(d.Path, IndexFile), []byte(`{"version":1,"crl_number":1,"certificates":[],"extra":true}`), 0o644)
	if _, err := d.LoadIndex(); err == nil {
		t.Error("index with an unknown field was accepted")
	}
}

// Init makes missing parent directories, so that CAs can sit side by side
// under one new directory.
func TestInitIntoEmptyDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(path, InitOptions{}); err != nil {
		t.Fatalf("Init into an empty directory: %v", err)
	}
	if _, err := Open(path); err != nil {
		t.Errorf("Open after Init: %v", err)
	}
}

func TestInitMakesParents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca", "partner")
	if _, err := Init(path, InitOptions{}); err != nil {
		t.Fatalf("Init under a missing parent: %v", err)
	}
	if _, err := Open(path); err != nil {
		t.Errorf("Open after Init: %v", err)
	}
	info, err := os.Stat(filepath.Dir(path))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("parent directory: %v, mode %v; want one made with mode 0700", err, info.Mode().Perm())
	}
}
