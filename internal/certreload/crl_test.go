package certreload

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func TestRevokedClientRefused(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	var verified verifyLog
	h.onVerify = verified.record
	addr := serve(t, h)
	revoked := ca.issueClient(t, "acme-ehr")
	good := ca.issueClient(t, "other-ehr")

	ca.revoke(t, revoked.Leaf.SerialNumber)
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	if _, err := connect(addr, ca.clientConfig(revoked, 0)); err == nil {
		t.Error("revoked client certificate accepted")
	}
	var revokedErr *RevokedError
	if call := verified.last(t); !errors.As(call.err, &revokedErr) || revokedErr.Serial.Cmp(revoked.Leaf.SerialNumber) != 0 {
		t.Errorf("VerifyConnection error = %v, want a RevokedError for the serial", call.err)
	}
	if _, err := connect(addr, ca.clientConfig(good, 0)); err != nil {
		t.Errorf("unrevoked client refused: %v", err)
	}
}

// TestResumedSessionAfterRevocation revokes a client whose session ticket
// is cached and reconnects. With the default per-generation ticket keys the
// old ticket is not resumed, and the full handshake is refused. With the
// keys kept across the reload, the session is resumed and VerifyConnection
// refuses it.
func TestResumedSessionAfterRevocation(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, keepKeys := range []bool{false, true} {
			name := tls.VersionName(version) + map[bool]string{false: "/new ticket keys", true: "/kept ticket keys"}[keepKeys]
			t.Run(name, func(t *testing.T) {
				ca := newTestCA(t)
				h, err := New(ca.options(nil))
				if err != nil {
					t.Fatal(err)
				}
				h.keepTicketKeys = keepKeys
				var verified verifyLog
				h.onVerify = verified.record
				addr := serve(t, h)
				cert := ca.issueClient(t, "acme-ehr")
				client := ca.clientConfig(cert, version)

				if _, err := connect(addr, client); err != nil {
					t.Fatalf("first connection: %v", err)
				}
				state, err := connect(addr, client)
				if err != nil || !state.DidResume {
					t.Fatalf("second connection: resumed %v, error %v; want a resumed session", state.DidResume, err)
				}

				ca.revoke(t, cert.Leaf.SerialNumber)
				if changed, err := h.Reload(); !changed || err != nil {
					t.Fatalf("Reload = %v, %v", changed, err)
				}
				if _, err := connect(addr, client); err == nil {
					t.Fatal("connection after revocation succeeded")
				}
				call := verified.last(t)
				var revokedErr *RevokedError
				if !errors.As(call.err, &revokedErr) {
					t.Errorf("VerifyConnection error = %v, want a RevokedError", call.err)
				}
				if call.resumed != keepKeys {
					t.Errorf("refused handshake resumed = %v, want %v", call.resumed, keepKeys)
				}
			})
		}
	}
}

func TestCRLFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, ca *testCA) Options
		want  string
	}{
		{"no CRL from the client's issuer", func(t *testing.T, ca *testCA) Options {
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
				ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca.root.Certificate, ca.root.Key)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, ca.crlFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
			return ca.options(nil)
		}, "no CRL from issuer"},
		{"CRL past its next update", func(t *testing.T, ca *testCA) Options {
			opts := ca.options(nil)
			opts.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
			return opts
		}, "expired"},
		{"CRL signed by another key", func(t *testing.T, ca *testCA) Options {
			key, err := pki.GenerateKey(pki.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(5),
				ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca.issuing.Certificate, key)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, ca.crlFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
			return ca.options(nil)
		}, "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			h, err := New(tt.setup(t, ca))
			if err != nil {
				t.Fatal(err)
			}
			var verified verifyLog
			h.onVerify = verified.record
			addr := serve(t, h)
			if _, err := connect(addr, ca.clientConfig(ca.issueClient(t, "acme-ehr"), 0)); err == nil {
				t.Fatal("client accepted")
			}
			if call := verified.last(t); call.err == nil || !strings.Contains(call.err.Error(), tt.want) {
				t.Errorf("VerifyConnection error = %v, want one containing %q", call.err, tt.want)
			}
		})
	}
}

// TestVerifyRevocation checks the rule of the admin and outbound
// listeners: the CRL file applies to the certificates of the CAs it
// covers, in full, and a CA it does not cover is not checked.
func TestVerifyRevocation(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	chain := func(c tls.Certificate, cas ...*pki.CA) tls.ConnectionState {
		out := []*x509.Certificate{c.Leaf}
		for _, a := range cas {
			out = append(out, a.Certificate)
		}
		return tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{out}}
	}
	revoked, good := ca.issueClient(t, "secops"), ca.issueClient(t, "iris")
	ca.revoke(t, revoked.Leaf.SerialNumber)
	if _, err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	other, otherCert := newPartnerRoot(t, "separately managed admin CA")

	var revokedErr *RevokedError
	if err := h.VerifyRevocation(chain(revoked, ca.issuing, ca.root)); !errors.As(err, &revokedErr) {
		t.Errorf("revoked certificate of a covered CA: error %v, want a RevokedError", err)
	}
	if err := h.VerifyRevocation(chain(good, ca.issuing, ca.root)); err != nil {
		t.Errorf("certificate of a covered CA that is not revoked: %v", err)
	}
	if err := h.VerifyRevocation(chain(otherCert, other)); err != nil {
		t.Errorf("certificate of a CA the CRL file does not cover: %v", err)
	}
	if err := h.VerifyConnection(chain(otherCert, other)); err == nil {
		t.Error("VerifyConnection accepted a certificate whose issuer has no CRL; partners' listener must fail closed")
	}
	h.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if err := h.VerifyRevocation(chain(good, ca.issuing, ca.root)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("covered CA whose CRL expired: error %v, want the expiry", err)
	}
}

// TestCRLsOfCAsWithOneName loads the CRLs of two CAs that share their
// subject names but not their keys, as two runs of `gatehouse pki init`
// without --org create: the partners' CA and a separately managed admin
// CA. The file is valid, and each CRL applies to its own CA's
// certificates only.
func TestCRLsOfCAsWithOneName(t *testing.T) {
	partners, admins := newTestCA(t), newTestCA(t)
	revokedAdmin, goodAdmin := admins.issueClient(t, "secops"), admins.issueClient(t, "iris")
	admins.revoke(t, revokedAdmin.Leaf.SerialNumber)
	partner := partners.issueClient(t, "acme-ehr")
	nextUpdate := time.Now().Add(24 * time.Hour)
	writeFile(t, partners.crlFile, append(partners.signCRL(t, 5, nextUpdate), admins.signCRL(t, 2, nextUpdate)...))

	h, err := New(partners.options(nil))
	if err != nil {
		t.Fatalf("CRL file with the CRLs of two CAs of one name: %v", err)
	}
	chain := func(c tls.Certificate, ca *testCA) tls.ConnectionState {
		return tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c.Leaf, ca.issuing.Certificate, ca.root.Certificate}}}
	}
	var revokedErr *RevokedError
	if err := h.VerifyRevocation(chain(revokedAdmin, admins)); !errors.As(err, &revokedErr) {
		t.Errorf("revoked certificate of the second CA: error %v, want a RevokedError", err)
	}
	if err := h.VerifyRevocation(chain(goodAdmin, admins)); err != nil {
		t.Errorf("certificate of the second CA that is not revoked: %v", err)
	}
	if err := h.VerifyConnection(chain(partner, partners)); err != nil {
		t.Errorf("certificate of the first CA: %v", err)
	}

	// A reload compares each CRL number with the previous CRL of the same
	// CA, whatever the order of the CRLs in the file.
	writeFile(t, partners.crlFile, append(admins.signCRL(t, 3, nextUpdate), partners.signCRL(t, 5, nextUpdate)...))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Errorf("reload with the CRLs in the other order: changed %v, error %v", changed, err)
	}
	writeFile(t, partners.crlFile, append(admins.signCRL(t, 3, nextUpdate), partners.signCRL(t, 4, nextUpdate)...))
	if _, err := h.Reload(); err == nil || !strings.Contains(err.Error(), "went back") {
		t.Errorf("reload with the first CA's CRL number lowered: error %v, want the CRL number going back", err)
	}
}
