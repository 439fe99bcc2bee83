package token

import (
	"context"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/go-json-experiment/json"
)

// acceptingReplay is a ReplayCache that never reports a replay, so that a
// fuzzer may submit the same valid assertion many times.
type acceptingReplay struct{}

func (acceptingReplay) Use(context.Context, string, string, time.Time) error { return nil }

// FuzzAssertion feeds arbitrary client_assertion values to the assertion
// checks. It must never panic, and every rejection must be invalid_client.
// An accepted input must have the header and payload of the seed assertion.
// Only its signature segment may differ, because ECDSA signatures are
// malleable.
func FuzzAssertion(f *testing.F) {
	key := mustGenerateKey(f, "ES256")
	tokenURL := "https://gatehouse.test/token"
	srv, err := NewServer(ServerOptions{
		TokenURL:   tokenURL,
		Issuer:     testIssuer,
		Audience:   testAudience,
		SigningKey: mustECKey(f, elliptic.P256()),
		Clients:    StaticClients{"ehr-alpha": {ID: "ehr-alpha", Keys: publicSet(key), Scopes: testScopes}},
		Replay:     acceptingReplay{},
		Now:        func() time.Time { return testStart },
	})
	if err != nil {
		f.Fatal(err)
	}

	seed, err := NewAssertion("ehr-alpha", tokenURL, key, testStart)
	if err != nil {
		f.Fatal(err)
	}
	seedParts := strings.Split(seed, ".")
	f.Add(seed)
	f.Add(seedParts[0] + "." + seedParts[1] + ".")
	f.Add(seedParts[0] + ".." + seedParts[2])
	f.Add("")
	f.Add("...")
	for _, compact := range cookbookCompacts(f) {
		f.Add(compact)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		a, e := srv.authenticate(context.Background(), raw, "")
		if e != nil {
			if a != nil || e.Code != CodeInvalidClient {
				t.Fatalf("authenticate = %v, %v", a, e)
			}
			return
		}
		parts := strings.Split(raw, ".")
		if parts[0] != seedParts[0] || parts[1] != seedParts[1] {
			t.Fatalf("accepted an assertion that is not the seed's: %q", raw)
		}
	})
}

// cookbookCompacts returns the compact JWS outputs of the RFC 7520 vectors.
func cookbookCompacts(f *testing.F) []string {
	paths, err := filepath.Glob(filepath.Join(corpustest.Root(f), "jose-cookbook", "jws", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var v cookbookVector
		if json.Unmarshal(data, &v) == nil && v.Output.Compact != "" {
			out = append(out, v.Output.Compact)
		}
	}
	return out
}
