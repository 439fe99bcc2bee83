package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkIssue measures token issuance without the network: form
// parsing, assertion verification (ES256), replay check in a
// MemoryReplayCache, and access token signing (ES256). Assertions are made
// before the timer starts.
func BenchmarkIssue(b *testing.B) {
	env := newTestEnv(b, testStart)
	alpha := env.partners["ehr-alpha"]
	replay, err := NewMemoryReplayCache(b.N+1, env.clock.Now)
	if err != nil {
		b.Fatal(err)
	}
	srv := env.serverVariant(b, func(o *ServerOptions) { o.Replay = replay })

	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := verifiedRequest(bodies[i], alpha.cert.Leaf, env.ca.cert)
		if _, e := srv.Issue(r.Context(), r); e != nil {
			b.Fatal(e)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkVerifyAccessToken measures Server.Verify, the per-request cost
// at the FHIR API, for a token the verified-token cache contains (every
// request after a token's first) and, with the cache off, for a token
// verified in full (the first request).
func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			env := newTestEnv(b, testStart)
			srv := env.serverVariant(b, func(o *ServerOptions) { o.VerifiedCacheTTL = bc.ttl })
			alpha := env.partners["ehr-alpha"]
			body := tokenForm(env.assertion("ehr-alpha"), "system/Claim.read").Encode()
			r := verifiedRequest(body, alpha.cert.Leaf, env.ca.cert)
			res, e := srv.Issue(r.Context(), r)
			if e != nil {
				b.Fatal(e)
			}

			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.Verify(res.accessToken, alpha.cert.Leaf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkES256Sign and BenchmarkES256Verify measure the raw crypto/ecdsa
// cost of one P-256 signature and one verification over a SHA-256 digest,
// the floor under BenchmarkIssue (one of each per token).
func BenchmarkES256Sign(b *testing.B) {
	key := mustECKey(b, elliptic.P256())
	digest := sha256.Sum256([]byte("gatehouse"))
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkES256Verify(b *testing.B) {
	key := mustECKey(b, elliptic.P256())
	digest := sha256.Sum256([]byte("gatehouse"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
}
