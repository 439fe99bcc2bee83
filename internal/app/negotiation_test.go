package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestAcceptWithoutJSONRefused checks that a request whose Accept admits no
// FHIR R4 JSON is refused with 406 before it reaches the upstream, as
// _format=xml is. Forwarded, it runs upstream (a $submit creates a Claim),
// and the XML response of an upstream that honours Accept is then
// withheld with a 502.
func TestAcceptWithoutJSONRefused(t *testing.T) {
	checkAcceptRejected(t, []string{
		"application/fhir+xml",
		"application/xml, text/xml",
		"text/html",
		"application/fhir+json; fhirVersion=3.0",
		"application/fhir+json; charset=iso-8859-1",
		"application/fhir+json; q=0",
	})
}

// checkAcceptRejected sends a Claim/$submit with each Accept value and
// checks for a 406 not-supported OperationOutcome, one recorded
// request.accept refusal and no request to the upstream.
func checkAcceptRejected(t *testing.T, accepts []string) {
	checkNotAcceptable(t, "/fhir/Claim/$submit", accepts, "request.accept")
}

// checkNotAcceptable sends a Claim/$submit to target with each Accept
// value ("" sends none) and checks for a 406 not-supported
// OperationOutcome, one recorded refusal under rule and no request to the
// upstream.
func checkNotAcceptable(t *testing.T, target string, accepts []string, rule string) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	for _, accept := range accepts {
		t.Run(accept, func(t *testing.T) {
			before := h.upstream.count.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}
			if accept != "" {
				header.Set("Accept", accept)
			}
			resp := h.send(h.ehr.HTTPClient(), "POST", target, header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusNotAcceptable {
				t.Fatalf("status = %d, want 406; body %s", resp.StatusCode, body)
			}
			if got := outcomeCode(t, body); got != "not-supported" {
				t.Errorf("OperationOutcome code = %q, want not-supported", got)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("recorded %d entries, want 1 refusal", len(entries))
			}
			if e := entries[0]; e.Phase != record.PhaseRefusal || e.Rule != rule {
				t.Errorf("record = phase %s rule %q, want a %s refusal", e.Phase, e.Rule, rule)
			}
		})
	}
}

// bundleUpstream starts an upstream that responds to every request with an
// empty collection Bundle labelled contentType. It returns the upstream's
// FHIR base URL and the count of requests it received.
func bundleUpstream(t *testing.T, contentType string) (string, *atomic.Int64) {
	t.Helper()
	calls := new(atomic.Int64)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection"}`))
	}))
	t.Cleanup(upstream.Close)
	return upstream.URL + "/fhir-engine", calls
}

// TestAcceptForwardedAsFHIRJSON checks that an Accept that admits FHIR
// JSON among other types reaches the upstream as application/fhir+json
// alone, so that the upstream cannot pick a format the gateway does not
// validate, whatever its reading of q-values and wildcards.
func TestAcceptForwardedAsFHIRJSON(t *testing.T) {
	var calls atomic.Int64
	// The upstream responds in the first type of Accept, as a server that
	// honours Accept without q-values may.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if strings.HasPrefix(r.Header.Get("Accept"), "application/fhir+xml") {
			w.Header().Set("Content-Type", "application/fhir+xml")
			_, _ = w.Write([]byte(`<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>`))
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection"}`))
	}))
	t.Cleanup(upstream.Close)
	h := newHarness(t, harnessOptions{upstreamURL: upstream.URL + "/fhir-engine"})

	for _, accept := range []string{
		"application/fhir+xml, application/fhir+json;q=0.5",
		"application/fhir+xml;q=0.9, */*;q=0.1",
		"application/fhir+xml, application/*",
	} {
		t.Run(accept, func(t *testing.T) {
			before := calls.Load()
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}, "Accept": {accept}}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if n := calls.Load() - before; n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("Content-Type = %q, want FHIR JSON", ct)
			}
		})
	}
}

// TestForwardedContentTypeCanonical checks that the upstream receives the
// request media type the gateway validated, not the partner's spelling.
// Go's mime package reads an RFC 2231 charset* parameter over a plain
// charset, and a server that does not implement RFC 2231 reads the plain
// one, so the two would decode the same bytes in different charsets.
func TestForwardedContentTypeCanonical(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	header := http.Header{
		"Content-Type":  {"application/fhir+json; charset=iso-8859-1; charset*=utf-8''utf-8"},
		"Authorization": {"Bearer " + h.accessToken()},
	}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}

	h.upstream.mu.Lock()
	got := h.upstream.last
	h.upstream.mu.Unlock()
	if ct := got.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/fhir+json; charset=utf-8" {
		t.Errorf("upstream Content-Type = %q, want [application/fhir+json; charset=utf-8]", ct)
	}
	if accept := got.Header.Values("Accept"); len(accept) != 1 || accept[0] != "application/fhir+json" {
		t.Errorf("upstream Accept = %q, want [application/fhir+json]", accept)
	}
}

// TestResponseContentTypeCanonical checks that the partner receives the
// response media type the gateway validated, and that a response labelled
// with another FHIR version is withheld.
func TestResponseContentTypeCanonical(t *testing.T) {
	tests := []struct {
		name, label string
		status      int
		want        string
	}{
		{"charset star", "application/fhir+json; charset=utf-16; charset*=utf-8''utf-8", 200, "application/fhir+json; charset=utf-8"},
		{"plain json", "application/json", 200, "application/json; charset=utf-8"},
		{"fhir 3", "application/fhir+json; fhirVersion=3.0", 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstreamURL, _ := bundleUpstream(t, tt.label)
			h := newHarness(t, harnessOptions{upstreamURL: upstreamURL})
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if e := h.entries(resp); len(e) == 0 || e[len(e)-1].Rule != "upstream.media-type" {
					t.Errorf("entries = %+v, want an upstream.media-type refusal last", e)
				}
				return
			}
			if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != tt.want {
				t.Errorf("Content-Type = %q, want [%s]", ct, tt.want)
			}
		})
	}
}

// TestOutboundFormatRefused checks that the engine cannot request XML from
// a partner either. The outbound pipeline runs no policy engine, so the
// gateway checks _format there itself.
func TestOutboundFormatRefused(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "capabilities")

	tests := []struct {
		name, path, accept, rule string
	}{
		{"format", "/metadata?_format=xml", "", "policy.format"},
		{"accept", "/metadata", "application/fhir+xml", "request.accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOutboundRejected(t, h, ehr, engine, base+tt.path, tt.accept, tt.rule)
		})
	}
}

// checkOutboundRejected sends the engine's GET of url, with an Accept
// header unless accept is empty, and checks for a 406 not-supported
// OperationOutcome, one outbound refusal with rule and no call to the
// partner.
func checkOutboundRejected(t *testing.T, h *harness, ehr *fakeEHR, engine *http.Client, url, accept, rule string) {
	t.Helper()
	before := ehr.calls.Load()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := engine.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("status = %d, want 406: %s", resp.StatusCode, body)
	}
	if got := outcomeCode(t, body); got != "not-supported" {
		t.Errorf("OperationOutcome code = %q, want not-supported", got)
	}
	if n := ehr.calls.Load() - before; n != 0 {
		t.Errorf("the partner received %d calls, want 0", n)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != rule || e[0].Direction != "outbound" {
		t.Errorf("entries = %+v, want one outbound %s refusal", e, rule)
	}
}

// TestNotModifiedReleased checks that a 304 response to a conditional read
// reaches the partner as 304 with its ETag, rather than being withheld as
// a redirect, and that a 304 to an unconditional request still is.
func TestNotModifiedReleased(t *testing.T) {
	const etag = `W/"7"`
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		// This upstream returns 304 to any read, conditional or not, so
		// that the gateway's own check is what the second case tests.
		w.WriteHeader(http.StatusNotModified)
	}))
	t.Cleanup(upstream.Close)
	h := newHarness(t, harnessOptions{upstreamURL: upstream.URL + "/fhir-engine"})

	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"If-None-Match", http.Header{"If-None-Match": {etag}}, http.StatusNotModified},
		{"If-Modified-Since", http.Header{"If-Modified-Since": {"Sat, 05 Dec 2026 10:00:00 GMT"}}, http.StatusNotModified},
		{"unconditional", http.Header{}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.header.Set("Authorization", "Bearer "+h.accessToken())
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", tt.header, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == http.StatusNotModified {
				if got := resp.Header.Get("ETag"); got != etag {
					t.Errorf("ETag = %q, want %q", got, etag)
				}
				if len(body) != 0 {
					t.Errorf("304 carries a body: %s", body)
				}
			}
		})
	}
}
