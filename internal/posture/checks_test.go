package posture

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// checkCase is one configuration for one check, derived from the hardened
// example by mutate (nil keeps it), and the status the check must report.
type checkCase struct {
	id     string
	name   string
	mutate func(t *testing.T, fx *fixture, tg *Target)
	want   Status
	// sev, when set, is the severity the failing finding must have.
	sev Severity
}

func cfgOf(tg *Target) *config.File { return tg.Config }

var checkCases = []checkCase{
	{"GH-TLS-001", "policy", nil, Pass, 0},
	{"GH-TLS-001", "tls10", func(t *testing.T, fx *fixture, tg *Target) { tg.Listeners[0].TLS.MinVersion = tls.VersionTLS10 }, Fail, High},
	{"GH-TLS-001", "no tls13", func(t *testing.T, fx *fixture, tg *Target) { tg.Outbound.MaxVersion = tls.VersionTLS12 }, Fail, Medium},
	{"GH-TLS-002", "policy", nil, Pass, 0},
	{"GH-TLS-002", "cbc suite", func(t *testing.T, fx *fixture, tg *Target) {
		tg.Listeners[1].TLS.CipherSuites = append(tg.Listeners[1].TLS.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)
	}, Fail, High},
	{"GH-TLS-002", "go defaults", func(t *testing.T, fx *fixture, tg *Target) { tg.Outbound.CipherSuites = nil }, Fail, High},
	{"GH-TLS-003", "policy", nil, Pass, 0},
	{"GH-TLS-003", "optional cert", func(t *testing.T, fx *fixture, tg *Target) {
		tg.Listeners[1].TLS.ClientAuth = tls.VerifyClientCertIfGiven
	}, Fail, High},
	{"GH-TLS-004", "valid", nil, Pass, 0},
	{"GH-TLS-004", "expires soon", func(t *testing.T, fx *fixture, tg *Target) { tg.Now = serverNotAfter(t, tg).Add(-10 * 24 * time.Hour) }, Fail, Medium},
	{"GH-TLS-004", "expired", func(t *testing.T, fx *fixture, tg *Target) { tg.Now = serverNotAfter(t, tg).Add(time.Hour) }, Fail, High},
	{"GH-TLS-004", "wrong key", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).TLS.KeyFile = "pki/token-signing-key.pem" }, Fail, High},
	{"GH-TLS-005", "valid", nil, Pass, 0},
	{"GH-TLS-005", "leaf in bundle", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Upstream.CAFile = "pki/server.pem" }, Fail, High},
	{"GH-TLS-005", "ca expired", func(t *testing.T, fx *fixture, tg *Target) { tg.Now = fx.partnerCA.Certificate.NotAfter.Add(time.Hour) }, Fail, High},
	{"GH-TLS-006", "private", nil, Pass, 0},
	{"GH-TLS-006", "public root", func(t *testing.T, fx *fixture, tg *Target) {
		tg.PublicRoots = x509.NewCertPool()
		tg.PublicRoots.AddCert(fx.partnerCA.Certificate)
	}, Fail, High},
	{"GH-TLS-006", "no system roots", func(t *testing.T, fx *fixture, tg *Target) { tg.PublicRoots = nil }, Error, Low},
	{"GH-TLS-007", "matching", nil, Pass, 0},
	{"GH-TLS-007", "other host", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).PublicURL = "https://other.payer.example:8443" }, Fail, High},
	{"GH-TLS-008", "partner and admin CRLs", nil, Pass, 0},
	{"GH-TLS-008", "no CRL file", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).TLS.CRLFile = "" }, Fail, Medium},
	{"GH-TLS-008", "CRL past next update", func(t *testing.T, fx *fixture, tg *Target) { tg.Now = time.Now().Add(crlValidity + time.Hour) }, Fail, Medium},
	{"GH-TLS-008", "certificate in CRL file", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).TLS.CRLFile = "pki/partner-ca.pem" }, Fail, Medium},
	{"GH-TLS-008", "FIFO CRL file", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).TLS.CRLFile = fifoAt(t, fx.file("pki/fifo-crl"))
	}, Fail, Medium},
	{"GH-TLS-008", "two CRLs from one issuer", func(t *testing.T, fx *fixture, tg *Target) {
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA, fx.adminCA, fx.partnerCA)
	}, Fail, Medium},
	{"GH-TLS-008", "admin CA named as the partner CA", func(t *testing.T, fx *fixture, tg *Target) {
		// Two runs of gatehouse pki init without --org name their CAs alike.
		admin := newRoot(t, fx.partnerCA.Certificate.Subject.CommonName)
		writeCA(t, admin, fx.file("pki/second-admin-ca.pem"))
		cfgOf(tg).Admin.ClientCAFile = "pki/second-admin-ca.pem"
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA, admin)
	}, Pass, 0},
	{"GH-TLS-008", "invalid signature", func(t *testing.T, fx *fixture, tg *Target) {
		der := signCRL(t, fx.partnerCA, time.Now().Add(crlValidity))
		der[len(der)-1] ^= 0xff // the last byte belongs to the signature
		data := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: signCRL(t, fx.adminCA, time.Now().Add(crlValidity))})...)
		mustWrite(t, fx.file("pki/crl.pem"), data)
	}, Fail, Medium},
	{"GH-TLS-008", "admin CA without CRL", func(t *testing.T, fx *fixture, tg *Target) {
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA)
	}, Fail, Low},
	{"GH-TLS-008", "engine CA without CRL", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
		cfgOf(tg).Outbound.ClientCAFile = "pki/engine-ca.pem"
	}, Fail, Low},
	{"GH-TLS-008", "engine CA with CRL", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
		cfgOf(tg).Outbound.ClientCAFile = "pki/engine-ca.pem"
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA, fx.adminCA, fx.engineCA)
	}, Pass, 0},
	{"GH-TLS-008", "CRL from intermediate in server chain", func(t *testing.T, fx *fixture, tg *Target) {
		// The layout gatehouse pki init creates: the bundles hold the
		// root, the issuing intermediate signs the certificates and the
		// CRL, and the server certificate file carries the intermediate.
		root, issuing := newRootAndIntermediate(t, "Example Payer Root CA")
		writeCA(t, root, fx.file("pki/root-ca.pem"))
		server, err := issuing.IssueServer(pki.ServerOptions{DNSNames: []string{"gatehouse.payer.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := server.WriteFiles(fx.file("pki/issued-server.pem"), fx.file("pki/issued-server-key.pem")); err != nil {
			t.Fatal(err)
		}
		c := cfgOf(tg)
		c.TLS.CertFile, c.TLS.KeyFile = "pki/issued-server.pem", "pki/issued-server-key.pem"
		c.TLS.ClientCAFile, c.Admin.ClientCAFile = "pki/root-ca.pem", "pki/root-ca.pem"
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), issuing)
	}, Pass, 0},
	{"GH-TLS-008", "CRL from unseen intermediate", func(t *testing.T, fx *fixture, tg *Target) {
		root, issuing := newRootAndIntermediate(t, "Example Payer Admin Root CA")
		writeCA(t, root, fx.file("pki/admin-root-ca.pem"))
		cfgOf(tg).Admin.ClientCAFile = "pki/admin-root-ca.pem"
		writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA, issuing)
	}, Fail, Low},
	{"GH-DEV-001", "key elsewhere", nil, Pass, 0},
	{"GH-DEV-001", "key nearby", func(t *testing.T, fx *fixture, tg *Target) {
		if err := pki.WritePrivateKeyFile(fx.file("pki/ca-key.pem"), fx.partnerCA.Key); err != nil {
			t.Fatal(err)
		}
	}, Fail, High},
	{"GH-DEV-002", "production", nil, Pass, 0},
	{"GH-DEV-002", "dev directory", func(t *testing.T, fx *fixture, tg *Target) { mustWrite(t, fx.file(devMarker), []byte("{}")) }, Fail, High},
	{"GH-DEV-003", "public name", nil, Pass, 0},
	{"GH-DEV-003", "localhost", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).PublicURL = "https://localhost:8443" }, Fail, High},
	{"GH-DEV-003", "loopback ip", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).PublicURL = "https://127.0.0.1:8443" }, Fail, High},
	{"GH-DEV-004", "none", nil, Pass, 0},
	{"GH-DEV-004", "debug on", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.debugEndpoints = true }, Fail, High},
	{"GH-DEV-005", "owner only", nil, Pass, 0},
	{"GH-DEV-005", "TLS key world-readable", keyMode("pki/server-key.pem", 0o644), Fail, High},
	{"GH-DEV-005", "token key world-writable", keyMode("pki/token-signing-key.pem", 0o602), Fail, High},
	{"GH-DEV-005", "checkpoint key group-readable", keyMode("pki/checkpoint.key", 0o640), Fail, Medium},
	{"GH-DEV-005", "link to readable key", func(t *testing.T, fx *fixture, tg *Target) {
		mustWrite(t, fx.file("pki/elsewhere-key.pem"), []byte("key"))
		if err := os.Chmod(fx.file("pki/elsewhere-key.pem"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fx.file("pki/elsewhere-key.pem"), fx.file("pki/linked-key.pem")); err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Audit.SigningKeyFile = "pki/linked-key.pem"
	}, Fail, High},
	{"GH-DEV-005", "link to owner-only key", func(t *testing.T, fx *fixture, tg *Target) {
		mustWrite(t, fx.file("pki/elsewhere-key.pem"), []byte("key"))
		if err := os.Symlink(fx.file("pki/elsewhere-key.pem"), fx.file("pki/linked-key.pem")); err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Audit.SigningKeyFile = "pki/linked-key.pem"
	}, Pass, 0},
	{"GH-DEV-005", "missing key left to others", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Token.SigningKeyFile = "pki/no-such-key.pem"
	}, Pass, 0},
	{"GH-TOK-001", "5m", nil, Pass, 0},
	{"GH-TOK-001", "10m", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Token.Lifetime = 10 * time.Minute }, Fail, Medium},
	{"GH-TOK-001", "1h", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Token.Lifetime = time.Hour }, Fail, High},
	{"GH-TOK-002", "bound", nil, Pass, 0},
	{"GH-TOK-002", "unbound", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.tokenBinding = false }, Fail, High},
	{"GH-TOK-003", "public keys", nil, Pass, 0},
	{"GH-TOK-003", "private key", func(t *testing.T, fx *fixture, tg *Target) {
		writeJWKS(t, fx.file("partners/epic-payer-platform.jwks.json"), true)
	}, Fail, High},
	{"GH-TOK-003", "symmetric key", func(t *testing.T, fx *fixture, tg *Target) {
		mustWrite(t, fx.file("partners/epic-payer-platform.jwks.json"), []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ","kid":"s"}]}`))
	}, Fail, High},
	{"GH-TOK-003", "key without kid", func(t *testing.T, fx *fixture, tg *Target) {
		writeJWKSWithoutKid(t, fx.file("partners/epic-payer-platform.jwks.json"))
	}, Fail, High},
	{"GH-TOK-003", "missing file", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Partners[0].JWKSFile = "partners/none.json" }, Fail, High},
	{"GH-TOK-003", "JWKS URL", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].JWKSFile, cfgOf(tg).Partners[0].JWKSURL = "", "https://ehr.partner.example/jwks.json"
	}, Pass, 0},
	// A FIFO without a writer must not block the audit, which catches
	// SIGTERM and would then hang until SIGKILL.
	{"GH-TOK-003", "FIFO JWK set", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].JWKSFile = fifoAt(t, fx.file("partners/fifo.json"))
	}, Fail, High},
	{"GH-TOK-004", "file", nil, Fail, Low},
	{"GH-TOK-004", "hosted", func(t *testing.T, fx *fixture, tg *Target) {
		tg.settings.jwksURLs = map[int]string{0: "https://ehr.partner.example/jwks.json"}
	}, Pass, 0},
	{"GH-TOK-004", "plain http", func(t *testing.T, fx *fixture, tg *Target) {
		tg.settings.jwksURLs = map[int]string{0: "http://ehr.partner.example/jwks.json"}
	}, Fail, High},
	{"GH-SCO-001", "specific", nil, Pass, 0},
	{"GH-SCO-001", "wildcard", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "system/*.read") }, Fail, High},
	{"GH-SCO-002", "read only", nil, Pass, 0},
	{"GH-SCO-002", "cruds clinical", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "system/Observation.cruds") }, Fail, High},
	{"GH-SCO-002", "write claims", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "system/Claim.c") }, Fail, Medium},
	// Subscription is workflow data in the policy, not clinical data.
	{"GH-SCO-002", "create subscriptions", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "system/Subscription.crs") }, Pass, 0},
	{"GH-SCO-002", "delete subscriptions", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "system/Subscription.cruds") }, Fail, Medium},
	{"GH-SCO-003", "valid", nil, Pass, 0},
	{"GH-SCO-003", "patient context", func(t *testing.T, fx *fixture, tg *Target) { addScope(tg, "patient/Claim.read") }, Fail, Low},
	{"GH-POL-001", "workflow", nil, Pass, 0},
	{"GH-POL-001", "everything", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Patient/[id]/$everything") }, Fail, High},
	{"GH-POL-001", "export", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Group/[id]/$export") }, Fail, High},
	{"GH-POL-001", "history", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Claim.history") }, Fail, Medium},
	{"GH-POL-001", "system history", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "history-system") }, Fail, High},
	{"GH-POL-001", "system search", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "search-system") }, Fail, Medium},
	{"GH-POL-002", "workflow", nil, Pass, 0},
	{"GH-POL-002", "create", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Observation.create") }, Fail, High},
	{"GH-POL-002", "other operation", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Claim/$validate") }, Fail, Medium},
	{"GH-POL-002", "subscription workflow", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Subscription.create")
		addInteraction(tg, "Subscription/[id]/$status")
		addInteraction(tg, "Subscription/[id]/$events")
	}, Pass, 0},
	{"GH-POL-002", "update subscriptions", func(t *testing.T, fx *fixture, tg *Target) { addInteraction(tg, "Subscription.update") }, Fail, High},
	{"GH-POL-003", "no search", nil, Pass, 0},
	{"GH-POL-003", "search unrestricted", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Claim.search")
		tg.settings.searchRestricted = false
	}, Fail, Medium},
	{"GH-POL-003", "search from config", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Claim.search")
		tg.settings = settingsFrom(tg.Config)
	}, Pass, 0},
	{"GH-POL-003", "chain granted in config", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Claim.search")
		cfgOf(tg).Partners[0].Grants = []config.Grant{{Feature: "chain", Reason: "provider lookup"}}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-POL-003", "search restricted", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Claim.search")
		tg.settings.searchRestricted = true
	}, Pass, 0},
	{"GH-POL-003", "has granted", func(t *testing.T, fx *fixture, tg *Target) {
		addInteraction(tg, "Claim.search")
		tg.settings.searchRestricted = true
		tg.settings.searchGrants = map[int][]string{0: {"_has"}}
	}, Fail, High},
	{"GH-POL-004", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.strictMode = nil }, NotConfigured, Low},
	{"GH-POL-004", "default config", nil, Pass, 0},
	{"GH-POL-004", "mode off", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Strict.Mode = "off"
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-POL-004", "partner off", func(t *testing.T, fx *fixture, tg *Target) {
		off := false
		cfgOf(tg).Partners[0].Strict = &off
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-POL-004", "partner skip", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].StrictSkip = []string{"Claim/$inquire"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-POL-004", "global skip", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Strict.Skip = []string{"Claim/$inquire"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-POL-004", "unknown profiles warned", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Strict.UnknownProfiles = "warn"
	}, Fail, Medium},
	{"GH-POL-004", "partner unknown profiles warned", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].StrictUnknownProfiles = "warn"
	}, Fail, Medium},
	{"GH-POL-004", "on", func(t *testing.T, fx *fixture, tg *Target) {
		tg.settings.strictMode = []strictSwitch{{key: "strict.mode", where: "every partner", on: true}}
	}, Pass, 0},
	{"GH-POL-004", "off", func(t *testing.T, fx *fixture, tg *Target) {
		tg.settings.strictMode = []strictSwitch{{key: "strict.mode", where: "every partner"}}
	}, Fail, High},
	{"GH-POL-005", "claims role", nil, Pass, 0},
	{"GH-POL-005", "no roles", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Partners[0].Roles = nil }, Fail, Medium},
	{"GH-POL-005", "role none", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].Roles = map[string]string{"claims": "none"}
	}, Fail, Medium},
	{"GH-POL-005", "read without role", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].Interactions = append(cfgOf(tg).Partners[0].Interactions, "Patient.read")
	}, Fail, Medium},
	{"GH-POL-005", "capabilities only", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].Roles = nil
		cfgOf(tg).Partners[0].Interactions = []string{"capabilities"}
	}, Pass, 0},
	{"GH-IDN-001", "set", nil, Pass, 0},
	{"GH-IDN-001", "missing", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).PayerID = config.Identifier{} }, Fail, High},
	{"GH-IDN-001", "bad npi", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).PayerID.Value = "1234567890" }, Fail, High},
	{"GH-IDN-002", "set", nil, Pass, 0},
	{"GH-IDN-002", "missing", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Partners[0].Organization = config.Identifier{} }, Fail, High},
	{"GH-IDN-002", "shared", func(t *testing.T, fx *fixture, tg *Target) {
		second := cfgOf(tg).Partners[0]
		second.ID = "second-ehr"
		cfgOf(tg).Partners = append(cfgOf(tg).Partners, second)
	}, Fail, Medium},
	{"GH-IDN-003", "one CA", nil, Pass, 0},
	{"GH-IDN-003", "partner CA, other partner without", func(t *testing.T, fx *fixture, tg *Target) {
		second := cfgOf(tg).Partners[0]
		second.ID = "second-ehr"
		second.IssuingCA = &config.IssuingCA{CertFile: "pki/admin-ca.pem"}
		cfgOf(tg).Partners = append(cfgOf(tg).Partners, second)
	}, Fail, High},
	{"GH-IDN-003", "every partner names its CA", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{CertFile: "pki/partner-ca.pem"}
		second := cfgOf(tg).Partners[0]
		second.ID = "second-ehr"
		second.IssuingCA = &config.IssuingCA{CertFile: "pki/admin-ca.pem"}
		cfgOf(tg).Partners = append(cfgOf(tg).Partners, second)
	}, Pass, 0},
	{"GH-IDN-004", "fixture", nil, Pass, 0},
	{"GH-IDN-004", "outbound to an engine without member systems", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Upstream.URL = "https://engine.payer.internal/fhir"
		cfgOf(tg).MemberIDSystems = nil
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "https://ehr.example/fhir"}
	}, Fail, Medium},
	{"GH-IDN-004", "outbound to an engine with member systems", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Upstream.URL = "https://engine.payer.internal/fhir"
		cfgOf(tg).MemberIDSystems = []string{"urn:oid:2.16.840.1.113883.3.9999"}
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "https://ehr.example/fhir"}
	}, Pass, 0},
	{"GH-NET-001", "partner networks", nil, Pass, 0},
	{"GH-NET-001", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.sourceAllowlist = nil }, NotConfigured, Low},
	{"GH-NET-001", "everyone", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Network.AllowSources = []string{"0.0.0.0/0", "::/0"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-001", "wide", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Network.AllowSources = []string{"10.0.0.0/8"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-NET-001", "any proxy", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Network.TrustedProxies = []string{"0.0.0.0/0"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-001", "proxy without PROXY protocol", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Network.TrustedProxies = []string{"127.0.0.1/32"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-NET-001", "proxy with PROXY protocol", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Network.TrustedProxies = []string{"127.0.0.1/32"}
		cfgOf(tg).Network.ProxyProtocol = true
		tg.settings = settingsFrom(tg.Config)
	}, Pass, 0},
	{"GH-NET-002", "empty", nil, Pass, 0},
	{"GH-NET-002", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.egressAllowlist = nil }, NotConfigured, Low},
	{"GH-NET-002", "partner hosts", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"fhir.ehr.example:443"}
		tg.settings = settingsFrom(tg.Config)
	}, Pass, 0},
	{"GH-NET-002", "metadata", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"169.254.169.254"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-002", "tld wildcard", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"*.com"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	// The egress guard checks a NAT64 or 6to4 address by the IPv4 address it
	// embeds, so such an entry admits the IPv4 network it translates.
	{"GH-NET-002", "nat64 prefix", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"64:ff9b::/96"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-002", "prefix around nat64", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"64:ff9b::/64"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-002", "nat64 of ipv4 /8", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"64:ff9b::c000:0/104"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-NET-002", "nat64 of ipv4 /24", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"64:ff9b::c633:6400/120"}
		tg.settings = settingsFrom(tg.Config)
	}, Pass, 0},
	{"GH-NET-002", "6to4 prefix", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"2002::/16"}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, High},
	{"GH-NET-002", "6to4 of ipv4 /24", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"2002:c633:6400::/40"}
		tg.settings = settingsFrom(tg.Config)
	}, Pass, 0},
	// The guard rejects these cloud metadata addresses unless an entry
	// names the address itself, so such an entry unlocks the service.
	{"GH-NET-002", "aws ipv6 metadata", egressEntry("fd00:ec2::254"), Fail, High},
	{"GH-NET-002", "aws ipv6 metadata with port", egressEntry("[fd00:ec2::254]:80"), Fail, High},
	{"GH-NET-002", "alibaba metadata", egressEntry("100.100.100.200"), Fail, High},
	{"GH-NET-002", "oracle metadata", egressEntry("192.0.0.192:443"), Fail, High},
	{"GH-NET-002", "metadata through nat64", egressEntry("64:ff9b::a9fe:a9fe"), Fail, High},
	{"GH-NET-002", "link-local through nat64", egressEntry("64:ff9b::a9fe:0/112"), Fail, High},
	{"GH-NET-002", "link-local through 6to4", egressEntry("2002:a9fe:a9fe::/48"), Fail, High},
	{"GH-NET-002", "alibaba metadata through nat64", egressEntry("64:ff9b::6464:64c8"), Fail, High},
	{"GH-NET-002", "ipv4-translated prefix", egressEntry("::ffff:0:0:0/96"), Fail, High},
	{"GH-NET-002", "metadata ipv4-translated", egressEntry("::ffff:0:a9fe:a9fe"), Fail, High},
	{"GH-NET-002", "local-use nat64", egressEntry("64:ff9b:1::/48"), Fail, Medium},
	{"GH-NET-002", "public address", egressEntry("198.51.100.7"), Pass, 0},
	{"GH-NET-002", "metadata-wide carrier-grade NAT", egressEntry("100.64.0.0/10"), Fail, Medium},
	{"GH-NET-003", "https", nil, Pass, 0},
	{"GH-NET-003", "plain http", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Upstream.URL = "http://engine.payer.internal/fhir"
	}, Fail, High},
	{"GH-NET-003", "http loopback", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Upstream.URL = "http://127.0.0.1:8080/fhir" }, Pass, 0},
	{"GH-NET-004", "pinned", nil, Pass, 0},
	{"GH-NET-004", "system roots", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Upstream.CAFile = "" }, Fail, Low},
	{"GH-NET-005", "external upstream", nil, Pass, 0},
	{"GH-NET-005", "builtin loopback", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Upstream.URL = config.Builtin }, Pass, 0},
	{"GH-NET-005", "builtin exposed", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Upstream.URL = config.Builtin
		cfgOf(tg).Payer.Listen = "0.0.0.0:9000"
	}, Fail, High},
	{"GH-NET-007", "no outbound partner", nil, Pass, 0},
	{"GH-NET-007", "allowed https base", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"fhir.ehr.example:443"}
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "https://fhir.ehr.example/r4", TokenURL: "https://fhir.ehr.example/token"}
	}, Pass, 0},
	{"GH-NET-007", "base outside egress.allow", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"fhir.ehr.example:443"}
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "https://other.example/r4", TokenURL: "https://fhir.ehr.example/token"}
	}, Fail, Medium},
	{"GH-NET-007", "dot-dot segment", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"fhir.ehr.example:443"}
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "https://fhir.ehr.example/r4/../admin", TokenURL: "https://fhir.ehr.example/token"}
	}, Fail, Medium},
	{"GH-NET-007", "plain http", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = []string{"fhir.ehr.example:80"}
		cfgOf(tg).Partners[0].Outbound = &config.PartnerOutbound{FHIRBase: "http://fhir.ehr.example/r4", TokenURL: "https://fhir.ehr.example/token"}
	}, Fail, Medium},
	{"GH-NET-006", "disabled", nil, Pass, 0},
	{"GH-NET-006", "internal", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Outbound.Listen = "10.30.0.5:8444" }, Pass, 0},
	{"GH-NET-006", "every interface", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Outbound.Listen = "0.0.0.0:8444" }, Fail, High},
	{"GH-ADM-001", "internal", nil, Pass, 0},
	{"GH-ADM-001", "every interface", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Admin.Listen = "0.0.0.0:9443" }, Fail, High},
	{"GH-ADM-001", "partner port", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Admin.Listen = "10.20.0.5:8443" }, Fail, High},
	{"GH-ADM-001", "partner address", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Listen = "192.0.2.10:8443"
		cfgOf(tg).Admin.Listen = "192.0.2.10:9443"
	}, Fail, Medium},
	{"GH-ADM-002", "enabled", nil, Pass, 0},
	{"GH-ADM-002", "disabled", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Admin.Listen = "" }, Fail, Medium},
	{"GH-ADM-003", "own CA", nil, Pass, 0},
	{"GH-ADM-003", "shared CA", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Admin.ClientCAFile = cfgOf(tg).TLS.ClientCAFile }, Fail, Low},
	{"GH-ADM-003", "partner CA file in admin bundle", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{CertFile: fx.file("pki/admin-ca.pem")}
	}, Fail, Medium},
	{"GH-ADM-003", "partner CA fingerprint in admin bundle", func(t *testing.T, fx *fixture, tg *Target) {
		certs, err := pki.LoadCertificates(fx.file("pki/admin-ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{SHA256: pki.Fingerprint(certs[0])}
	}, Fail, Medium},
	{"GH-ADM-003", "partner CA outside admin bundle", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{CertFile: fx.file("pki/partner-ca.pem")}
	}, Pass, 0},
	// GH-TLS-005 reports the unreadable bundle, so this check must only
	// not block on it.
	{"GH-ADM-003", "FIFO admin bundle", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Admin.ClientCAFile = fifoAt(t, fx.file("pki/fifo-ca"))
	}, Pass, 0},
	{"GH-TLS-009", "outbound disabled", nil, Pass, 0},
	{"GH-TLS-009", "own engine CA", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
		cfgOf(tg).Outbound.ClientCAFile = fx.file("pki/engine-ca.pem")
	}, Pass, 0},
	{"GH-TLS-009", "engine CA defaults to partner CA", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
	}, Fail, Low},
	{"GH-TLS-009", "partner CA file in engine bundle", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
		cfgOf(tg).Outbound.ClientCAFile = fx.file("pki/engine-ca.pem")
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{CertFile: fx.file("pki/engine-ca.pem")}
	}, Fail, Medium},
	{"GH-TLS-009", "partner CA fingerprint in engine bundle", func(t *testing.T, fx *fixture, tg *Target) {
		certs, err := pki.LoadCertificates(fx.file("pki/partner-ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Outbound.Listen = "10.30.0.5:8444"
		cfgOf(tg).Partners[0].IssuingCA = &config.IssuingCA{SHA256: pki.Fingerprint(certs[0])}
	}, Fail, Medium},
	{"GH-KIL-001", "threshold cuts", nil, Pass, 0},
	{"GH-KIL-001", "kill switch off", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Alerts.KillSwitch = false
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-KIL-001", "no high alert", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Alerts.Thresholds = config.Thresholds{}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-KIL-001", "rules", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.killSwitchRules = []string{"volume"} }, Pass, 0},
	{"GH-LOG-001", "recipients", nil, Pass, 0},
	{"GH-LOG-001", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.logRecipients = nil }, NotConfigured, Low},
	{"GH-LOG-001", "empty file", func(t *testing.T, fx *fixture, tg *Target) {
		mustWrite(t, fx.file("pki/audit-recipients.txt"), []byte("# nobody\n"))
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-LOG-001", "FIFO recipients file", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.RecipientsFile = fifoAt(t, fx.file("pki/fifo-recipients"))
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-LOG-002", "witness", nil, Pass, 0},
	{"GH-LOG-002", "none", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.Witnesses = nil
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
	{"GH-LOG-003", "set", nil, Pass, 0},
	{"GH-LOG-003", "forever", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.Retention = 0
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Low},
	{"GH-LOG-003", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.retentionSet = false }, NotConfigured, Low},
	{"GH-LOG-004", "persistent", nil, Pass, 0},
	{"GH-LOG-004", "tmp", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Database.Path = "/tmp/gatehouse.db" }, Fail, Medium},
	{"GH-LOG-006", "apart", nil, Pass, 0},
	{"GH-LOG-006", "not set", func(t *testing.T, fx *fixture, tg *Target) { cfgOf(tg).Audit.CheckpointFile = "" }, Fail, Low},
	{"GH-LOG-006", "beside the database", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.CheckpointFile = "/var/lib/gatehouse/checkpoint.txt"
	}, Fail, Low},
	{"GH-LOG-006", "link beside the database", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Database.Path = fx.file("data/gatehouse.db")
		if err := os.MkdirAll(fx.file("data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fx.file("data/cp.txt"), fx.file("checkpoint.txt")); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, fx.file("data/cp.txt"), []byte("x"))
		cfgOf(tg).Audit.CheckpointFile = fx.file("checkpoint.txt")
	}, Fail, Low},
	{"GH-LOG-006", "below the database", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Database.Path = fx.file("data/gatehouse.db")
		cfgOf(tg).Audit.CheckpointFile = fx.file("data/audit/checkpoint.txt")
	}, Fail, Low},
	{"GH-LOG-006", "link in the database's directory", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Database.Path = fx.file("data/gatehouse.db")
		if err := os.MkdirAll(fx.file("data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(fx.file("witness"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, fx.file("witness/cp.txt"), []byte("x"))
		if err := os.Symlink(fx.file("witness/cp.txt"), fx.file("data/checkpoint.txt")); err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Audit.CheckpointFile = fx.file("data/checkpoint.txt")
	}, Fail, Low},
	// The database path names the directory through a symbolic link and
	// the checkpoint file names it directly, so only os.SameFile, not a
	// comparison of the paths, finds that both are in one directory.
	{"GH-LOG-006", "database through a link", func(t *testing.T, fx *fixture, tg *Target) {
		if err := os.MkdirAll(fx.file("data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fx.file("data"), fx.file("data-link")); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, fx.file("data/checkpoint.txt"), []byte("x"))
		cfgOf(tg).Database.Path = fx.file("data-link/gatehouse.db")
		cfgOf(tg).Audit.CheckpointFile = fx.file("data/checkpoint.txt")
	}, Fail, Low},
	{"GH-LOG-006", "link to storage apart", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Database.Path = fx.file("data/gatehouse.db")
		if err := os.MkdirAll(fx.file("witness"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, fx.file("witness/cp.txt"), []byte("x"))
		if err := os.Symlink(fx.file("witness/cp.txt"), fx.file("checkpoint.txt")); err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Audit.CheckpointFile = fx.file("checkpoint.txt")
	}, Pass, 0},
	{"GH-LOG-008", "independent witness", nil, Pass, 0},
	{"GH-LOG-008", "log key as witness", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.Witnesses[0].Key = cosignatureKeyOf(t, fx.file("pki/checkpoint.key"), "witness.audit-partner.example")
	}, Fail, High},
	{"GH-LOG-008", "key of two witnesses", func(t *testing.T, fx *fixture, tg *Target) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		_, first := auditlog.NewCosigner("witness.audit-partner.example", priv, time.Now)
		_, second := auditlog.NewCosigner("witness2.audit-partner.example", priv, time.Now)
		cfgOf(tg).Audit.Witnesses = []config.Witness{
			{URL: "https://witness.audit-partner.example", Key: first},
			{URL: "https://witness.audit-partner.example", Key: second},
		}
	}, Fail, Medium},
	{"GH-LOG-008", "plain http", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.Witnesses[0].URL = "http://witness.audit-partner.example"
	}, Fail, Medium},
	{"GH-LOG-008", "outside egress.allow", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.Witnesses[0].URL = "https://witness.elsewhere.example"
	}, Fail, Medium},
	{"GH-LOG-008", "loopback witness", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = append(cfgOf(tg).Egress.Allow, "127.0.0.1:8444")
		cfgOf(tg).Audit.Witnesses[0].URL = "https://127.0.0.1:8444"
	}, Fail, Medium},
	{"GH-LOG-007", "not set", nil, Pass, 0},
	{"GH-LOG-007", "old key listed", retiredKeys(0o644, "# rotated 2026-01\n", oldVerifierKey), Pass, 0},
	{"GH-LOG-007", "owner-only file", retiredKeys(0o600, oldVerifierKey), Pass, 0},
	{"GH-LOG-007", "group writable", retiredKeys(0o664, oldVerifierKey), Fail, Medium},
	{"GH-LOG-007", "world writable", retiredKeys(0o646, oldVerifierKey), Fail, Medium},
	{"GH-LOG-007", "missing file", func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Audit.RetiredVerifierKeysFile = "pki/no-such.vkeys"
	}, Fail, Medium},
	{"GH-LOG-007", "invalid line", retiredKeys(0o644, oldVerifierKey, "gatehouse.payer.example/audit+not-a-key"), Fail, Medium},
	{"GH-LOG-007", "signer key listed", retiredKeys(0o644, oldSignerKey), Fail, Medium},
	{"GH-LOG-007", "other origin", retiredKeys(0o644, otherOriginVerifierKey), Fail, Medium},
	{"GH-LOG-007", "current key", func(t *testing.T, fx *fixture, tg *Target) {
		vkey, err := auditlog.VerifierKeyOf(fx.file("pki/checkpoint.key"))
		if err != nil {
			t.Fatal(err)
		}
		retiredKeys(0o644, oldVerifierKey, vkey)(t, fx, tg)
	}, Fail, Medium},
	{"GH-LOG-007", "key twice", retiredKeys(0o644, oldVerifierKey, oldVerifierKey), Fail, Medium},
	{"GH-LOG-007", "no key", retiredKeys(0o644, "# none yet\n"), Fail, Medium},
	{"GH-LOG-005", "sqlite", nil, Pass, 0},
	{"GH-LOG-005", "verify-full", postgresURL("postgres://gatehouse@db.payer.internal:5432/gatehouse?sslmode=verify-full&sslrootcert=/etc/gatehouse/db-ca.pem"), Pass, 0},
	{"GH-LOG-005", "sslrootcert system", postgresURL("postgresql://gatehouse@db.payer.internal/gatehouse?sslrootcert=system"), Pass, 0},
	{"GH-LOG-005", "loopback without TLS", postgresURL("postgres://gatehouse@127.0.0.1:5432/gatehouse?sslmode=disable"), Pass, 0},
	{"GH-LOG-005", "ipv6 loopback", postgresURL("postgres://gatehouse@[::1]:5432/gatehouse"), Pass, 0},
	{"GH-LOG-005", "two loopback hosts", postgresURL("postgres://gatehouse@localhost:5432,127.0.0.1:5433/gatehouse"), Pass, 0},
	{"GH-LOG-005", "localhost without sslmode", postgresURL("postgres://gatehouse@localhost/gatehouse"), Pass, 0},
	{"GH-LOG-005", "unix socket", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?host=/var/run/postgresql"), Pass, 0},
	{"GH-LOG-005", "no sslmode", postgresURL("postgres://gatehouse@db.payer.internal:5432/gatehouse"), Fail, High},
	{"GH-LOG-005", "disable", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=disable"), Fail, High},
	{"GH-LOG-005", "allow", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=allow"), Fail, High},
	{"GH-LOG-005", "prefer", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=prefer"), Fail, High},
	{"GH-LOG-005", "last sslmode counts", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=verify-full&sslmode=disable"), Fail, High},
	{"GH-LOG-005", "remote host in list", postgresURL("postgres://gatehouse@localhost:5432,db2.payer.internal:5432/gatehouse?sslmode=prefer"), Fail, High},
	{"GH-LOG-005", "host parameter overrides", postgresURL("postgres://gatehouse@localhost/gatehouse?host=db.payer.internal"), Fail, High},
	{"GH-LOG-005", "invalid sslmode", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=verify_full"), Fail, High},
	{"GH-LOG-005", "require", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=require"), Fail, Medium},
	{"GH-LOG-005", "ssl=true", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?ssl=true"), Fail, Medium},
	{"GH-LOG-005", "direct negotiation", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslnegotiation=direct"), Fail, Medium},
	{"GH-LOG-005", "verify-ca", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=verify-ca&sslrootcert=/etc/gatehouse/db-ca.pem"), Fail, Medium},
	{"GH-LOG-005", "require with root cert", postgresURL("postgres://gatehouse@db.payer.internal/gatehouse?sslmode=require&sslrootcert=/etc/gatehouse/db-ca.pem"), Fail, Medium},
	{"GH-MON-001", "not configurable", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.alertRules = nil }, NotConfigured, Low},
	{"GH-MON-001", "rules", func(t *testing.T, fx *fixture, tg *Target) { tg.settings.alertRules = []string{"volume"} }, Pass, 0},
	{"GH-MON-001", "every alert off", func(t *testing.T, fx *fixture, tg *Target) {
		off := false
		cfgOf(tg).Alerts = config.Alerts{Baselines: config.Baselines{Enabled: &off}}
		tg.settings = settingsFrom(tg.Config)
	}, Fail, Medium},
}

// postgresURL returns a mutation that moves the database to the
// PostgreSQL URL raw.
func postgresURL(raw string) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Database.Path = ""
		cfgOf(tg).Database.URL = raw
	}
}

// cosignatureKeyOf returns the witness verifier key, named name, of the
// Ed25519 key in the note signer key file at path.
func cosignatureKeyOf(t *testing.T, path, name string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// PRIVATE+KEY+name+hash+base64(1 || seed); the base64 text can hold "+".
	fields := strings.SplitN(strings.TrimSpace(string(data)), "+", 5)
	if len(fields) != 5 {
		t.Fatalf("%s is not a note signer key", path)
	}
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		t.Fatalf("%s is not a note signer key", path)
	}
	_, vkey := auditlog.NewCosigner(name, ed25519.NewKeyFromSeed(raw[1:]), time.Now)
	return vkey
}

// Keys for GH-LOG-007: a retired key of the fixture's origin
// (gatehouse.payer.example/audit), its signer key, and a key of another
// log. They are generated once, since only their text matters.
var oldVerifierKey, oldSignerKey, otherOriginVerifierKey = func() (string, string, string) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "gatehouse.payer.example/audit")
	if err != nil {
		panic(err)
	}
	_, other, err := note.GenerateKey(rand.Reader, "other.example/audit")
	if err != nil {
		panic(err)
	}
	return vkey, skey, other
}()

// retiredKeys writes lines, one a line, to pki/retired.vkeys with mode and
// names that file in audit.retired_verifier_keys_file.
func retiredKeys(mode os.FileMode, lines ...string) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		path := fx.file("pki/retired.vkeys")
		mustWrite(t, path, []byte(strings.Join(lines, "\n")+"\n"))
		// Chmod sets the mode exactly, whatever the umask.
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		cfgOf(tg).Audit.RetiredVerifierKeysFile = "pki/retired.vkeys"
	}
}

// newRootAndIntermediate returns a root CA and an intermediate below it,
// named after the root.
func newRootAndIntermediate(t *testing.T, name string) (root, issuing *pki.CA) {
	t.Helper()
	root, err := pki.NewRoot(pki.RootOptions{CommonName: name, PathLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	issuing, err = root.NewIntermediate(pki.IntermediateOptions{CommonName: name + " Issuing"})
	if err != nil {
		t.Fatal(err)
	}
	return root, issuing
}

func serverNotAfter(t *testing.T, tg *Target) time.Time {
	t.Helper()
	certs, err := pki.LoadCertificates(tg.Config.Resolve(tg.Config.TLS.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0].NotAfter
}

// egressEntry returns a mutation that adds entry to egress.allow.
func egressEntry(entry string) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		cfgOf(tg).Egress.Allow = append(cfgOf(tg).Egress.Allow, entry)
		tg.settings = settingsFrom(tg.Config)
	}
}

// fifoAt creates a FIFO at path, with no writer, and returns path.
func fifoAt(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func addScope(tg *Target, s string) {
	tg.Config.Partners[0].Scopes = append(tg.Config.Partners[0].Scopes, s)
}

func addInteraction(tg *Target, s string) {
	tg.Config.Partners[0].Interactions = append(tg.Config.Partners[0].Interactions, s)
}

// worst returns the finding of fs that counts most: any non-passing one
// before a passing one, the highest severity first.
func worst(fs []Finding) Finding {
	sortFindings(fs)
	return fs[0]
}

func TestChecks(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			fx := materialize(t, "hardened.yaml", false)
			tg := fx.target(t)
			if tc.mutate != nil {
				tc.mutate(t, fx, tg)
			}
			fs := findingsOf(Audit(tg), tc.id)
			if len(fs) == 0 {
				t.Fatalf("no finding for %s", tc.id)
			}
			got := worst(fs)
			if got.Status != tc.want {
				t.Fatalf("status = %s (%s), want %s", got.Status, got.Message, tc.want)
			}
			if tc.sev != 0 && got.Severity != tc.sev {
				t.Errorf("severity = %s (%s), want %s", got.Severity, got.Message, tc.sev)
			}
			if got.Message == "" {
				t.Error("finding has no message")
			}
		})
	}
}

// TestChecksCovered requires a passing and a non-passing case for every
// configuration check.
func TestChecksCovered(t *testing.T) {
	passing, failing := map[string]bool{}, map[string]bool{}
	for _, tc := range checkCases {
		if tc.want == Pass {
			passing[tc.id] = true
		} else {
			failing[tc.id] = true
		}
	}
	for _, c := range Catalogue() {
		if c.Mode != ModeConfig {
			continue
		}
		if !passing[c.ID] {
			t.Errorf("%s has no passing case", c.ID)
		}
		if !failing[c.ID] {
			t.Errorf("%s has no failing case", c.ID)
		}
	}
}

func TestCatalogueWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalogue() {
		if seen[c.ID] {
			t.Errorf("%s is listed twice", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Rationale == "" || c.Remediation == "" || c.Control == "" || c.Severity == 0 {
			t.Errorf("%s lacks a text, its control or its severity", c.ID)
		}
		if (c.Mode == ModeConfig) != (c.config != nil) || (c.Mode == ModeLive) != (c.live != nil) {
			t.Errorf("%s: mode %s does not match its function", c.ID, c.Mode)
		}
	}
}

func TestExampleHardenedPasses(t *testing.T) {
	fx := materialize(t, "hardened.yaml", false)
	r := Audit(fx.target(t))
	for _, f := range r.Findings {
		if f.Failed() && f.Severity >= Medium {
			t.Errorf("%s %s %s: %s", f.Check, f.Status, f.Severity, f.Message)
		}
	}
	if r.FailsAt(Medium) {
		t.Error("FailsAt(Medium) = true, want false")
	}
}

func TestExampleWeakFails(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	r := Audit(fx.target(t))
	want := []string{
		"GH-TLS-007", "GH-DEV-001", "GH-DEV-003", "GH-IDN-001", "GH-IDN-002", "GH-ADM-001", "GH-ADM-003",
		"GH-TOK-001", "GH-TOK-003", "GH-LOG-004", "GH-NET-003", "GH-SCO-001", "GH-SCO-002",
		"GH-POL-001", "GH-POL-002", "GH-POL-003", "GH-NET-001", "GH-NET-002", "GH-LOG-001", "GH-LOG-003",
		"GH-TLS-008", "GH-POL-004",
	}
	for _, id := range want {
		if got := worst(findingsOf(r, id)); got.Status != Fail {
			t.Errorf("%s: status %s (%s), want fail", id, got.Status, got.Message)
		}
	}
	if !r.FailsAt(High) {
		t.Error("FailsAt(High) = false, want true")
	}
}

func TestFindingLines(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	data, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(string(data))
	r := Audit(fx.target(t))
	for _, want := range []struct{ check, key, text string }{
		{"GH-TOK-001", "token.lifetime", "lifetime: 30m"},
		{"GH-SCO-001", "partners[0].scopes[0]", "system/*.read"},
		{"GH-NET-003", "upstream.url", "url: http://"},
		{"GH-POL-004", "partners[0].strict", "strict: false"},
	} {
		var f *Finding
		for i := range r.Findings {
			if r.Findings[i].Check == want.check && r.Findings[i].Key == want.key {
				f = &r.Findings[i]
			}
		}
		if f == nil {
			t.Errorf("%s: no finding at %s", want.check, want.key)
			continue
		}
		if f.Line < 1 || f.Line > len(lines) || !contains(lines[f.Line-1], want.text) {
			t.Errorf("%s: line %d does not hold %q", want.check, f.Line, want.text)
		}
	}
	if got := filepath.Base(r.ConfigFile); got != "weak.yaml" {
		t.Errorf("ConfigFile = %q", r.ConfigFile)
	}
}

// Each key that turns strict mode off gets a finding of its own at that
// key, so that the table and SARIF point at the line to change.
func TestStrictModeFindingKeys(t *testing.T) {
	off := false
	cfg := &config.File{
		Strict: config.Strict{Mode: "off", Skip: []string{"Claim/$submit"}},
		Partners: []config.Partner{
			{ID: "acme-ehr", Strict: &off},
			{ID: "beta-ehr", StrictSkip: []string{"Claim/$inquire"}},
		},
	}
	tg := &Target{Config: cfg, settings: settingsFrom(cfg)}
	want := map[string]string{
		"strict.mode":                "every partner and direction",
		"strict.skip[0]":             "Claim/$submit for every partner",
		"partners[0].strict":         `partner "acme-ehr"`,
		"partners[1].strict_skip[0]": `Claim/$inquire of partner "beta-ehr"`,
	}
	got := map[string]string{}
	for _, r := range checkStrictMode(tg) {
		if r.status != Fail {
			t.Errorf("%s: status %s, want fail", r.key, r.status)
		}
		got[r.key] = r.msg
	}
	for key, where := range want {
		msg, ok := got[key]
		if !ok {
			t.Errorf("no finding at %s; findings %v", key, got)
			continue
		}
		if !strings.Contains(msg, where) {
			t.Errorf("%s: message %q, want it to name %s", key, msg, where)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d findings %v, want %d", len(got), got, len(want))
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// GH-SCO-002 names the data class the policy puts a type in, so posture
// and policy cannot disagree on what a write scope reaches.
func TestWriteScopeNamesPolicyClass(t *testing.T) {
	tests := map[string]string{
		"system/Subscription.cruds": "workflow data",
		"system/Observation.c":      "clinical data",
		"system/Provenance.c":       "audit data",
		"system/Basic.c":            "a type in no data class",
	}
	for raw, want := range tests {
		t.Run(raw, func(t *testing.T) {
			cfg := &config.File{Partners: []config.Partner{{ID: "p", Scopes: []string{raw}}}}
			results := checkWriteScopes(&Target{Config: cfg})
			if len(results) != 1 || !strings.Contains(results[0].msg, want) {
				t.Errorf("results = %+v, want one naming %q", results, want)
			}
		})
	}
}

// keyMode changes the mode of the fixture's file name.
func keyMode(name string, mode os.FileMode) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		if err := os.Chmod(fx.file(name), mode); err != nil {
			t.Fatal(err)
		}
	}
}
