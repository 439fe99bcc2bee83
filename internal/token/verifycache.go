package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultVerifiedCacheTTL is the default of ServerOptions.VerifiedCacheTTL,
// and MaxVerifiedCacheTTL its maximum.
const (
	DefaultVerifiedCacheTTL = 30 * time.Second
	MaxVerifiedCacheTTL     = 5 * time.Minute

	// maxVerifiedCacheEntries caps the cache. Only tokens this server
	// signed get in, so it fills only with live tokens. When it is full of
	// them, further tokens are verified without caching.
	maxVerifiedCacheEntries = 10000
)

// verifiedCache contains the claims of access tokens whose JWS structure,
// header and ES256 signature were verified, keyed by the SHA-256 of the
// token text, so that the next requests with the same token skip that
// work. An entry lives until the earlier of the token's exp and the TTL.
// Only verifySigned is skipped: the claims checks of checkToken (iss, aud,
// ids, exp, iat), the certificate binding and the revocation lookup still
// run on every request. It is safe for concurrent use.
type verifiedCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
	// nextExpiry, once the cache has been full, is a time before which
	// no entry expires, so a put on a full cache before it need not scan
	// the entries under the lock. Zero means unknown.
	nextExpiry time.Time
	// sweeps counts the scans for expired entries, for tests.
	sweeps int
}

type verifiedEntry struct {
	claims accessTokenClaims
	until  time.Time
}

func newVerifiedCache(ttl time.Duration) *verifiedCache {
	return &verifiedCache{ttl: ttl, entries: map[[sha256.Size]byte]verifiedEntry{}}
}

// get returns a copy of the claims cached for key, if any are live at now.
func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time) (*accessTokenClaims, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.until) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	claims := e.claims
	return &claims, true
}

// put caches a copy of claims under key. When the cache is full, it first
// drops the entries no longer live, and if none were, claims is not cached.
// A full cache is scanned at most once per expiry of an entry, since the
// scan holds the lock every verification takes.
func (c *verifiedCache) put(key [sha256.Size]byte, claims *accessTokenClaims, now time.Time) {
	until := now.Add(c.ttl)
	if exp := time.Unix(claims.Expiry, 0); exp.Before(until) {
		until = exp
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerifiedCacheEntries {
		if now.Before(c.nextExpiry) {
			return
		}
		c.sweep(now)
		if len(c.entries) >= maxVerifiedCacheEntries {
			return
		}
	}
	if !c.nextExpiry.IsZero() && until.Before(c.nextExpiry) {
		c.nextExpiry = until
	}
	c.entries[key] = verifiedEntry{claims: *claims, until: until}
}

// sweep drops the entries no longer live at now and sets nextExpiry to the
// earliest expiry of those left. The caller holds mu.
func (c *verifiedCache) sweep(now time.Time) {
	c.sweeps++
	c.nextExpiry = time.Time{}
	for k, e := range c.entries {
		switch {
		case !now.Before(e.until):
			delete(c.entries, k)
		case c.nextExpiry.IsZero() || e.until.Before(c.nextExpiry):
			c.nextExpiry = e.until
		}
	}
}
