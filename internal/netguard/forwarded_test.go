package netguard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	g := mustGuard(t, Options{
		Allow:          MustParseAllowlist("192.0.2.0/24", "2001:db8::/32", "10.0.0.0/8"),
		TrustedProxies: MustParseAllowlist("10.0.0.2", "10.0.0.3"),
	})
	tests := []struct {
		name    string
		remote  string
		headers map[string][]string
		want    string // client address, or the rule of the refusal
	}{
		{"direct, no headers", "192.0.2.5:1000", nil, "192.0.2.5"},
		{"untrusted peer, spoofed Forwarded", "192.0.2.5:1000",
			map[string][]string{"Forwarded": {"for=192.0.2.99"}}, "192.0.2.5"},
		{"untrusted peer, spoofed X-Forwarded-For", "192.0.2.5:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.99"}}, "192.0.2.5"},
		{"untrusted refused peer claims an allowed client", "203.0.113.7:1000",
			map[string][]string{"Forwarded": {"for=192.0.2.99"}, "X-Forwarded-For": {"192.0.2.99"}}, RuleGlobal},
		{"untrusted peer, malformed header ignored", "192.0.2.5:1000",
			map[string][]string{"Forwarded": {"for=\"unterminated"}}, "192.0.2.5"},
		{"trusted proxy, X-Forwarded-For", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.44"}}, "192.0.2.44"},
		{"trusted proxies chained", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.44, 10.0.0.3"}}, "192.0.2.44"},
		{"client-supplied left entry skipped", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.1", "192.0.2.44"}}, "192.0.2.44"},
		{"trusted proxy, refused client", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.7"}}, RuleGlobal},
		{"trusted proxy, no header", "10.0.0.2:1000", nil, "10.0.0.2"},
		{"Forwarded wins over X-Forwarded-For", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {`for="[2001:db8::7]:4711";proto=https`}, "X-Forwarded-For": {"192.0.2.44"}}, "2001:db8::7"},
		{"Forwarded with quoted IPv4 and port", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {`For="192.0.2.60:8080";by=10.0.0.2, for=10.0.0.3`}}, "192.0.2.60"},
		{"Forwarded unknown node", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {"for=unknown"}}, RuleForwarded},
		{"Forwarded obfuscated node", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {"for=_hidden"}}, RuleForwarded},
		{"Forwarded unquoted port", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {"for=192.0.2.60:8080"}}, RuleForwarded},
		{"Forwarded element without for", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {"proto=https"}}, RuleForwarded},
		{"Forwarded repeated for", "10.0.0.2:1000",
			map[string][]string{"Forwarded": {"for=192.0.2.1;for=192.0.2.2"}}, RuleForwarded},
		{"X-Forwarded-For garbage", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.44, evil"}}, RuleForwarded},
		{"X-Forwarded-For empty item", "10.0.0.2:1000",
			map[string][]string{"X-Forwarded-For": {"192.0.2.44,,"}}, RuleForwarded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/fhir/metadata", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, err := g.ClientAddr(r)
			if want, perr := netip.ParseAddr(tt.want); perr == nil {
				if err != nil || got != want {
					t.Errorf("ClientAddr = %v, %v; want %v", got, err, want)
				}
				return
			}
			var denied *DeniedError
			if !errors.As(err, &denied) || denied.Rule != tt.want {
				t.Errorf("ClientAddr = %v, %v; want a DeniedError with rule %s", got, err, tt.want)
			}
		})
	}
}

func TestClientAddrTooManyHops(t *testing.T) {
	g := mustGuard(t, Options{Allow: MustParseAllowlist("0.0.0.0/0"), TrustedProxies: MustParseAllowlist("10.0.0.2")})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:1"
	for range maxForwardedHops + 1 {
		r.Header.Add("X-Forwarded-For", "192.0.2.1")
	}
	if _, err := g.ClientAddr(r); err == nil {
		t.Error("ClientAddr accepted more than the maximum number of hops")
	}
}

// TestClientAddrTLSIgnoresHeaders checks that on a request whose TLS this
// server terminated, forwarding headers are ignored even from a trusted
// proxy: a TCP load balancer cannot write inside the TLS stream, so the
// client wrote them.
func TestClientAddrTLSIgnoresHeaders(t *testing.T) {
	g := mustGuard(t, Options{
		Allow:          MustParseAllowlist("192.0.2.0/24", "10.0.0.0/8"),
		TrustedProxies: MustParseAllowlist("10.0.0.2"),
	})
	for _, header := range []string{"Forwarded", "X-Forwarded-For"} {
		t.Run(header, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://gateway.test/fhir/metadata", nil)
			r.RemoteAddr = "10.0.0.2:1000"
			r.Header.Set(header, "for=192.0.2.44")
			if header == "X-Forwarded-For" {
				r.Header.Set(header, "192.0.2.44")
			}
			if r.TLS == nil {
				t.Fatal("the test request carries no TLS state")
			}
			got, err := g.ClientAddr(r)
			if err != nil {
				t.Fatalf("ClientAddr: %v", err)
			}
			if want := netip.MustParseAddr("10.0.0.2"); got != want {
				t.Errorf("ClientAddr = %v, want the direct peer %v", got, want)
			}
		})
	}
}
