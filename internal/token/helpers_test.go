package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
)

// testStart is the fixed start of the injected clock in most tests.
var testStart = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// testCA is a private CA that issues the server and partner certificates.
type testCA struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	start time.Time // certificates are valid from an hour before start
}

func newTestCA(t testing.TB, start time.Time) *testCA {
	t.Helper()
	key := mustECKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Gatehouse Test CA"},
		NotBefore:             start.Add(-24 * time.Hour),
		NotAfter:              start.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, start: start}
}

var serialCounter = struct {
	sync.Mutex
	n int64
}{n: 1}

// issue returns a certificate for cn. A client certificate carries the
// clientAuth usage; a server certificate carries serverAuth and 127.0.0.1.
func (ca *testCA) issue(t testing.TB, cn string, client bool, notAfter time.Time) tls.Certificate {
	t.Helper()
	serialCounter.Lock()
	serialCounter.n++
	serial := serialCounter.n
	serialCounter.Unlock()

	key := mustECKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    ca.start.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func mustECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustGenerateKey(t testing.TB, alg string) *jose.JSONWebKey {
	t.Helper()
	key, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// rsaTestKey is generated once, because RSA key generation is slow.
var rsaTestKey = sync.OnceValues(func() (*jose.JSONWebKey, error) { return GenerateKey("RS384") })

func mustRSAKey(t testing.TB) *jose.JSONWebKey {
	t.Helper()
	key, err := rsaTestKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// withKeyID returns a copy of key with another kid and alg.
func withKeyID(key *jose.JSONWebKey, kid, alg string) *jose.JSONWebKey {
	k := *key
	k.KeyID, k.Algorithm = kid, alg
	return &k
}

func publicSet(keys ...*jose.JSONWebKey) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set
}

// partner is one EHR client: its signing key, its TLS identity and an HTTP
// client that presents it.
type partner struct {
	id   string
	key  *jose.JSONWebKey
	cert tls.Certificate
	http *http.Client
}

// testEnv is a token Server behind a real mutual-TLS listener on loopback.
// Its handler records every outcome, as the gateway does.
type testEnv struct {
	t        testing.TB
	clock    *clocktest.Clock
	ca       *testCA
	server   *Server
	replay   *MemoryReplayCache
	tokenURL string
	partners map[string]*partner

	mu        sync.Mutex
	exchanges []Exchange
	results   []*Result
}

const (
	testIssuer   = "https://gatehouse.test/"
	testAudience = "https://gatehouse.test/fhir"
)

var testScopes = []string{"system/Claim.read", "system/Coverage.read", "system/Claim.write"}

// newTestEnv starts a server with three partners: ehr-alpha (ES256),
// ehr-beta (ES384) and ehr-gamma (RSA, registered for RS384 and PS384 under
// two kids).
func newTestEnv(t testing.TB, start time.Time) *testEnv {
	t.Helper()
	env := &testEnv{t: t, clock: clocktest.New(start), ca: newTestCA(t, start), partners: map[string]*partner{}}

	ts := httptest.NewUnstartedServer(http.HandlerFunc(env.handle))
	env.tokenURL = "https://" + ts.Listener.Addr().String() + "/token"

	rsaKey := mustRSAKey(t)
	env.addPartner("ehr-alpha", mustGenerateKey(t, "ES256"))
	env.addPartner("ehr-beta", mustGenerateKey(t, "ES384"))
	env.addPartner("ehr-gamma", rsaKey)
	clients := StaticClients{}
	for id, p := range env.partners {
		clients[id] = &Client{ID: id, Keys: publicSet(p.key), Scopes: testScopes}
	}
	gamma := clients["ehr-gamma"]
	gamma.Keys = publicSet(rsaKey, withKeyID(rsaKey, "gamma-pss", "PS384"))

	var err error
	env.replay, err = NewMemoryReplayCache(1000, env.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	env.server, err = NewServer(ServerOptions{
		TokenURL:   env.tokenURL,
		Issuer:     testIssuer,
		Audience:   testAudience,
		SigningKey: mustECKey(t, elliptic.P256()),
		Clients:    clients,
		Replay:     env.replay,
		Now:        env.clock.Now,
		PeerClient: peerCommonName,
	})
	if err != nil {
		t.Fatal(err)
	}

	serverCert := env.ca.issue(t, "gatehouse.test", false, start.Add(24*time.Hour))
	ts.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    env.ca.pool,
		MinVersion:   tls.VersionTLS12,
		// The certificates are checked against the injected clock.
		Time: env.clock.Now,
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	for _, p := range env.partners {
		p.http = env.httpClient(p.cert)
	}
	return env
}

func (env *testEnv) addPartner(id string, key *jose.JSONWebKey) {
	cert := env.ca.issue(env.t, id, true, env.clock.Now().Add(24*time.Hour))
	env.partners[id] = &partner{id: id, key: key, cert: cert}
}

func (env *testEnv) httpClient(cert tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      env.ca.pool,
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		Time:         env.clock.Now,
	}}
	env.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// peerCommonName maps a verified client certificate to its partner id.
func peerCommonName(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", false
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName, true
}

func (env *testEnv) handle(w http.ResponseWriter, r *http.Request) {
	res, e := env.server.Issue(r.Context(), r)
	env.mu.Lock()
	env.exchanges = append(env.exchanges, Summarize(res, e))
	env.results = append(env.results, res)
	env.mu.Unlock()
	env.server.WriteResponse(w, res, e)
}

// lastOutcome returns what the handler recorded for the latest request.
func (env *testEnv) lastOutcome() (Exchange, *Result) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.exchanges) == 0 {
		env.t.Fatal("no exchange recorded")
	}
	n := len(env.exchanges) - 1
	return env.exchanges[n], env.results[n]
}

// assertion returns a valid assertion for partner id at the current time.
func (env *testEnv) assertion(id string) string {
	env.t.Helper()
	p := env.partners[id]
	a, err := NewAssertion(p.id, env.tokenURL, p.key, env.clock.Now())
	if err != nil {
		env.t.Fatal(err)
	}
	return a
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {AssertionType},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
}

// httpResult is a token endpoint response as the partner receives it.
type httpResult struct {
	status int
	header http.Header
	body   []byte
	fields map[string]any
}

// post sends a token request over the partner's mutual-TLS connection.
func (env *testEnv) post(p *partner, method, contentType, body string) httpResult {
	env.t.Helper()
	req, err := http.NewRequest(method, env.tokenURL, strings.NewReader(body))
	if err != nil {
		env.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return env.do(p, req)
}

func (env *testEnv) do(p *partner, req *http.Request) httpResult {
	env.t.Helper()
	resp, err := p.http.Do(req)
	if err != nil {
		env.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		env.t.Fatal(err)
	}
	out := httpResult{status: resp.StatusCode, header: resp.Header, body: body}
	if err := json.Unmarshal(body, &out.fields); err != nil {
		env.t.Fatalf("response body is not a JSON object: %v", err)
	}
	return out
}

func (env *testEnv) postForm(p *partner, form url.Values) httpResult {
	env.t.Helper()
	return env.post(p, http.MethodPost, "application/x-www-form-urlencoded", form.Encode())
}

// signCompact builds a compact JWS from raw header and payload JSON,
// signing with the standard library so that the server's go-jose path is
// checked against an independent implementation. alg selects the
// signature: ES256, ES384, RS384, PS384, HS256 (key is []byte) or none.
func signCompact(t testing.TB, alg string, key any, headerJSON, payloadJSON string) string {
	t.Helper()
	input := b64(headerJSON) + "." + b64(payloadJSON)
	var sig []byte
	var err error
	switch alg {
	case "none":
		return input + "."
	case "HS256":
		mac := hmac.New(sha256.New, key.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "ES256":
		sig, err = signECDSA(key.(*ecdsa.PrivateKey), crypto.SHA256, input, 32)
	case "ES384":
		sig, err = signECDSA(key.(*ecdsa.PrivateKey), crypto.SHA384, input, 48)
	case "RS384":
		sum := sha512.Sum384([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA384, sum[:])
	case "PS384":
		sum := sha512.Sum384([]byte(input))
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA384, sum[:], opts)
	default:
		t.Fatalf("signCompact: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signECDSA returns the JWS form of an ECDSA signature: r and s as
// fixed-size big-endian integers.
func signECDSA(key *ecdsa.PrivateKey, hash crypto.Hash, input string, size int) ([]byte, error) {
	h := hash.New()
	h.Write([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, h.Sum(nil))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimsFor returns valid assertion claims for clientID at now.
func claimsFor(clientID, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": aud,
		"exp": now.Add(4 * time.Minute).Unix(),
		"iat": now.Unix(),
		"jti": randomID(),
	}
}
