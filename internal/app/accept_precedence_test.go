package app_test

import (
	"net/http"
	"testing"
)

// TestAcceptRefusalOverridesWildcard checks that a partner whose Accept
// rejects FHIR JSON explicitly (q=0) is not served it through a wildcard.
// The more specific range decides (RFC 9110 section 12.5.1), so the request
// gets 406 and never reaches the upstream, even where the gateway could
// label the same JSON application/json. A malformed q value gets 406 too.
func TestAcceptRefusalOverridesWildcard(t *testing.T) {
	checkAcceptRejected(t, []string{
		"application/fhir+json;q=0, */*",
		"application/fhir+json;q=0, application/json;q=0, application/*",
		"application/json, application/fhir+json;q=0",
		"application/fhir+json;q=2",
		"application/fhir+json;q=abc",
	})
}

// TestAcceptReleasedTypeAcceptable checks that a response goes out with a
// media type the partner's Accept gives a q above 0, even when the
// upstream labels it with the other FHIR JSON type.
func TestAcceptReleasedTypeAcceptable(t *testing.T) {
	upstreamURL, calls := bundleUpstream(t, "application/json")
	h := newHarness(t, harnessOptions{upstreamURL: upstreamURL})

	tests := []struct {
		accept, want string
	}{
		{"application/json;q=0, application/fhir+json", "application/fhir+json; charset=utf-8"},
		{"application/json;q=0, */*", "application/fhir+json; charset=utf-8"},
		{"application/json", "application/json; charset=utf-8"},
		{"", "application/json; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			before := calls.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
			if tt.accept != "" {
				header.Set("Accept", tt.accept)
			}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if n := calls.Load() - before; n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
			if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != tt.want {
				t.Errorf("Content-Type = %q, want [%s]", ct, tt.want)
			}
		})
	}
}

// TestOutboundAcceptRefusalOverridesWildcard checks the same precedence
// on the engine's requests to a partner.
func TestOutboundAcceptRefusalOverridesWildcard(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "capabilities")
	for _, accept := range []string{"application/fhir+json;q=0, */*", "*/*;q=2"} {
		t.Run(accept, func(t *testing.T) {
			checkOutboundRejected(t, h, ehr, engine, base+"/metadata", accept, "request.accept")
		})
	}
}
