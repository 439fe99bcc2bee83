package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/egress"
)

// jwksServer is a partner's JWKS endpoint on a loopback TLS listener,
// whose response a test can change between fetches.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	status       int
	contentType  string
	cacheControl string
	body         []byte
	delay        time.Duration
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, contentType: "application/jwk-set+json"}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) handle(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	status, contentType, cacheControl, body, delay := s.status, s.contentType, s.cacheControl, s.body, s.delay
	s.mu.Unlock()

	time.Sleep(delay)
	if r.URL.Path == "/moved" {
		http.Redirect(w, r, "/jwks.json", http.StatusFound)
		return
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	if cacheControl != "" {
		w.Header().Set("Cache-Control", cacheControl)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve makes the endpoint respond 200 with body.
func (s *jwksServer) serve(body []byte, cacheControl string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.contentType, s.cacheControl, s.body = http.StatusOK, "application/jwk-set+json", cacheControl, body
}

// serveRaw makes the endpoint respond with any status and content type.
func (s *jwksServer) serveRaw(status int, contentType string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.contentType, s.body = status, contentType, body
}

func (s *jwksServer) url() string { return s.srv.URL + "/jwks.json" }

// httpClient returns the egress guard's client, with the endpoint's
// loopback address on the allowlist and its certificate trusted.
func (s *jwksServer) httpClient(t *testing.T) *http.Client {
	t.Helper()
	guard, err := egress.New(egress.Options{Allow: []string{s.srv.Listener.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	roots := s.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return guard.HTTPClient(egress.ClientOptions{RootCAs: roots, Timeout: 5 * time.Second})
}

func marshalSet(t *testing.T, keys ...*jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(publicSet(keys...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetchLog collects OnFetch events.
type fetchLog struct {
	mu     sync.Mutex
	events []JWKSFetch
}

func (l *fetchLog) add(ev JWKSFetch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *fetchLog) last(t *testing.T) JWKSFetch {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		t.Fatal("no fetch was reported")
	}
	return l.events[len(l.events)-1]
}

// remoteEnv is a token server whose partner ehr-alpha registers its keys
// by JWKS URL.
type remoteEnv struct {
	*testEnv
	jwks    *jwksServer
	keys    *RemoteKeys
	fetches *fetchLog
	server  *Server
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	t.Helper()
	env := &remoteEnv{testEnv: newTestEnv(t, testStart), jwks: newJWKSServer(t), fetches: &fetchLog{}}
	env.jwks.serve(marshalSet(t, env.partners["ehr-alpha"].key), "")

	inner := StaticClients{
		"ehr-alpha": {ID: "ehr-alpha", Scopes: testScopes},
		"ehr-beta":  {ID: "ehr-beta", Keys: publicSet(env.partners["ehr-beta"].key), Scopes: testScopes},
	}
	var err error
	sources := map[string]JWKSSource{"ehr-alpha": {URL: env.jwks.url(), HTTPClient: env.jwks.httpClient(t)}}
	env.keys, err = NewRemoteKeys(inner, sources, RemoteKeyOptions{Now: env.clock.Now, OnFetch: env.fetches.add})
	if err != nil {
		t.Fatal(err)
	}
	env.server = env.serverVariant(t, func(o *ServerOptions) { o.Clients = env.keys })
	return env
}

// issueWith sends a token request for ehr-alpha whose assertion key signs,
// and returns the outcome.
func (env *remoteEnv) issueWith(t *testing.T, key *jose.JSONWebKey) (*Result, *Error) {
	t.Helper()
	alpha := env.partners["ehr-alpha"]
	assertion, err := NewAssertion("ehr-alpha", env.tokenURL, key, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := verifiedRequest(tokenForm(assertion, "system/Claim.read").Encode(), alpha.cert.Leaf, env.ca.cert)
	return env.server.Issue(r.Context(), r)
}

func TestRemoteKeysFetchOnceAndCache(t *testing.T) {
	env := newRemoteEnv(t)
	alphaKey := env.partners["ehr-alpha"].key

	for i := range 3 {
		if res, e := env.issueWith(t, alphaKey); e != nil || res == nil {
			t.Fatalf("token request %d: %v", i, e)
		}
	}
	if n := env.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for three requests, want 1", n)
	}
	ev := env.fetches.last(t)
	if ev.Err != nil || ev.Keys != 1 || ev.MaxAge != DefaultJWKSMaxAge || ev.ClientID != "ehr-alpha" {
		t.Errorf("fetch event = %+v, want one key kept for the default max-age", ev)
	}

	// A client registered by file is not fetched.
	if res, e := env.issueWithClient(t, "ehr-beta"); e != nil || res == nil {
		t.Fatalf("token request of the file-registered client: %v", e)
	}
	if n := env.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}

	// Once the max-age has passed, the set is fetched again.
	env.clock.Advance(DefaultJWKSMaxAge)
	if _, e := env.issueWith(t, alphaKey); e != nil {
		t.Fatalf("token request after max-age: %v", e)
	}
	if n := env.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times after max-age, want 2", n)
	}
}

func (env *remoteEnv) issueWithClient(t *testing.T, id string) (*Result, *Error) {
	t.Helper()
	p := env.partners[id]
	r := verifiedRequest(tokenForm(env.assertion(id), "system/Claim.read").Encode(), p.cert.Leaf, env.ca.cert)
	return env.server.Issue(r.Context(), r)
}

// TestRemoteKeysRotation checks that a kid the partner adds is accepted
// once the set is fetched again, which an unknown kid triggers at most once
// per refresh interval.
func TestRemoteKeysRotation(t *testing.T) {
	env := newRemoteEnv(t)
	oldKey := env.partners["ehr-alpha"].key
	newKey := mustGenerateKey(t, "ES384")

	if _, e := env.issueWith(t, oldKey); e != nil {
		t.Fatalf("token request with the first key: %v", e)
	}
	env.jwks.serve(marshalSet(t, oldKey, newKey), "max-age=3600")

	// Within the refresh interval the new kid is unknown and no fetch is
	// made.
	env.clock.Advance(30 * time.Second)
	_, e := env.issueWith(t, newKey)
	if e == nil || e.Code != CodeInvalidClient || !strings.Contains(e.Description, "kid") {
		t.Fatalf("new kid within the refresh interval: error %v, want invalid_client naming the kid", e)
	}
	if n := env.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}

	// After it, the unknown kid triggers one fetch and is accepted.
	env.clock.Advance(JWKSRefreshInterval)
	if res, e := env.issueWith(t, newKey); e != nil || res == nil {
		t.Fatalf("new kid after the refresh interval: %v", e)
	}
	if n := env.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
	if _, e := env.issueWith(t, oldKey); e != nil {
		t.Errorf("old key still in the set: %v", e)
	}

	// A key the partner removes is refused after the next fetch.
	env.jwks.serve(marshalSet(t, newKey), "max-age=60")
	env.clock.Advance(time.Hour)
	if _, e := env.issueWith(t, newKey); e != nil {
		t.Fatalf("new key after the old one was removed: %v", e)
	}
	if _, e := env.issueWith(t, oldKey); e == nil {
		t.Error("the removed key is still accepted")
	}
}

// TestRemoteKeysForgedKidFlood checks that assertions naming kids the
// partner never published cause at most one fetch per refresh interval.
func TestRemoteKeysForgedKidFlood(t *testing.T) {
	env := newRemoteEnv(t)
	ctx := context.Background()
	if _, err := env.keys.Client(ctx, "ehr-alpha"); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(2 * time.Minute)

	flood := func() {
		for i := range 50 {
			c, err := env.keys.ClientForKey(ctx, "ehr-alpha", fmt.Sprintf("forged-%d", i))
			if err != nil {
				t.Fatalf("ClientForKey with a forged kid: %v", err)
			}
			if len(c.Keys.Keys) != 1 {
				t.Fatalf("client has %d keys, want the published one", len(c.Keys.Keys))
			}
		}
	}
	flood()
	if n := env.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times after a flood of forged kids, want 2 (one refetch)", n)
	}
	env.clock.Advance(JWKSRefreshInterval - time.Second)
	flood()
	if n := env.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times within the refresh interval, want 2", n)
	}
	env.clock.Advance(time.Second)
	flood()
	if n := env.jwks.hits.Load(); n != 3 {
		t.Errorf("JWKS fetched %d times after the refresh interval, want 3", n)
	}

	// The forged kids are refused at the token endpoint too.
	forged := withKeyID(mustGenerateKey(t, "ES256"), "forged-x", "ES256")
	if _, e := env.issueWith(t, forged); e == nil || e.Code != CodeInvalidClient {
		t.Errorf("assertion under a forged kid: %v, want invalid_client", e)
	}
}

func TestRemoteKeysConcurrentFirstUseFetchesOnce(t *testing.T) {
	env := newRemoteEnv(t)
	env.jwks.mu.Lock()
	env.jwks.delay = 50 * time.Millisecond
	env.jwks.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := env.keys.Client(context.Background(), "ehr-alpha"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Client: %v", err)
	}
	if n := env.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times by 20 concurrent first requests, want 1", n)
	}
}

// TestRemoteKeysKeepLastGoodSet checks that a failed fetch leaves the last
// good set in use and is reported.
func TestRemoteKeysKeepLastGoodSet(t *testing.T) {
	env := newRemoteEnv(t)
	alphaKey := env.partners["ehr-alpha"].key
	env.jwks.serve(marshalSet(t, alphaKey), "max-age=60")
	if _, e := env.issueWith(t, alphaKey); e != nil {
		t.Fatal(e)
	}

	failures := []struct {
		name  string
		serve func()
	}{
		{"server error", func() { env.jwks.serveRaw(http.StatusInternalServerError, "text/plain", []byte("down")) }},
		{"invalid set", func() { env.jwks.serveRaw(http.StatusOK, "application/json", []byte(`{"keys":[`)) }},
		{"private key", func() { env.jwks.serve(privateSet(t), "") }},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			tt.serve()
			env.clock.Advance(2 * time.Minute)
			before := env.jwks.hits.Load()
			if res, e := env.issueWith(t, alphaKey); e != nil || res == nil {
				t.Fatalf("token request after a failed fetch: %v, want the last good set used", e)
			}
			if env.jwks.hits.Load() != before+1 {
				t.Error("the expired set was not fetched again")
			}
			ev := env.fetches.last(t)
			if ev.Err == nil || !ev.Stale {
				t.Errorf("fetch event = %+v, want a failure with the stale set kept", ev)
			}
		})
	}
}

func privateSet(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{*mustGenerateKey(t, "ES256")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRemoteKeysRejectsBadSets checks each rule on a fetched set. With no
// earlier set, the client cannot authenticate, and the token endpoint
// returns 503.
func TestRemoteKeysRejectsBadSets(t *testing.T) {
	good := func(t *testing.T) []byte { return marshalSet(t, mustGenerateKey(t, "ES256")) }
	tests := []struct {
		name        string
		status      int
		contentType string
		body        func(t *testing.T) []byte
		path        string
		want        string
	}{
		{"oversize", 200, "application/json", func(t *testing.T) []byte {
			set := good(t)
			return append(set[:len(set)-1], []byte(`,"pad":"`+strings.Repeat("a", MaxJWKSBytes)+`"}`)...)
		}, "", "exceeds"},
		{"private key", 200, "application/json", privateSet, "", "private key material"},
		{"symmetric key", 200, "application/json", func(*testing.T) []byte {
			return []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}`)
		}, "", "symmetric"},
		{"key without kid", 200, "application/json", func(t *testing.T) []byte {
			return marshalSet(t, withKeyID(mustGenerateKey(t, "ES256"), "", "ES256"))
		}, "", "no kid"},
		{"duplicate member", 200, "application/json", func(*testing.T) []byte {
			return []byte(`{"keys":[],"keys":[]}`)
		}, "", "strict JSON"},
		{"trailing data", 200, "application/json", func(t *testing.T) []byte { return append(good(t), []byte(` {}`)...) },
			"", "strict JSON"},
		{"too deep", 200, "application/json", func(*testing.T) []byte {
			return []byte(`{"keys":[],"x":` + strings.Repeat("[", 10) + strings.Repeat("]", 10) + `}`)
		}, "", "strict JSON"},
		{"not an object", 200, "application/json", func(*testing.T) []byte { return []byte(`[]`) }, "", "keys array"},
		{"no keys", 200, "application/json", func(*testing.T) []byte { return []byte(`{"keys":[]}`) }, "", "no keys"},
		{"unparseable key", 200, "application/json", func(*testing.T) []byte {
			return []byte(`{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"AA","y":"AA"}]}`)
		}, "", "not a valid JWK"},
		{"HTML error page", 200, "text/html", good, "", "not application/jwk-set+json"},
		{"not found", 404, "application/json", good, "", "HTTP 404"},
		{"redirect", 200, "application/json", good, "/moved", "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newRemoteEnv(t)
			env.jwks.serveRaw(tt.status, tt.contentType, tt.body(t))
			if tt.path != "" {
				sources := map[string]JWKSSource{"ehr-alpha": {URL: env.jwks.srv.URL + tt.path, HTTPClient: env.jwks.httpClient(t)}}
				keys, err := NewRemoteKeys(StaticClients{"ehr-alpha": {ID: "ehr-alpha"}}, sources,
					RemoteKeyOptions{Now: env.clock.Now, OnFetch: env.fetches.add})
				if err != nil {
					t.Fatal(err)
				}
				env.keys = keys
				env.server = env.serverVariant(t, func(o *ServerOptions) { o.Clients = keys })
			}

			_, err := env.keys.Client(context.Background(), "ehr-alpha")
			if err == nil || errors.Is(err, ErrUnknownClient) {
				t.Fatalf("Client error = %v, want a fetch failure", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if ev := env.fetches.last(t); ev.Err == nil || ev.Stale {
				t.Errorf("fetch event = %+v, want a failure without a stale set", ev)
			}

			env.clock.Advance(JWKSRefreshInterval)
			_, e := env.issueWith(t, env.partners["ehr-alpha"].key)
			if e == nil || e.Code != CodeTemporarilyUnavailable {
				t.Errorf("token request = %v, want temporarily_unavailable", e)
			}
		})
	}
}

func TestRemoteKeysEgressDenied(t *testing.T) {
	env := newRemoteEnv(t)
	guard, err := egress.New(egress.Options{Allow: []string{"jwks.partner.example:443"}})
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]JWKSSource{"ehr-alpha": {URL: env.jwks.url(), HTTPClient: guard.HTTPClient(egress.ClientOptions{})}}
	keys, err := NewRemoteKeys(StaticClients{"ehr-alpha": {ID: "ehr-alpha"}}, sources, RemoteKeyOptions{Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.Client(context.Background(), "ehr-alpha")
	var denied *egress.DeniedError
	if !errors.As(err, &denied) {
		t.Errorf("Client error = %v, want an egress denial", err)
	}
	if n := env.jwks.hits.Load(); n != 0 {
		t.Errorf("the JWKS endpoint outside the allowlist received %d requests", n)
	}
}

// TestRemoteKeysWithoutSetHonoursInterval checks that a client whose first
// fetch failed is not fetched again within the retry interval.
func TestRemoteKeysWithoutSetHonoursInterval(t *testing.T) {
	env := newRemoteEnv(t)
	env.jwks.serveRaw(http.StatusServiceUnavailable, "text/plain", nil)
	ctx := context.Background()
	for range 5 {
		if _, err := env.keys.Client(ctx, "ehr-alpha"); err == nil {
			t.Fatal("Client succeeded without a key set")
		}
	}
	if n := env.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times within the retry interval, want 1", n)
	}

	env.jwks.serve(marshalSet(t, env.partners["ehr-alpha"].key), "")
	env.clock.Advance(JWKSRefreshInterval)
	if _, err := env.keys.Client(ctx, "ehr-alpha"); err != nil {
		t.Errorf("Client after the endpoint recovered: %v", err)
	}
}

func TestRemoteKeysUnknownClient(t *testing.T) {
	env := newRemoteEnv(t)
	if _, err := env.keys.Client(context.Background(), "ehr-unknown"); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("Client(unknown) error = %v, want ErrUnknownClient", err)
	}
	if n := env.jwks.hits.Load(); n != 0 {
		t.Errorf("JWKS fetched %d times for an unknown client", n)
	}
}

func TestNewRemoteKeysValidatesURLs(t *testing.T) {
	inner := StaticClients{}
	client := &http.Client{}
	for _, raw := range []string{
		"http://jwks.partner.example/jwks.json",
		"https:///jwks.json",
		"https://user:pass@jwks.partner.example/jwks.json",
		"https://jwks.partner.example/jwks.json#k1",
		"jwks.partner.example/jwks.json",
	} {
		t.Run(raw, func(t *testing.T) {
			sources := map[string]JWKSSource{"ehr-alpha": {URL: raw, HTTPClient: client}}
			if _, err := NewRemoteKeys(inner, sources, RemoteKeyOptions{}); err == nil {
				t.Errorf("NewRemoteKeys accepted %q", raw)
			}
		})
	}
	noClient := map[string]JWKSSource{"ehr-alpha": {URL: "https://jwks.partner.example/jwks.json"}}
	if _, err := NewRemoteKeys(inner, noClient, RemoteKeyOptions{}); err == nil {
		t.Error("NewRemoteKeys accepted a source without an HTTP client")
	}
	if _, err := NewRemoteKeys(nil, nil, RemoteKeyOptions{}); err == nil {
		t.Error("NewRemoteKeys accepted a nil inner store")
	}
}

func TestCacheMaxAge(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   time.Duration
	}{
		{"absent", nil, DefaultJWKSMaxAge},
		{"other directives only", []string{"public, must-revalidate"}, DefaultJWKSMaxAge},
		{"in range", []string{"public, max-age=600"}, 10 * time.Minute},
		{"quoted", []string{`max-age="600"`}, 10 * time.Minute},
		{"upper case", []string{"MAX-AGE=600"}, 10 * time.Minute},
		{"below the minimum", []string{"max-age=5"}, MinJWKSMaxAge},
		{"zero", []string{"max-age=0"}, MinJWKSMaxAge},
		{"above the maximum", []string{"max-age=31536000"}, MaxJWKSMaxAge},
		{"beyond 64 bits", []string{"max-age=99999999999999999999999"}, MaxJWKSMaxAge},
		{"no-store", []string{"no-store, max-age=600"}, MinJWKSMaxAge},
		{"no-cache", []string{"no-cache"}, MinJWKSMaxAge},
		{"repeated", []string{"max-age=600", "max-age=900"}, MinJWKSMaxAge},
		{"negative", []string{"max-age=-1"}, MinJWKSMaxAge},
		{"not a number", []string{"max-age=soon"}, MinJWKSMaxAge},
		{"empty", []string{"max-age="}, MinJWKSMaxAge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cacheMaxAge(tt.values); got != tt.want {
				t.Errorf("cacheMaxAge(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func TestJWKSMediaType(t *testing.T) {
	tests := []struct {
		values []string
		want   bool
	}{
		{[]string{"application/jwk-set+json"}, true},
		{[]string{"application/json; charset=utf-8"}, true},
		{[]string{"application/json; charset=iso-8859-1"}, false},
		{[]string{"application/json; version=2"}, false},
		{[]string{"text/html"}, false},
		{nil, false},
		{[]string{"application/json", "application/json"}, false},
	}
	for _, tt := range tests {
		if got := jwksMediaType(tt.values); got != tt.want {
			t.Errorf("jwksMediaType(%q) = %v, want %v", tt.values, got, tt.want)
		}
	}
}
