package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits of RemoteKeys.
const (
	// DefaultJWKSMaxAge is how long a fetched key set is used when its
	// response carries no Cache-Control max-age.
	DefaultJWKSMaxAge = time.Hour
	// MinJWKSMaxAge and MaxJWKSMaxAge bound the max-age a response may
	// set. no-store, no-cache, a repeated max-age or an invalid one count
	// as MinJWKSMaxAge.
	MinJWKSMaxAge = time.Minute
	MaxJWKSMaxAge = 24 * time.Hour
	// JWKSRefreshInterval is the least time between a successful fetch of
	// one client's key set and the next fetch, whether an expired set or an
	// unknown kid triggers it, so that assertions with forged kids cannot
	// force fetches.
	JWKSRefreshInterval = time.Minute
	// JWKSRetryInterval is the wait before the first retry after a failed
	// fetch. Each further consecutive failure doubles it, up to
	// JWKSRefreshInterval, so that a gateway started before a partner's
	// JWKS host is up trusts the partner soon after the host comes up.
	JWKSRetryInterval = time.Second
	// DefaultJWKSMaxKeyAge is how long after its last successful fetch a
	// key set is used when RemoteKeyOptions.MaxKeyAge is zero.
	DefaultJWKSMaxKeyAge = 24 * time.Hour
	// MaxJWKSBytes caps a fetched key set.
	MaxJWKSBytes = 64 << 10

	maxJWKSKeys      = 100
	maxJWKSDepth     = 8
	jwksFetchTimeout = 10 * time.Second
)

// JWKSSource is the location of one client's published keys and the
// HTTP client that fetches them.
type JWKSSource struct {
	// URL is the JWK set's absolute https URL.
	URL string

	// HTTPClient fetches URL. Required. It should come from the egress
	// guard ((*egress.Guard).HTTPClient with no redirects), so that only
	// allowlisted hosts are reached, and trust only the roots that should
	// vouch for this client's server.
	HTTPClient *http.Client
}

// RemoteKeyOptions configures NewRemoteKeys.
type RemoteKeyOptions struct {
	// Now returns the current time. When nil, time.Now is used.
	Now func() time.Time

	// OnFetch, when set, is called after every fetch, failed or not, for
	// logging. It must not block.
	OnFetch func(JWKSFetch)

	// MaxKeyAge is how long after its last successful fetch a key set is
	// used. Past it, while fetches keep failing, the client's assertions
	// are rejected (fail closed), so that a key the partner has removed is
	// not trusted for ever. Zero means DefaultJWKSMaxKeyAge.
	MaxKeyAge time.Duration
}

// JWKSFetch describes one fetch of a client's key set.
type JWKSFetch struct {
	ClientID string
	URL      string
	Keys     int           // keys in the fetched set; 0 when the fetch failed
	MaxAge   time.Duration // how long the fetched set is used; 0 when the fetch failed
	// Err is the cause of a failed fetch, nil on success. It never
	// contains the response body.
	Err error
	// Stale reports, for a failed fetch, that an earlier set is still
	// served.
	Stale bool
	// Expired reports, for a failed fetch, that the last good set is older
	// than MaxKeyAge and no longer used: the client is rejected until a
	// fetch succeeds.
	Expired bool
	// RetryIn is, for a failed fetch, the wait before the next fetch is
	// allowed.
	RetryIn time.Duration
}

// RemoteKeys is a ClientStore that takes the keys of some clients from
// their JWKS URLs and everything else from an inner store.
//
// A client's key set is fetched on first use and again once it expires
// (after the response's Cache-Control max-age, bounded) or when an
// assertion names a kid the set does not contain. After a successful fetch the
// next one waits JWKSRefreshInterval. After a failed one it waits
// JWKSRetryInterval, doubled for each further consecutive failure up to
// JWKSRefreshInterval. A fetched set must come with status 200 as
// application/jwk-set+json or application/json. It must be at most
// MaxJWKSBytes of strict JSON (no duplicate member names, valid UTF-8,
// nothing after the value, nesting at most 8 deep) and contain 1 to 100
// asymmetric public keys, each with a kid. A set that fails any check is
// rejected whole. When a fetch fails, the last good set stays in use until
// it is older than RemoteKeyOptions.MaxKeyAge. A client with no usable set
// gets an error, for which the token endpoint returns 503.
//
// RemoteKeys is safe for concurrent use. Concurrent requests for one
// client share a single fetch.
type RemoteKeys struct {
	inner     ClientStore
	now       func() time.Time
	onFetch   func(JWKSFetch)
	maxKeyAge time.Duration

	// sets maps client ids to their remote key sets. It is not modified
	// after NewRemoteKeys.
	sets map[string]*remoteSet
}

// remoteSet is one client's key set and its fetch state.
type remoteSet struct {
	clientID string
	url      string
	client   *http.Client
	// fetching contains a value while a fetch runs, so that concurrent
	// callers wait for it rather than start their own.
	fetching chan struct{}

	mu         sync.Mutex
	keys       jose.JSONWebKeySet
	have       bool      // keys contains a set that passed every check
	fetchedAt  time.Time // when keys were fetched
	freshUntil time.Time // when keys expire
	nextFetch  time.Time // when the next fetch is allowed; zero before the first
	failures   int       // consecutive failed fetches
	lastErr    error     // cause of the latest failed fetch
}

// NewRemoteKeys returns a store that combines inner's registration of each
// client in sources (keyed by client id) with the keys fetched from that
// source. Other clients are looked up in inner alone.
func NewRemoteKeys(inner ClientStore, sources map[string]JWKSSource, opts RemoteKeyOptions) (*RemoteKeys, error) {
	if inner == nil {
		return nil, errors.New("token: NewRemoteKeys needs an inner ClientStore")
	}
	if opts.MaxKeyAge < 0 {
		return nil, fmt.Errorf("token: RemoteKeyOptions.MaxKeyAge is %v; use 0 for the default of %v or a positive duration", opts.MaxKeyAge, DefaultJWKSMaxKeyAge)
	}
	k := &RemoteKeys{inner: inner, now: opts.Now, onFetch: opts.OnFetch, maxKeyAge: opts.MaxKeyAge, sets: map[string]*remoteSet{}}
	if k.now == nil {
		k.now = time.Now
	}
	if k.maxKeyAge == 0 {
		k.maxKeyAge = DefaultJWKSMaxKeyAge
	}
	for id, src := range sources {
		if err := checkJWKSURL(src.URL); err != nil {
			return nil, fmt.Errorf("token: JWKS URL of client %q: %w", id, err)
		}
		if src.HTTPClient == nil {
			return nil, fmt.Errorf("token: JWKS source of client %q has no HTTPClient", id)
		}
		k.sets[id] = &remoteSet{clientID: id, url: src.URL, client: src.HTTPClient, fetching: make(chan struct{}, 1)}
	}
	return k, nil
}

// checkJWKSURL accepts an absolute https URL without user information or
// fragment.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute https URL without user information or fragment", raw)
	}
	return nil
}

// Client returns the registration for id, with its keys fetched from its
// JWKS URL when it has one.
func (k *RemoteKeys) Client(ctx context.Context, id string) (*Client, error) {
	return k.ClientForKey(ctx, id, "")
}

// ClientForKey returns the registration for id like Client. When id's key
// set does not contain kid, the set is fetched again if the next fetch is
// allowed.
func (k *RemoteKeys) ClientForKey(ctx context.Context, id, kid string) (*Client, error) {
	c, err := k.inner.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	set, ok := k.sets[id]
	if !ok {
		return c, nil
	}
	keys, err := k.keysFor(ctx, set, kid)
	if err != nil {
		return nil, err
	}
	out := *c
	out.Keys = keys
	return &out, nil
}

// Prefetch fetches every key set that has never been fetched, so that a
// wrong URL shows in the logs at start-up rather than at the first token
// request. Outcomes are reported to OnFetch only.
func (k *RemoteKeys) Prefetch(ctx context.Context) {
	for _, set := range k.sets {
		_, _ = k.keysFor(ctx, set, "")
	}
}

// keysFor returns set's keys, fetching them first when they are missing,
// expired or lack kid, and the refresh interval allows.
func (k *RemoteKeys) keysFor(ctx context.Context, set *remoteSet, kid string) (jose.JSONWebKeySet, error) {
	if keys, ok := set.usable(k.now(), k.maxKeyAge, kid); ok {
		return keys, nil
	}
	// A trusted set is served at once while no fetch is allowed. A client
	// without one waits below for a fetch that may be running.
	if set.trusted(k.now(), k.maxKeyAge) && !set.mayFetch(k.now()) {
		return set.fallback(k.now(), k.maxKeyAge)
	}

	select {
	case set.fetching <- struct{}{}:
	case <-ctx.Done():
		return jose.JSONWebKeySet{}, fmt.Errorf("token: waiting for the JWKS of client %q: %w", set.clientID, ctx.Err())
	}
	defer func() { <-set.fetching }()

	// Another caller may have fetched while this one waited.
	if keys, ok := set.usable(k.now(), k.maxKeyAge, kid); ok {
		return keys, nil
	}
	if set.mayFetch(k.now()) {
		k.fetch(ctx, set)
	}
	return set.fallback(k.now(), k.maxKeyAge)
}

// usable returns the keys if they are fresh, younger than maxAge and, when
// kid is not empty, contain kid.
func (s *remoteSet) usable(now time.Time, maxAge time.Duration, kid string) (jose.JSONWebKeySet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.trustedLocked(now, maxAge) || !now.Before(s.freshUntil) {
		return jose.JSONWebKeySet{}, false
	}
	if kid != "" && len(s.keys.Key(kid)) == 0 {
		return jose.JSONWebKeySet{}, false
	}
	return s.keys, true
}

// trusted reports whether the set contains keys fetched less than maxAge ago.
func (s *remoteSet) trusted(now time.Time, maxAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trustedLocked(now, maxAge)
}

func (s *remoteSet) trustedLocked(now time.Time, maxAge time.Duration) bool {
	return s.have && now.Sub(s.fetchedAt) < maxAge
}

// mayFetch reports whether the wait after the latest fetch has passed.
func (s *remoteSet) mayFetch(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextFetch.IsZero() || !now.Before(s.nextFetch)
}

// fallback returns the last good keys, stale or not, while they are younger
// than maxAge, or the reason there are none.
func (s *remoteSet) fallback(now time.Time, maxAge time.Duration) (jose.JSONWebKeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.trustedLocked(now, maxAge):
		return s.keys, nil
	case s.have:
		return jose.JSONWebKeySet{}, fmt.Errorf("token: the key set of client %q was fetched more than %v ago and cannot be refreshed: %w",
			s.clientID, maxAge, s.lastErr)
	case s.lastErr != nil:
		return jose.JSONWebKeySet{}, fmt.Errorf("token: no key set for client %q yet: %w", s.clientID, s.lastErr)
	}
	return jose.JSONWebKeySet{}, fmt.Errorf("token: no key set for client %q yet; the next fetch is allowed at %s", s.clientID, s.nextFetch.UTC().Format(time.RFC3339))
}

// retryDelay is the wait after the given number of consecutive failed
// fetches: JWKSRetryInterval doubled for each failure after the first, at
// most JWKSRefreshInterval.
func retryDelay(failures int) time.Duration {
	d := JWKSRetryInterval
	for i := 1; i < failures && d < JWKSRefreshInterval; i++ {
		d *= 2
	}
	return min(d, JWKSRefreshInterval)
}

// fetch downloads set's keys and stores them, or the failure. The
// download does not end when ctx is cancelled, only when it times out, so
// that a client dropping its connection cannot spend the fetch allowance.
func (k *RemoteKeys) fetch(ctx context.Context, set *remoteSet) {
	started := k.now()

	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	keys, maxAge, err := download(fetchCtx, set.client, set.url)

	ev := JWKSFetch{ClientID: set.clientID, URL: set.url, Err: err}
	now := k.now()
	set.mu.Lock()
	if err == nil {
		set.keys, set.have, set.lastErr, set.failures = keys, true, nil, 0
		set.fetchedAt, set.freshUntil = now, now.Add(maxAge)
		set.nextFetch = started.Add(JWKSRefreshInterval)
		ev.Keys, ev.MaxAge = len(keys.Keys), maxAge
	} else {
		set.lastErr = err
		set.failures++
		ev.RetryIn = retryDelay(set.failures)
		set.nextFetch = started.Add(ev.RetryIn)
		ev.Stale = set.trustedLocked(now, k.maxKeyAge)
		ev.Expired = set.have && !ev.Stale
	}
	set.mu.Unlock()

	if k.onFetch != nil {
		k.onFetch(ev)
	}
}

// download fetches and checks one key set, and returns it with the time it
// may be used.
func download(ctx context.Context, client *http.Client, rawURL string) (jose.JSONWebKeySet, time.Duration, error) {
	var none jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return none, 0, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")

	resp, err := client.Do(req)
	if err != nil {
		return none, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return none, 0, fmt.Errorf("the JWKS URL returned HTTP %d, expected 200", resp.StatusCode)
	}
	if !jwksMediaType(resp.Header.Values("Content-Type")) {
		return none, 0, errors.New("the response is not application/jwk-set+json or application/json")
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return none, 0, fmt.Errorf("reading the response: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return none, 0, fmt.Errorf("the key set exceeds %d bytes", MaxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return none, 0, err
	}
	return keys, cacheMaxAge(resp.Header.Values("Cache-Control")), nil
}

// jwksMediaType accepts one Content-Type of application/jwk-set+json or
// application/json, with no parameter but charset=utf-8.
func jwksMediaType(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil || (mediaType != "application/jwk-set+json" && mediaType != "application/json") {
		return false
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return false
		}
	}
	return true
}

// parseJWKS parses a JWK set strictly and checks that it contains 1 to 100
// asymmetric public keys with kids. Errors name the key by index and never
// quote the document.
func parseJWKS(data []byte) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if !strictJSON(data, maxJWKSDepth) {
		return set, errors.New("the key set is not strict JSON: invalid syntax or UTF-8, a duplicate member name, trailing data or nesting deeper than 8")
	}
	var doc struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return set, errors.New("the key set is not a JSON object with a keys array")
	}
	switch {
	case len(doc.Keys) == 0:
		return set, errors.New("the key set has no keys")
	case len(doc.Keys) > maxJWKSKeys:
		return set, fmt.Errorf("the key set has %d keys, more than %d", len(doc.Keys), maxJWKSKeys)
	}

	for i, raw := range doc.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			// go-jose's message could quote key material, so it is dropped.
			return jose.JSONWebKeySet{}, fmt.Errorf("keys[%d] is not a valid JWK", i)
		}
		if _, symmetric := key.Key.([]byte); symmetric {
			return jose.JSONWebKeySet{}, fmt.Errorf("keys[%d] is a symmetric key; only asymmetric public keys are accepted", i)
		}
		if !key.IsPublic() {
			return jose.JSONWebKeySet{}, fmt.Errorf("keys[%d] contains private key material; only public keys are accepted", i)
		}
		if key.KeyID == "" {
			return jose.JSONWebKeySet{}, fmt.Errorf("keys[%d] has no kid", i)
		}
		set.Keys = append(set.Keys, key)
	}
	return set, nil
}

// strictJSON reports whether data is one JSON value, with nothing but
// whitespace after it, that is valid UTF-8, has no duplicate member names
// and nests at most maxDepth objects and arrays deep.
func strictJSON(data []byte, maxDepth int) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := dec.ReadToken(); err != nil {
			return false
		}
		if dec.StackDepth() > maxDepth {
			return false
		}
		if dec.StackDepth() == 0 {
			break
		}
	}
	_, err := dec.ReadToken()
	return err == io.EOF
}

// cacheMaxAge returns how long a response may be used according to its
// Cache-Control max-age (RFC 9111 section 5.2.2.1), within MinJWKSMaxAge
// and MaxJWKSMaxAge, or DefaultJWKSMaxAge without one. no-store and
// no-cache, a repeated max-age and an invalid one give MinJWKSMaxAge,
// because RFC 9111 section 4.2.1 lets a cache treat such a response as
// stale.
func cacheMaxAge(values []string) time.Duration {
	var seconds uint64
	found, stale := false, false
	for _, value := range values {
		for directive := range strings.SplitSeq(value, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				stale = true
			case "max-age":
				n, ok := deltaSeconds(arg)
				stale = stale || found || !ok
				found, seconds = true, n
			}
		}
	}

	switch {
	case stale:
		return MinJWKSMaxAge
	case !found:
		return DefaultJWKSMaxAge
	case seconds > uint64(MaxJWKSMaxAge/time.Second):
		return MaxJWKSMaxAge
	}
	return max(time.Duration(seconds)*time.Second, MinJWKSMaxAge)
}

// deltaSeconds parses a delta-seconds value, quoted or not. A value too
// large for 64 bits is read as the largest one.
func deltaSeconds(arg string) (uint64, bool) {
	if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
		arg = arg[1 : len(arg)-1]
	}
	if arg == "" || strings.TrimLeft(arg, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		return ^uint64(0), true
	}
	return n, true
}
