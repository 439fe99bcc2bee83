package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
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
					// so the administrators get a bundle of their own, as start-up
					// requires (TestPinnedPartnerCAInAdminPool).
					adminCAs, err := os.ReadFile(layout.CACertFile)
					if err != nil {
						t.Fatal(err)
					}
					cfg.Admin.ClientCAFile = filepath.Join(t.TempDir(), "admin-ca.pem")
					if err := os.WriteFile(cfg.Admin.ClientCAFile, adminCAs, 0o644); err != nil {
						t.Fatal(err)
					}
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

// A CA pinned for a partner by fingerprint sits in tls.client_ca_file.
// When the admin or outbound listener trusts that same bundle, the
// partner's CA could issue administrator or engine certificates, so the
// gateway does not start and names the key to set.
func TestPinnedPartnerCAInAdminPool(t *testing.T) {
	for _, listener := range []string{"admin", "outbound"} {
		t.Run(listener, func(t *testing.T) {
			dir := t.TempDir()
			cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
			if err != nil {
				t.Fatal(err)
			}
			partnerCA, err := pki.NewRoot(pki.RootOptions{CommonName: "Second EHR Root CA", KeyType: pki.ECDSAP256})
			if err != nil {
				t.Fatal(err)
			}
			bundle, err := os.OpenFile(layout.CACertFile, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := pem.Encode(bundle, &pem.Block{Type: "CERTIFICATE", Bytes: partnerCA.Certificate.Raw}); err != nil {
				t.Fatal(err)
			}
			bundle.Close()
			second := cfg.Partners[0]
			second.ID = secondPartnerID
			sum := sha256.Sum256(partnerCA.Certificate.Raw)
			second.IssuingCA = &config.IssuingCA{SHA256: hex.EncodeToString(sum[:])}
			cfg.Partners = append(cfg.Partners, second)
			cfg.Admin.Listen, cfg.Outbound.Listen = "", ""
			key := listener + ".client_ca_file"
			if listener == "admin" {
				cfg.Admin.Listen, cfg.Admin.ClientCAFile = "127.0.0.1:0", cfg.TLS.ClientCAFile
			} else {
				cfg.Outbound.Listen, cfg.Outbound.ClientCAFile = "127.0.0.1:0", cfg.TLS.ClientCAFile
			}

			rt, err := app.Start(context.Background(), cfg, app.Options{})
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("Start succeeded with a partner-pinned CA in the " + listener + " listener's bundle")
			}
			for _, want := range []string{key + ":", "partners[1].issuing_ca.sha256", "set " + key} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
