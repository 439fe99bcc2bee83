package token

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/egress"
)

// downJWKSHost is a partner's JWKS host whose address is known before its
// HTTPS server starts: connections are refused until up is called.
type downJWKSHost struct {
	addr string
	srv  *httptest.Server
	body []byte
}

func newDownJWKSHost(t *testing.T, body []byte) *downJWKSHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// Closed, so that connections are refused until up listens again.
	ln.Close()
	return &downJWKSHost{addr: addr, body: body}
}

func (h *downJWKSHost) url() string { return "https://" + h.addr + "/jwks.json" }

// up starts the HTTPS server on the reserved address.
func (h *downJWKSHost) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Skipf("the reserved address %s was taken meanwhile: %v", h.addr, err)
	}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(h.body)
	}))
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
}

// down stops the HTTPS server; later connections are refused.
func (h *downJWKSHost) down() { h.srv.Close() }

// httpClient returns the egress guard's client for the host. Every
// httptest TLS server presents the same certificate, so the roots of a
// throwaway server trust the host before it starts.
func (h *downJWKSHost) httpClient(t *testing.T) *http.Client {
	t.Helper()
	probe := httptest.NewTLSServer(http.NotFoundHandler())
	roots := probe.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	probe.Close()
	guard, err := egress.New(egress.Options{Allow: []string{h.addr}})
	if err != nil {
		t.Fatal(err)
	}
	return guard.HTTPClient(egress.ClientOptions{RootCAs: roots, Timeout: 5 * time.Second})
}

// newDownHostKeys returns RemoteKeys for ehr-alpha, whose keys are at h.
func newDownHostKeys(t *testing.T, h *downJWKSHost, clock *clocktest.Clock, maxKeyAge time.Duration) (*RemoteKeys, *fetchLog) {
	t.Helper()
	fetches := &fetchLog{}
	inner := StaticClients{"ehr-alpha": {ID: "ehr-alpha", Scopes: testScopes}}
	sources := map[string]JWKSSource{"ehr-alpha": {URL: h.url(), HTTPClient: h.httpClient(t)}}
	keys, err := NewRemoteKeys(inner, sources, RemoteKeyOptions{Now: clock.Now, OnFetch: fetches.add, MaxKeyAge: maxKeyAge})
	if err != nil {
		t.Fatal(err)
	}
	return keys, fetches
}

// TestRemoteKeysHostDownThenUp starts the key store before the partner's
// JWKS host is up. Failed fetches are retried after 1s, 2s and 4s. The
// partner is trusted at the first retry after the host comes up, long
// before the one-minute refresh interval.
func TestRemoteKeysHostDownThenUp(t *testing.T) {
	clock := clocktest.New(testStart)
	key := mustGenerateKey(t, "ES256")
	host := newDownJWKSHost(t, marshalSet(t, key))
	keys, fetches := newDownHostKeys(t, host, clock, 0)
	ctx := context.Background()

	keys.Prefetch(ctx)
	if ev := fetches.last(t); ev.Err == nil || ev.RetryIn != time.Second {
		t.Fatalf("prefetch event %+v, expected a failure retried in 1s", ev)
	}
	for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
		clock.Advance(wait)
		if _, err := keys.Client(ctx, "ehr-alpha"); err == nil {
			t.Fatal("Client succeeded while the JWKS host is down")
		}
		if ev := fetches.last(t); ev.RetryIn != 2*wait {
			t.Errorf("after a %v wait: retry in %v, expected %v", wait, ev.RetryIn, 2*wait)
		}
	}
	fetched := len(fetches.events)
	if _, err := keys.Client(ctx, "ehr-alpha"); err == nil || len(fetches.events) != fetched {
		t.Errorf("a request within the backoff fetched again (%d fetches, expected %d) or succeeded (%v)", len(fetches.events), fetched, err)
	}

	host.up(t)
	clock.Advance(4 * time.Second)
	c, err := keys.Client(ctx, "ehr-alpha")
	if err != nil {
		t.Fatalf("Client after the host came up: %v", err)
	}
	if len(c.Keys.Key(key.KeyID)) != 1 {
		t.Errorf("client keys %+v lack the published key", c.Keys)
	}
}

func TestRetryDelayDoublesToRefreshInterval(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := retryDelay(i + 1); got != w {
			t.Errorf("retryDelay(%d) = %v, expected %v", i+1, got, w)
		}
	}
	if got := retryDelay(1 << 20); got != JWKSRefreshInterval {
		t.Errorf("retryDelay(many) = %v, expected %v", got, JWKSRefreshInterval)
	}
}

// TestRemoteKeysMaxKeyAge checks that the last good set is served while its
// host is down only until it is MaxKeyAge old, and that the client is
// trusted again once a fetch succeeds.
func TestRemoteKeysMaxKeyAge(t *testing.T) {
	clock := clocktest.New(testStart)
	key := mustGenerateKey(t, "ES256")
	host := newDownJWKSHost(t, marshalSet(t, key))
	host.up(t)
	keys, fetches := newDownHostKeys(t, host, clock, 3*time.Hour)
	ctx := context.Background()
	if _, err := keys.Client(ctx, "ehr-alpha"); err != nil {
		t.Fatal(err)
	}

	host.down()
	// Past the set's max-age the fetch fails and the last good set serves.
	clock.Advance(DefaultJWKSMaxAge + time.Minute)
	if _, err := keys.Client(ctx, "ehr-alpha"); err != nil {
		t.Fatalf("Client with the last good set younger than MaxKeyAge: %v", err)
	}
	if ev := fetches.last(t); ev.Err == nil || !ev.Stale || ev.Expired {
		t.Errorf("fetch event %+v, expected a failure with the last good set served", ev)
	}

	clock.Advance(2 * time.Hour)
	if _, err := keys.Client(ctx, "ehr-alpha"); err == nil {
		t.Fatal("Client succeeded with a key set older than MaxKeyAge")
	}
	if ev := fetches.last(t); ev.Err == nil || ev.Stale || !ev.Expired {
		t.Errorf("fetch event %+v, expected a failure with the last good set expired", ev)
	}

	host.up(t)
	clock.Advance(JWKSRefreshInterval)
	if _, err := keys.Client(ctx, "ehr-alpha"); err != nil {
		t.Errorf("Client after the host came back: %v", err)
	}
}

func TestNewRemoteKeysRejectsNegativeMaxKeyAge(t *testing.T) {
	sources := map[string]JWKSSource{"ehr-alpha": {URL: "https://127.0.0.1/jwks.json", HTTPClient: &http.Client{}}}
	if _, err := NewRemoteKeys(StaticClients{}, sources, RemoteKeyOptions{MaxKeyAge: -time.Second}); err == nil {
		t.Error("NewRemoteKeys accepted a negative MaxKeyAge")
	}
}
