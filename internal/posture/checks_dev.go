package posture

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// devMarker is the file internal/devmode writes into every development
// data directory.
const devMarker = "devmode.json"

// maxKeyFileBytes caps the files read while looking for private keys.
const maxKeyFileBytes = 64 << 10

var devChecks = []Check{
	{
		ID: "GH-DEV-001", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "No CA private key is stored next to the CA certificate",
		Rationale:   "Whoever can read the CA key can issue certificates for any partner or administrator; the gateway host is the most exposed place to keep it.",
		Remediation: "Move the CA key off the gateway host (offline, or in an HSM or a separate signing service). The gateway needs only the CA certificate.",
		config:      checkCAKeyNearby,
	},
	{
		ID: "GH-DEV-002", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Certificates do not come from a development data directory",
		Rationale:   "Development mode creates a CA on the machine, keeps its key beside the certificates and names only loopback addresses; it is not meant for real partners.",
		Remediation: "Create a production PKI (a private CA kept off the host, a server certificate for the public name) and point tls.* at it, away from the gatehouse-data directory.",
		config:      checkDevDirectory,
	},
	{
		ID: "GH-DEV-003", Control: "C2", Severity: High, Mode: ModeConfig,
		Title:       "public_url is not localhost or a loopback address",
		Rationale:   "public_url is the issuer of access tokens and the audience partners sign assertions for; a loopback URL means a development configuration reached production, and no remote partner can use it.",
		Remediation: "Set public_url to the https URL partners use to reach the gateway, such as https://gatehouse.payer.example:8443.",
		config:      checkLoopbackURL,
	},
	{
		ID: "GH-DEV-004", Control: "C13", Severity: High, Mode: ModeConfig,
		Title:       "No debug endpoints are served",
		Rationale:   "Profiling and variable-dump handlers expose memory that holds PHI, keys and tokens.",
		Remediation: "Turn off every debug or profiling switch before deploying.",
		config:      checkDebugEndpoints,
	},
	{
		ID: "GH-DEV-005", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Private key files are readable and writable by their owner only",
		Rationale:   "The server TLS key, the payer's client and assertion keys for partners, the token signing key and the checkpoint signing key each let their holder act as the gateway: pose as it to partners, mint access tokens, or sign a rewritten audit log. A key file that other users can read hands that power to every account on the host.",
		Remediation: "chmod 600 each file named by tls.key_file, outbound.key_file, outbound.assertion_key_file, token.signing_key_file and audit.signing_key_file, owned by the account the gateway runs as.",
		config:      checkKeyFileModes,
	},
}

func checkCAKeyNearby(t *Target) []result {
	var out []result
	for _, ref := range t.clientCAFiles() {
		certs, err := pki.LoadCertificates(ref.path)
		if err != nil {
			// GH-TLS-005 reports the unreadable bundle as a failure.
			out = append(out, errorResult(ref.key, "cannot load the CA bundle: %v", err))
			continue
		}
		if keyFile := findMatchingKey(filepath.Dir(ref.path), certs); keyFile != "" {
			out = append(out, fail(ref.key, "the CA private key is stored in %s, next to the CA certificate", keyFile))
			continue
		}
		out = append(out, pass(ref.key, "no private key in %s belongs to the CA", filepath.Dir(ref.path)))
	}
	return out
}

// findMatchingKey returns the first file in dir holding a PEM private key
// whose public key belongs to one of certs, or "". Unreadable and large
// files are skipped.
func findMatchingKey(dir string, certs []*x509.Certificate) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > maxKeyFileBytes {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			continue
		}
		key, err := pki.ParsePrivateKeyPEM(data)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(certs, func(c *x509.Certificate) bool { return samePublicKey(key.Public(), c.PublicKey) }) {
			return path
		}
	}
	return ""
}

func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func checkDevDirectory(t *Target) []result {
	c := t.Config
	refs := []fileRef{t.ref("tls.cert_file", c.TLS.CertFile), t.ref("tls.client_ca_file", c.TLS.ClientCAFile)}
	for _, ref := range refs {
		// The marker sits at the top of the data directory, one level
		// above the certificate files.
		for _, dir := range []string{filepath.Dir(ref.path), filepath.Dir(filepath.Dir(ref.path))} {
			if _, err := os.Stat(filepath.Join(dir, devMarker)); err == nil {
				return []result{fail(ref.key, "%s is a development data directory", dir)}
			}
		}
	}
	return []result{pass("tls.cert_file", "no certificate comes from a development data directory")}
}

func checkLoopbackURL(t *Target) []result {
	u, err := url.Parse(t.Config.PublicURL)
	if err != nil {
		return []result{fail("public_url", "public_url %q does not parse", t.Config.PublicURL)}
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return []result{fail("public_url", "public_url %q names this machine only", t.Config.PublicURL)}
	}
	return []result{pass("public_url", "public_url names %q", host)}
}

func checkDebugEndpoints(t *Target) []result {
	if t.settings.debugEndpoints {
		return []result{fail("", "a listener serves debug endpoints")}
	}
	return []result{pass("", "no listener serves debug or profiling endpoints")}
}
