package token

import (
	"crypto/sha256"
	"errors"
	"net/url"
	"testing"
	"time"
)

// cachedToken issues a token on srv, verifies it once so that it is cached,
// and checks that a second verification is served from the cache.
func cachedToken(t *testing.T, env *testEnv, srv *Server) string {
	t.Helper()
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")
	alpha := env.partners["ehr-alpha"]
	if _, err := srv.Verify(tok, alpha.cert.Leaf); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	before := srv.signatureChecks.Load()
	if _, err := srv.Verify(tok, alpha.cert.Leaf); err != nil {
		t.Fatalf("second Verify: %v", err)
	}
	if srv.signatureChecks.Load() != before {
		t.Fatal("the second verification checked the signature again: the token was not cached")
	}
	return tok
}

func TestVerifiedCacheRevokedTokenRejected(t *testing.T) {
	env := newTestEnv(t, testStart)
	srv, _ := env.revocableServer(t)
	alpha := env.partners["ehr-alpha"]
	tok := cachedToken(t, env, srv)

	r := env.controlRequest(alpha, url.Values{"token": {tok}})
	if res, e := srv.Revoke(r.Context(), r, AnyToken()); e != nil || !res.Revoked {
		t.Fatalf("Revoke = %+v, %v", res, e)
	}
	before := srv.signatureChecks.Load()
	if _, err := srv.Verify(tok, alpha.cert.Leaf); !errors.Is(err, ErrRevokedToken) {
		t.Errorf("Verify of a cached, revoked token: %v, want ErrRevokedToken", err)
	}
	if srv.signatureChecks.Load() != before {
		t.Error("the revoked token was not served from the cache, so the test shows nothing about it")
	}
}

func TestVerifiedCacheOtherCertificateRejected(t *testing.T) {
	env := newTestEnv(t, testStart)
	beta := env.partners["ehr-beta"]
	tok := cachedToken(t, env, env.server)

	before := env.server.signatureChecks.Load()
	if _, err := env.server.Verify(tok, beta.cert.Leaf); !errors.Is(err, ErrCertificateMismatch) {
		t.Errorf("Verify of a cached token over another certificate: %v, want ErrCertificateMismatch", err)
	}
	if _, err := env.server.Verify(tok, nil); !errors.Is(err, ErrCertificateMismatch) {
		t.Errorf("Verify of a cached token without a certificate: %v, want ErrCertificateMismatch", err)
	}
	if env.server.signatureChecks.Load() != before {
		t.Error("the token was not served from the cache")
	}
}

func TestVerifiedCacheExpiredTokenRejected(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := cachedToken(t, env, env.server)

	// Past exp plus the allowed skew the token is rejected, whether the
	// entry is still cached or not.
	env.clock.Advance(DefaultLifetime + DefaultSkew + time.Second)
	if _, err := env.server.Verify(tok, alpha.cert.Leaf); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("Verify of an expired, once cached token: %v, want ErrExpiredToken", err)
	}
}

func TestVerifiedCacheExpiredClaimsCheckedOnHit(t *testing.T) {
	// An entry never outlives its token's exp, and the claims are checked
	// on every hit as well. This test plants an entry that outlives exp, to
	// show that the second check alone rejects the token.
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := cachedToken(t, env, env.server)
	key := sha256.Sum256([]byte(tok))
	env.server.verified.mu.Lock()
	e := env.server.verified.entries[key]
	e.until = testStart.Add(time.Hour)
	env.server.verified.entries[key] = e
	env.server.verified.mu.Unlock()

	env.clock.Advance(DefaultLifetime + DefaultSkew + time.Second)
	before := env.server.signatureChecks.Load()
	if _, err := env.server.Verify(tok, alpha.cert.Leaf); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("Verify served from the cache after exp: %v, want ErrExpiredToken", err)
	}
	if env.server.signatureChecks.Load() != before {
		t.Error("the token was not served from the cache")
	}
}

func TestVerifiedCacheTTL(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := cachedToken(t, env, env.server)

	env.clock.Advance(DefaultVerifiedCacheTTL)
	before := env.server.signatureChecks.Load()
	if _, err := env.server.Verify(tok, alpha.cert.Leaf); err != nil {
		t.Fatalf("Verify after the TTL: %v", err)
	}
	if env.server.signatureChecks.Load() != before+1 {
		t.Error("the signature was not checked again after the TTL")
	}
}

func TestVerifiedCacheKeyIsWholeToken(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	tok := cachedToken(t, env, env.server)

	// The same claims under a changed signature are another token text,
	// so they miss the cache and fail verification. The changed character
	// is inside the signature, away from the last one, whose low bits are
	// padding.
	i := len(tok) - 10
	forged := tok[:i] + flipBase64(tok[i:i+1]) + tok[i+1:]
	if _, err := env.server.Verify(forged, alpha.cert.Leaf); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify of a token with a changed signature: %v, want ErrInvalidToken", err)
	}
}

func TestVerifiedCacheDisabled(t *testing.T) {
	env := newTestEnv(t, testStart)
	alpha := env.partners["ehr-alpha"]
	srv := env.serverVariant(t, func(o *ServerOptions) { o.VerifiedCacheTTL = -1 })
	tok := env.issueDirect(t, srv, "ehr-alpha", "system/Claim.read")
	for range 2 {
		if _, err := srv.Verify(tok, alpha.cert.Leaf); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.signatureChecks.Load(); n != 2 {
		t.Errorf("signature checked %d times for two verifications without a cache, want 2", n)
	}
}

func TestVerifiedCacheTTLOption(t *testing.T) {
	env := newTestEnv(t, testStart)
	opts := env.server.opts
	opts.VerifiedCacheTTL = 6 * time.Minute
	if _, err := NewServer(opts); err == nil {
		t.Error("NewServer accepted a VerifiedCacheTTL above 5 minutes")
	}
}

// flipBase64 replaces each base64url character of s with another one.
func flipBase64(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

func TestVerifiedCacheFullScansOncePerExpiry(t *testing.T) {
	c := newVerifiedCache(time.Minute)
	now := time.Unix(1700000000, 0)
	claims := &accessTokenClaims{Expiry: now.Add(time.Hour).Unix()}
	for i := range maxVerifiedCacheEntries {
		// The first entry expires after 10 s, the others after the TTL.
		at := now
		if i == 0 {
			at = now.Add(10*time.Second - time.Minute)
		}
		c.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), claims, at)
	}
	if len(c.entries) != maxVerifiedCacheEntries {
		t.Fatalf("cache holds %d entries, want it full with %d", len(c.entries), maxVerifiedCacheEntries)
	}

	extra := func(n int) [sha256.Size]byte { return sha256.Sum256([]byte{'x', byte(n)}) }
	for n := range 100 {
		c.put(extra(n), claims, now.Add(time.Second))
	}
	if c.sweeps != 1 {
		t.Errorf("100 puts on a full cache of live entries scanned it %d times, want 1", c.sweeps)
	}
	if _, ok := c.entries[extra(0)]; ok {
		t.Error("a full cache of live entries took a new entry")
	}

	// Once the first entry has expired, the next put scans, drops it and
	// takes the new entry.
	c.put(extra(200), claims, now.Add(11*time.Second))
	if c.sweeps != 2 {
		t.Errorf("sweeps = %d after the first expiry, want 2", c.sweeps)
	}
	if _, ok := c.entries[extra(200)]; !ok {
		t.Error("the put after an expiry did not cache its entry")
	}
	if got, ok := c.get(extra(200), now.Add(12*time.Second)); !ok || got.Expiry != claims.Expiry {
		t.Errorf("get = %+v, %v, want the cached claims", got, ok)
	}
}
