package app_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestFormatJSONOverridesAccept checks that a _format naming FHIR JSON is
// served although the request's Accept admits no JSON, because FHIR R4
// lets _format override Accept, and that the response is labelled with
// the type _format names.
func TestFormatJSONOverridesAccept(t *testing.T) {
	upstreamURL, calls := bundleUpstream(t, "application/fhir+json")
	h := newHarness(t, harnessOptions{upstreamURL: upstreamURL})
	tok := h.accessToken()

	formats := []struct{ format, want string }{
		{"json", "application/fhir+json; charset=utf-8"},
		{"application/fhir+json", "application/fhir+json; charset=utf-8"},
		{"application/json", "application/json; charset=utf-8"},
	}
	for _, f := range formats {
		for _, accept := range []string{"application/fhir+xml", "text/html", "application/fhir+json;q=0, */*", "application/fhir+json;q=2"} {
			t.Run(f.format+"/"+accept, func(t *testing.T) {
				before := calls.Load()
				header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}, "Accept": {accept}}
				resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit?_format="+url.QueryEscape(f.format), header, shippedBundle(t))
				body := readBody(t, resp)

				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
				}
				if n := calls.Load() - before; n != 1 {
					t.Errorf("upstream received %d requests, want 1", n)
				}
				if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != f.want {
					t.Errorf("Content-Type = %q, want [%s]", ct, f.want)
				}
			})
		}
	}
}

// TestFormatXMLRefusedDespiteAccept checks that a _format naming another
// format gets 406 with the policy.format rule and an OperationOutcome,
// and never reaches the upstream, even when Accept requests FHIR JSON.
func TestFormatXMLRefusedDespiteAccept(t *testing.T) {
	checkNotAcceptable(t, "/fhir/Claim/$submit?_format=xml",
		[]string{"application/fhir+json", "application/fhir+xml", ""}, "policy.format")
}

// TestOutboundFormatJSONOverridesAccept checks the same precedence on the
// engine's requests to a partner: _format=xml is rejected although Accept
// admits JSON, and _format=json is forwarded although Accept rejects it.
func TestOutboundFormatJSONOverridesAccept(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "capabilities")
	checkOutboundRejected(t, h, ehr, engine, base+"/metadata?_format=xml", "application/fhir+json", "policy.format")

	before := ehr.calls.Load()
	req, err := http.NewRequest("GET", base+"/metadata?_format=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+xml")
	resp, err := engine.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", resp.StatusCode, body)
	}
	if n := ehr.calls.Load() - before; n != 1 {
		t.Errorf("the partner received %d calls, want 1", n)
	}
}
