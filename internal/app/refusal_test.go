package app_test

import (
	"bytes"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

func shippedBundle(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRefusals sends requests that must be refused, and checks for each the
// status, the OperationOutcome, the exchange record, and that the upstream
// received nothing.
func TestRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	bundle := shippedBundle(t)
	fhirJSON := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}
	withAuth := func(extra http.Header) http.Header {
		out := http.Header{"Authorization": {"Bearer " + tok}}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}

	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   []byte
		status int
		code   string
		rule   string
	}{
		{"missing token", "POST", "/fhir/Claim/$submit", http.Header{"Content-Type": {"application/fhir+json"}}, bundle,
			401, "login", "token.missing"},
		{"garbage token", "POST", "/fhir/Claim/$submit", http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer abc.def.ghi"}}, bundle,
			401, "login", "token.invalid"},
		{"basic auth instead of bearer", "POST", "/fhir/Claim/$submit", http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Basic ZGVtbzpkZW1v"}}, bundle,
			400, "login", "token.malformed"},
		{"token in the query", "GET", "/fhir/metadata?access_token=" + tok, nil, nil,
			400, "login", "token.malformed"},
		{"interaction not allowed", "GET", "/fhir/Patient/123", withAuth(nil), nil,
			403, "forbidden", "policy.not-allowed"},
		{"everything not allowed", "GET", "/fhir/Patient/123/$everything", withAuth(nil), nil,
			403, "forbidden", "policy.not-allowed"},
		{"bulk export not allowed", "GET", "/fhir/$export", withAuth(nil), nil,
			403, "forbidden", "policy.not-allowed"},
		{"unknown resource type", "GET", "/fhir/Foo/1", withAuth(nil), nil,
			404, "not-found", "request.noncanonical"},
		{"type case variant", "POST", "/fhir/claim/$submit", fhirJSON, bundle,
			400, "invalid", "request.noncanonical"},
		{"method not allowed", "PUT", "/fhir/Claim/$submit", fhirJSON, bundle,
			405, "not-supported", "request.noncanonical"},
		{"method override header", "POST", "/fhir/Claim/$submit", withAuth(http.Header{"Content-Type": {"application/fhir+json"}, "X-HTTP-Method-Override": {"DELETE"}}), bundle,
			400, "invalid", "request.noncanonical"},
		{"dot segments", "GET", "/fhir/Claim/%2e%2e/Patient", withAuth(nil), nil,
			400, "invalid", "request.noncanonical"},
		{"wrong media type", "POST", "/fhir/Claim/$submit", withAuth(http.Header{"Content-Type": {"application/xml"}}), bundle,
			415, "not-supported", "payload.media-type"},
		{"invalid JSON", "POST", "/fhir/Claim/$submit", fhirJSON, []byte(`{"resourceType":"Bundle",`),
			400, "structure", "payload.json"},
		{"duplicate member", "POST", "/fhir/Claim/$submit", fhirJSON, []byte(`{"resourceType":"Bundle","type":"collection","type":"batch"}`),
			400, "structure", "payload.json"},
		{"invalid UTF-8", "POST", "/fhir/Claim/$submit", fhirJSON, []byte("{\"resourceType\":\"Bundle\",\"id\":\"\xff\"}"),
			400, "structure", "payload.json"},
		{"trailing data", "POST", "/fhir/Claim/$submit", fhirJSON, append(append([]byte{}, bundle...), []byte(`{}`)...),
			400, "structure", "payload.json"},
		{"not a Bundle", "POST", "/fhir/Claim/$submit", fhirJSON, []byte(`{"resourceType":"Patient","id":"x"}`),
			422, "processing", "payload.wrong-type"},
		{"unknown resourceType", "POST", "/fhir/Claim/$submit", fhirJSON, []byte(`{"resourceType":"Bundel"}`),
			400, "structure", "payload.resource-type"},
		{"missing body", "POST", "/fhir/Claim/$submit", fhirJSON, nil,
			400, "required", "payload.missing"},
		{"body too large", "POST", "/fhir/Claim/$submit", fhirJSON, bytes.Repeat([]byte(" "), 10<<20+1),
			413, "too-long", "payload.too-large"},
		{"path outside the FHIR base", "GET", "/admin", withAuth(nil), nil,
			404, "not-found", "route.unknown"},
		{"dot-dot segment", "GET", "/fhir/../fhir/metadata", withAuth(nil), nil,
			400, "invalid", "request.noncanonical"},
		{"double slash", "POST", "/fhir//Claim/$submit", fhirJSON, bundle,
			400, "invalid", "request.noncanonical"},
		{"dot segment into the token endpoint", "GET", "/oauth/token/../../fhir/metadata", withAuth(nil), nil,
			400, "invalid", "request.noncanonical"},
		{"duplicate content type", "POST", "/fhir/Claim/$submit", withAuth(http.Header{"Content-Type": {"application/fhir+json", "application/xml"}}), bundle,
			415, "not-supported", "payload.media-type"},
		{"case-variant resourceType", "POST", "/fhir/Claim/$submit", fhirJSON, []byte(`{"resourceType":"Parameters","resourcetype":"Bundle"}`),
			400, "structure", "payload.case-variant"},
		{"token hidden in an unparsable query pair", "GET", "/fhir/metadata?access_token=" + tok + ";x=1", withAuth(nil), nil,
			400, "login", "token.malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := h.send(h.ehr.HTTPClient(), tt.method, tt.path, tt.header, tt.body)
			body := readBody(t, resp)

			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := outcomeCode(t, body); got != tt.code {
				t.Errorf("OperationOutcome code = %q, want %q", got, tt.code)
			}
			if strings.HasPrefix(tt.rule, "token.") && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer WWW-Authenticate header: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("recorded %d entries, want 1 refusal", len(entries))
			}
			e := entries[0]
			if e.Phase != record.PhaseRefusal || e.Decision != record.Deny || e.Status != tt.status || e.Rule != tt.rule {
				t.Errorf("record = phase %s decision %s status %d rule %q; want refusal deny %d %q",
					e.Phase, e.Decision, e.Status, e.Rule, tt.status, tt.rule)
			}
			if strings.Contains(e.Target, tok) {
				t.Error("the record's request-target holds the access token")
			}
			recReq, recResp := h.bodies(e)
			if !bytes.Equal(recResp, body) {
				t.Error("recorded response body differs from the one sent")
			}
			if tt.status != 413 && !bytes.Equal(recReq, tt.body) {
				t.Error("recorded request body differs from the one received")
			}
		})
	}
}

// TestForwardStripsClientHeaders checks that the upstream receives neither the
// partner's token nor any forwarding or identity header the client set, and
// that the gateway's own identity headers come from verified state.
func TestForwardStripsClientHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	header := http.Header{
		"Content-Type":            {"application/fhir+json"},
		"Authorization":           {"Bearer " + tok},
		"X-Forwarded-For":         {"10.9.9.9"},
		"Forwarded":               {"for=10.9.9.9"},
		"X-Forwarded-Client-Cert": {"Hash=forged"},
		"X-Gatehouse-Partner":     {"other-ehr"},
		"Cookie":                  {"session=1"},
		"Connection":              {"X-Custom-Hop"},
		"X-Custom-Hop":            {"1"},
	}
	// HTTP/1.1, because HTTP/2 has no hop-by-hop headers to test.
	resp := h.send(h.http1Client(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	h.upstream.mu.Lock()
	got := h.upstream.last
	h.upstream.mu.Unlock()
	for _, k := range []string{"Authorization", "X-Forwarded-For", "Forwarded", "X-Forwarded-Client-Cert", "Cookie", "X-Custom-Hop"} {
		if v := got.Header.Get(k); v != "" {
			t.Errorf("upstream received %s: %q", k, v)
		}
	}
	if v := got.Header.Get("X-Gatehouse-Partner"); v != "demo-ehr" {
		t.Errorf("X-Gatehouse-Partner = %q, want demo-ehr from the verified certificate", v)
	}
	if got.URL.Path != "/fhir-engine/Claim/$submit" {
		t.Errorf("upstream path = %q", got.URL.Path)
	}
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Engine-Internal") != "" {
		t.Error("upstream-internal response headers were released to the partner")
	}
}

// TestUpstreamDown checks that an unreachable upstream yields 502 with an
// OperationOutcome, and that both the request and the failure are recorded.
func TestUpstreamDown(t *testing.T) {
	h := newHarness(t, harnessOptions{upstreamURL: "http://127.0.0.1:1/fhir"})
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "transient" {
		t.Errorf("code = %q, want transient", code)
	}
	entries := h.entries(resp)
	if len(entries) != 2 || entries[0].Phase != record.PhaseRequest || entries[1].Phase != record.PhaseRefusal {
		t.Fatalf("entries = %+v, want request then refusal", entries)
	}
	if entries[1].Status != 502 || entries[1].Rule != "upstream.unavailable" {
		t.Errorf("refusal entry status %d rule %q", entries[1].Status, entries[1].Rule)
	}
}

// submitExpectingUnrecorded submits the shipped PAS Bundle with tok and
// checks that the gateway returns 503 with a transient OperationOutcome.
func submitExpectingUnrecorded(t *testing.T, h *harness, tok string) (*http.Response, []byte) {
	t.Helper()
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "transient" {
		t.Errorf("code = %q, want transient", code)
	}
	return resp, body
}

// TestRecordStoreFailing checks fail-closed recording: when the store cannot
// commit, the partner gets 503 and nothing is forwarded.
func TestRecordStoreFailing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	h.store.failing.Store(true)
	resp, _ := submitExpectingUnrecorded(t, h, tok)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if n := h.upstream.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	h.store.failing.Store(false)
	if got := h.entries(resp); len(got) != 0 {
		t.Errorf("found %d entries for an exchange whose record failed", len(got))
	}
}

// TestResponseUnrecordedAfterForwarding checks the 503 of an exchange whose
// request was forwarded and whose response could not be recorded: the
// response is withheld, and the message states that the upstream may have acted.
func TestResponseUnrecordedAfterForwarding(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.accessToken()
	h.store.failAfterRequest.Store(true)
	resp, body := submitExpectingUnrecorded(t, h, tok)
	if !strings.Contains(string(body), "may have processed it") || strings.Contains(string(body), "not processed") {
		t.Errorf("body = %s, want a message that the upstream may have processed the request", body)
	}
	if strings.Contains(string(body), "ClaimResponse") {
		t.Errorf("body = %s, want the upstream's response withheld", body)
	}
	if n := h.upstream.count.Load(); n != 1 {
		t.Errorf("upstream received %d requests, want 1", n)
	}
	h.store.failAfterRequest.Store(false)
	got := h.entries(resp)
	if len(got) != 1 || got[0].Phase != record.PhaseRequest {
		t.Fatalf("entries = %+v, want the request entry alone", got)
	}
	// The request entry was synced before forwarding, so the 503 may name it.
	if rec := resp.Header.Get("X-Gatehouse-Record"); rec != strconv.FormatInt(got[0].Seq, 10) {
		t.Errorf("X-Gatehouse-Record = %q, want the request entry %d", rec, got[0].Seq)
	}
}
