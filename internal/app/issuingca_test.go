package app_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// secondPartnerID is a partner with its own CA, registered so that the
// gateway trusts two CAs.
const secondPartnerID = "second-ehr"

// twoCASetup is a development gateway that trusts the development CA and a
// second partner's own CA, and certificates the second CA issued.
type twoCASetup struct {
	h *harness
	// forged names the development partner but was issued by the second
	// partner's CA.
	forged tls.Certificate
	// second names the second partner and was issued by its own CA.
	second tls.Certificate
}

// newTwoCASetup starts the gateway with the development CA as the
// development partner's issuing CA (registered by fingerprint when
// byFingerprint is true, by file otherwise) and a second partner whose
// issuing CA is a new root.
func newTwoCASetup(t *testing.T, byFingerprint bool) *twoCASetup {
	t.Helper()
	secondCA, err := pki.NewRoot(pki.RootOptions{CommonName: "Second EHR Root CA", KeyType: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	s := &twoCASetup{
		forged: issueTLS(t, secondCA, app.DevPartner),
		second: issueTLS(t, secondCA, secondPartnerID),
	}
	edit := func(cfg *config.File, layout *devmode.Layout) {
		caFile := filepath.Join(t.TempDir(), "second-ca.pem")
		if err := pki.WriteCertificateFile(caFile, [][]byte{secondCA.Certificate.Raw}); err != nil {
			t.Fatal(err)
		}
		devCA, err := pki.LoadCertificates(layout.CACertFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Partners[0].IssuingCA = &config.IssuingCA{CertFile: layout.CACertFile}
		if byFingerprint {
			sum := sha256.Sum256(devCA[0].Raw)
			cfg.Partners[0].IssuingCA = &config.IssuingCA{SHA256: hex.EncodeToString(sum[:])}
		}
		second := cfg.Partners[0]
		second.ID = secondPartnerID
		second.Organization.Value = "1245319599"
		second.IssuingCA = &config.IssuingCA{CertFile: caFile}
		cfg.Partners = append(cfg.Partners, second)
	}
	s.h = newHarness(t, harnessOptions{edit: edit})
	return s
}

func issueTLS(t *testing.T, ca *pki.CA, partnerID string) tls.Certificate {
	t.Helper()
	c, err := ca.IssueClient(pki.ClientOptions{PartnerID: partnerID, KeyType: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// clientWith returns an mTLS client presenting cert.
func (h *harness) clientWith(cert tls.Certificate) *http.Client {
	h.t.Helper()
	roots, err := h.layout.CAPool()
	if err != nil {
		h.t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert)}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// ehrWith returns a partner client that presents cert and signs assertions
// for partnerID with the development partner's assertion key, as an
// attacker holding that key would.
func (h *harness) ehrWith(cert tls.Certificate, partnerID string) *ehrclient.Client {
	h.t.Helper()
	key, err := h.layout.PartnerAssertionKey()
	if err != nil {
		h.t.Fatal(err)
	}
	roots, err := h.layout.CAPool()
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := ehrclient.New(ehrclient.Options{PublicURL: h.rt.PublicURL, ClientID: partnerID,
		AssertionKey: key, Certificate: cert, Roots: roots, Scope: app.DevScopes})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.CloseIdle)
	return c
}

func TestIssuingCARejectsOtherTrustedCA(t *testing.T) {
	for _, tt := range []struct {
		name          string
		byFingerprint bool
	}{{"by file", false}, {"by fingerprint", true}} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTwoCASetup(t, tt.byFingerprint)
			h := s.h
			tok := h.accessToken()

			// The certificate names the partner and chains to a CA the
			// listener trusts, so only the issuer check can reject it.
			resp := h.send(h.clientWith(s.forged), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}, shippedBundle(t))
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403; body %s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "security" {
				t.Errorf("issue code = %q, want security", code)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("recorded %+v, want one identity.issuer denial", entries)
			}
			if entries[0].Rule != "identity.issuer" {
				t.Errorf("recorded rule = %q, want identity.issuer", entries[0].Rule)
			}
			if entries[0].Decision != record.Deny {
				t.Errorf("recorded decision = %q, want %q", entries[0].Decision, record.Deny)
			}
			if n := h.upstream.count.Load(); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}

			// The same certificate cannot obtain a token either, even with
			// the partner's assertion key.
			_, err := h.ehrWith(s.forged, app.DevPartner).Token(context.Background())
			var re *token.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("token request with the forged certificate: %v, want HTTP 401 invalid_client", err)
			}
			if re.Status != http.StatusUnauthorized {
				t.Errorf("token request with the forged certificate: status = %d, want 401", re.Status)
			}
			if re.Code != "invalid_client" {
				t.Errorf("token request with the forged certificate: error = %q, want invalid_client", re.Code)
			}
			if !recordedRule(t, h, app.DevPartner, "identity.issuer", "token") {
				t.Error("the refused token request was not recorded as identity.issuer")
			}

			// The second partner's own certificate, from the same CA, works.
			if _, err := h.ehrWith(s.second, secondPartnerID).Token(context.Background()); err != nil {
				t.Errorf("second partner's token request: %v", err)
			}
			// And the development partner's genuine certificate still does.
			resp = h.send(h.http1Client(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + tok}}, nil)
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("genuine certificate: status %d, body %s", resp.StatusCode, body)
			}
		})
	}
}

// recordedRule reports whether an entry of the partner's with the rule and
// interaction was recorded.
func recordedRule(t *testing.T, h *harness, partner, rule, interaction string) bool {
	t.Helper()
	list, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{Partner: partner})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Rule == rule && e.Interaction == interaction {
			return true
		}
	}
	return false
}

func TestIssuingCAStartErrorsNameKey(t *testing.T) {
	tests := []struct {
		name string
		ca   func(t *testing.T, layout *devmode.Layout) *config.IssuingCA
		want string
	}{
		{"fingerprint of no trusted CA", func(*testing.T, *devmode.Layout) *config.IssuingCA {
			return &config.IssuingCA{SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
		}, "partners[0].issuing_ca.sha256: no certificate in tls.client_ca_file"},
		{"fingerprint not in the partner's file", func(_ *testing.T, layout *devmode.Layout) *config.IssuingCA {
			return &config.IssuingCA{CertFile: layout.CACertFile, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
		}, "partners[0].issuing_ca.sha256: no certificate in partners[0].issuing_ca.cert_file"},
		{"leaf certificate as CA", func(_ *testing.T, layout *devmode.Layout) *config.IssuingCA {
			return &config.IssuingCA{CertFile: layout.ClientCertFile}
		}, "partners[0].issuing_ca.cert_file: certificate"},
		{"missing file", func(t *testing.T, _ *devmode.Layout) *config.IssuingCA {
			return &config.IssuingCA{CertFile: filepath.Join(t.TempDir(), "absent.pem")}
		}, "partners[0].issuing_ca.cert_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Partners[0].IssuingCA = tt.ca(t, layout)
			rt, err := app.Start(context.Background(), cfg, app.Options{})
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("Start accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
