package certreload

import (
	"crypto/sha256"
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// newPartnerRoot makes a second private CA, as a partner that runs its own
// would, and a client certificate it issued.
func newPartnerRoot(t *testing.T, name string) (*pki.CA, tls.Certificate) {
	t.Helper()
	root, err := pki.NewRoot(pki.RootOptions{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := root.IssueClient(pki.ClientOptions{PartnerID: "acme-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return root, tc
}

func TestPartnerCAFileJoinsTrustPool(t *testing.T) {
	ca := newTestCA(t)
	partner, partnerClient := newPartnerRoot(t, "partner root")
	partnerFile := filepath.Join(ca.dir, "partner-ca.pem")
	writeFile(t, partnerFile, pki.EncodeCertificatesPEM([][]byte{partner.Certificate.Raw}))

	opts := ca.options(nil)
	opts.CRLFile = "" // the partner CA publishes no CRL in this test
	withoutPartner, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(serve(t, withoutPartner), ca.clientConfig(partnerClient, 0)); err == nil {
		t.Fatal("a certificate of an untrusted CA was accepted")
	}

	opts.PartnerCAFiles = []string{partnerFile}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, h)
	if _, err := connect(addr, ca.clientConfig(partnerClient, 0)); err != nil {
		t.Fatalf("certificate of the partner CA refused: %v", err)
	}
	if _, err := connect(addr, ca.clientConfig(ca.issueClient(t, "acme-ehr"), 0)); err != nil {
		t.Fatalf("certificate of the configured client CA refused: %v", err)
	}
	want := sha256.Sum256(partner.Certificate.Raw)
	if got := h.ClientCAFingerprints(partnerFile); len(got) != 1 || got[0] != want {
		t.Errorf("ClientCAFingerprints(partner file) = %x, want [%x]", got, want)
	}
	if got := h.ClientCAFingerprints(ca.caFile); len(got) != 1 || got[0] != sha256.Sum256(ca.root.Certificate.Raw) {
		t.Errorf("ClientCAFingerprints(client CA file) = %x, want the root's", got)
	}
	if got := h.ClientCAFingerprints(filepath.Join(ca.dir, "other.pem")); got != nil {
		t.Errorf("ClientCAFingerprints(unknown file) = %x, want nil", got)
	}
}

func TestPartnerCAFileReloads(t *testing.T) {
	ca := newTestCA(t)
	first, firstClient := newPartnerRoot(t, "partner root 1")
	second, secondClient := newPartnerRoot(t, "partner root 2")
	partnerFile := filepath.Join(ca.dir, "partner-ca.pem")
	writeFile(t, partnerFile, pki.EncodeCertificatesPEM([][]byte{first.Certificate.Raw}))
	opts := ca.options(nil)
	opts.CRLFile = ""
	opts.PartnerCAFiles = []string{partnerFile}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, h)

	writeFile(t, partnerFile, pki.EncodeCertificatesPEM([][]byte{second.Certificate.Raw}))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want a new generation", changed, err)
	}
	if _, err := connect(addr, ca.clientConfig(secondClient, 0)); err != nil {
		t.Fatalf("certificate of the rotated-in partner CA refused: %v", err)
	}
	if _, err := connect(addr, ca.clientConfig(firstClient, 0)); err == nil {
		t.Error("certificate of the rotated-out partner CA still accepted")
	}
	if got := h.ClientCAFingerprints(partnerFile); len(got) != 1 || got[0] != sha256.Sum256(second.Certificate.Raw) {
		t.Errorf("ClientCAFingerprints after reload = %x, want the second root's", got)
	}

	writeFile(t, partnerFile, pki.EncodeCertificatesPEM([][]byte{secondClient.Leaf.Raw}))
	if changed, err := h.Reload(); changed || err == nil {
		t.Errorf("Reload of a partner CA file holding a leaf = %v, %v; want an error", changed, err)
	}
}

func TestPartnerCAFilesNeedClientCAFile(t *testing.T) {
	ca := newTestCA(t)
	opts := ca.options(nil)
	opts.ClientCAFile, opts.CRLFile = "", ""
	opts.PartnerCAFiles = []string{ca.caFile}
	if _, err := New(opts); err == nil {
		t.Error("New with PartnerCAFiles and no ClientCAFile succeeded")
	}
}
