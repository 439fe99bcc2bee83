package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// A partner that runs its own issuing CA can put any URI SAN in the
// certificates it issues, an administrator's included. Its CA must never
// let those certificates reach the admin listener.
func TestPartnerCAIssuedAdminRejected(t *testing.T) {
	for _, byFingerprint := range []bool{false, true} {
		name := "issuing_ca.cert_file"
		if byFingerprint {
			name = "issuing_ca.sha256 in tls.client_ca_file"
		}
		t.Run(name, func(t *testing.T) {
			if byFingerprint {
				// NOTE: the gateway starts with a partner's issuing CA in the
				// administrators' bundle, and only gatehouse posture reports it
				// (GH-ADM-003, at medium severity), so that partner can engage
				// and release cuts as any administrator name it chooses.
				t.Skip("known gap: a partner's own CA pinned by fingerprint in tls.client_ca_file issues valid administrator certificates while admin.client_ca_file is left at its default")
			}
			partnerCA, err := pki.NewRoot(pki.RootOptions{CommonName: "Second EHR Root CA", KeyType: pki.ECDSAP256})
			if err != nil {
				t.Fatal(err)
			}
			edit := func(cfg *config.File, layout *devmode.Layout) {
				second := cfg.Partners[0]
				second.ID = secondPartnerID
				second.Organization.Value = "1245319599"
				if byFingerprint {
					// The partner's CA joins the bundle of tls.client_ca_file,
					// which admin.client_ca_file defaults to.
					bundle, err := os.OpenFile(layout.CACertFile, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					if err := pem.Encode(bundle, &pem.Block{Type: "CERTIFICATE", Bytes: partnerCA.Certificate.Raw}); err != nil {
						t.Fatal(err)
					}
					bundle.Close()
					sum := sha256.Sum256(partnerCA.Certificate.Raw)
					second.IssuingCA = &config.IssuingCA{SHA256: hex.EncodeToString(sum[:])}
				} else {
					caFile := filepath.Join(t.TempDir(), "second-ca.pem")
					if err := pki.WriteCertificateFile(caFile, [][]byte{partnerCA.Certificate.Raw}); err != nil {
						t.Fatal(err)
					}
					second.IssuingCA = &config.IssuingCA{CertFile: caFile}
				}
				cfg.Partners = append(cfg.Partners, second)
			}
			h := newHarness(t, harnessOptions{edit: edit})
			_, adminURL := h.adminClient()

			forged, err := partnerCA.IssueAdmin(pki.AdminOptions{Name: "dev-admin"})
			if err != nil {
				t.Fatal(err)
			}
			cert, err := forged.TLSCertificate()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h.adminAttackClient(&cert).Post(adminURL+"/killswitch", "application/json", strings.NewReader(engageBody))
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 403 {
					t.Errorf("administrator certificate from a partner's CA: status %d: %s", resp.StatusCode, body)
				}
			}
			h.assertNoCut(name)
		})
	}
}
