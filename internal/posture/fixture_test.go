package posture

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// fixture is an example configuration copied into a temporary directory
// with every file it names generated there.
type fixture struct {
	dir       string
	path      string
	partnerCA *pki.CA
	adminCA   *pki.CA
	engineCA  *pki.CA
}

// materialize copies examples/posture/<name> into a temporary directory and
// creates the certificates, keys and JWK sets it names. weak adds the
// mistakes weak.yaml describes: the partner CA key next to its certificate
// and a private key in the partner's JWK set.
func materialize(t *testing.T, name string, weak bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "posture", name))
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: dir, path: filepath.Join(dir, name)}
	mustWrite(t, fx.path, data)
	for _, sub := range []string{"pki", "partners"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	fx.partnerCA = newRoot(t, "Example Payer Partner CA")
	writeCA(t, fx.partnerCA, fx.file("pki/partner-ca.pem"))
	fx.adminCA = newRoot(t, "Example Payer Admin CA")
	writeCA(t, fx.adminCA, fx.file("pki/admin-ca.pem"))
	fx.engineCA = newRoot(t, "Example Payer Engine CA")
	writeCA(t, fx.engineCA, fx.file("pki/engine-ca.pem"))
	writeCRLs(t, fx.file("pki/crl.pem"), time.Now().Add(crlValidity), fx.partnerCA, fx.adminCA)
	server, err := fx.partnerCA.IssueServer(pki.ServerOptions{DNSNames: []string{"gatehouse.payer.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.WriteFiles(fx.file("pki/server.pem"), fx.file("pki/server-key.pem")); err != nil {
		t.Fatal(err)
	}
	signing, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePrivateKeyFile(fx.file("pki/token-signing-key.pem"), signing); err != nil {
		t.Fatal(err)
	}

	skey, _, err := note.GenerateKey(rand.Reader, "gatehouse.payer.example/audit")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, fx.file("pki/checkpoint.key"), []byte(skey+"\n"))
	recipients := "# security team\n" + exampleRecipient + "\n"
	if weak {
		recipients = "# nobody yet\n"
	}
	mustWrite(t, fx.file("pki/audit-recipients.txt"), []byte(recipients))

	partner := "epic-payer-platform"
	if weak {
		partner = "wide-open-ehr"
		if err := pki.WritePrivateKeyFile(fx.file("pki/partner-ca-key.pem"), fx.partnerCA.Key); err != nil {
			t.Fatal(err)
		}
	}
	writeJWKS(t, fx.file("partners/"+partner+".jwks.json"), weak)
	return fx
}

// exampleRecipient is an age X25519 public key; only its line is counted.
const exampleRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

func (fx *fixture) file(rel string) string { return filepath.Join(fx.dir, filepath.FromSlash(rel)) }

func newRoot(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func writeCA(t *testing.T, ca *pki.CA, path string) {
	t.Helper()
	if err := pki.WriteCertificateFile(path, [][]byte{ca.Certificate.Raw}); err != nil {
		t.Fatal(err)
	}
}

// crlValidity is the time from now to the next update of the fixture's
// CRLs.
const crlValidity = 7 * 24 * time.Hour

// writeCRLs writes one empty CRL from each of cas to path, each with
// nextUpdate as its next update.
func writeCRLs(t *testing.T, path string, nextUpdate time.Time, cas ...*pki.CA) {
	t.Helper()
	var data []byte
	for _, ca := range cas {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: signCRL(t, ca, nextUpdate)})...)
	}
	mustWrite(t, path, data)
}

// signCRL returns the DER of an empty CRL that ca signs.
func signCRL(t *testing.T, ca *pki.CA, nextUpdate time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: nextUpdate,
	}, ca.Certificate, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// writeJWKS writes a JWK set of one ES256 key: its public half, or the
// private key itself when private is set.
func writeJWKS(t *testing.T, path string, private bool) {
	t.Helper()
	key, err := token.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	k := *key
	if !private {
		k = key.Public()
	}
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, path, data)
}

// writeJWKSWithoutKid writes a JWK set of one public key with no kid.
func writeJWKSWithoutKid(t *testing.T, path string) {
	t.Helper()
	key, err := token.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	public := key.Public()
	public.KeyID = ""
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, path, data)
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// target loads the fixture's configuration and prepares it for Audit with
// no public roots, so results do not depend on the machine's trust store.
func (fx *fixture) target(t *testing.T) *Target {
	t.Helper()
	cfg, err := config.Load(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := NewTarget(cfg, fx.path, fx.path, Options{Now: time.Now(), PublicRoots: x509.NewCertPool()})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// findingsOf returns the findings of check id in r.
func findingsOf(r *Report, id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == id {
			out = append(out, f)
		}
	}
	return out
}
