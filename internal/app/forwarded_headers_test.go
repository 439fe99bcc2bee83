package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// The exchange record does not contain the conditional and Accept-Language
// headers, so a sender that could put free text there would carry data
// past the record. Each case below is a value outside the strict grammar
// the gateway forwards. secret is a part of the value that the refusal
// must not repeat, or "" where the value is too short to search for.
var malformedForwardedHeaders = []struct {
	name, header string
	values       []string
	secret       string
}{
	{"If-Match strong tag", "If-Match", []string{`"c2VjcmV0"`}, "c2VjcmV0"},
	{"If-Match star", "If-Match", []string{"*"}, ""},
	{"If-Match bad version id", "If-Match", []string{`W/"c2Vj cmV0"`}, "c2Vj cmV0"},
	{"If-Match two tags", "If-Match", []string{`W/"1",W/"c2VjcmV0"`}, "c2VjcmV0"},
	{"If-None-Match long version id", "If-None-Match", []string{`W/"` + strings.Repeat("c2VjcmV0", 9) + `"`}, strings.Repeat("c2VjcmV0", 9)},
	{"If-None-Match parameter", "If-None-Match", []string{`W/"1";c2VjcmV0`}, "c2VjcmV0"},
	{"If-None-Match empty element", "If-None-Match", []string{`W/"1",,W/"c2VjcmV0"`}, "c2VjcmV0"},
	{"If-Modified-Since free text", "If-Modified-Since", []string{"c2VjcmV0"}, "c2VjcmV0"},
	{"If-Modified-Since twice", "If-Modified-Since", []string{"Sat, 05 Dec 2026 10:00:00 GMT", "Sun, 06 Dec 2026 10:00:00 GMT"}, "Sun, 06 Dec"},
	{"Accept-Language private use", "Accept-Language", []string{"en-US-x-c2VjcmV0"}, "c2VjcmV0"},
	{"Accept-Language variant", "Accept-Language", []string{"de-CH-c2VjcmV0"}, "c2VjcmV0"},
	{"Accept-Language bad q", "Accept-Language", []string{"en;q=c2VjcmV0"}, "c2VjcmV0"},
	{"Accept-Language too long", "Accept-Language", []string{strings.Repeat("en-US, ", 18) + "zz"}, "en-US, en-US"},
}

// validForwardedHeaders are values in the strict grammar, with the
// canonical form the target must receive in place of the sender's bytes.
var validForwardedHeaders = []struct {
	name, header string
	values       []string
	want         string
}{
	{"If-Match spaces", "If-Match", []string{` W/"a-1.b" `}, `W/"a-1.b"`},
	{"If-None-Match star", "If-None-Match", []string{"*"}, "*"},
	{"If-Modified-Since RFC 850", "If-Modified-Since", []string{"Saturday, 05-Dec-26 10:00:00 GMT"}, "Sat, 05 Dec 2026 10:00:00 GMT"},
	{"If-Modified-Since asctime", "If-Modified-Since", []string{"Sat Dec  5 10:00:00 2026"}, "Sat, 05 Dec 2026 10:00:00 GMT"},
	{"Accept-Language", "Accept-Language", []string{"EN-us;Q=0.800,de-latn-ch;q=1 , es-419;q=0, en-US"}, "en-US;q=0.8, de-Latn-CH, es-419;q=0"},
}

func TestInboundMalformedForwardedHeaderRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auth := "Bearer " + h.accessToken()
	for _, tc := range malformedForwardedHeaders {
		t.Run(tc.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {auth}, tc.header: tc.values}, nil)
			body := readBody(t, resp)

			checkHeaderRefusal(t, resp, body, tc.header, tc.secret)
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 {
				t.Fatalf("recorded %d entries, want 1: %+v", len(entries), entries)
			}
			if entries[0].Phase != record.PhaseRefusal {
				t.Errorf("recorded phase = %q, want %s", entries[0].Phase, record.PhaseRefusal)
			}
			if entries[0].Rule != "request.header-invalid" {
				t.Errorf("recorded rule = %q, want request.header-invalid", entries[0].Rule)
			}
		})
	}
}

func TestInboundForwardedHeaderReencoded(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auth := "Bearer " + h.accessToken()
	for _, tc := range validForwardedHeaders {
		t.Run(tc.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {auth}, tc.header: tc.values}, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if n := h.upstream.count.Load() - before; n != 1 {
				t.Fatalf("upstream received %d requests, want 1", n)
			}
			h.upstream.mu.Lock()
			got := h.upstream.last.Header.Values(tc.header)
			h.upstream.mu.Unlock()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("upstream %s = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestOutboundMalformedForwardedHeaderRejected(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "capabilities")
	for _, tc := range malformedForwardedHeaders {
		t.Run(tc.name, func(t *testing.T) {
			before := ehr.calls.Load()
			resp, body := sendOutbound(t, engine, http.MethodGet, base+"/metadata", http.Header{tc.header: tc.values}, "")

			requireOutboundRefusal(t, h, ehr, before, resp, body, outboundRefusal{http.StatusBadRequest, "invalid", "request.header-invalid"})
			checkHeaderNotRepeated(t, body, tc.header, tc.secret)
		})
	}
}

func TestOutboundForwardedHeaderReencoded(t *testing.T) {
	_, ehr, engine, base := startOutbound(t, nil, "capabilities")
	for _, tc := range validForwardedHeaders {
		t.Run(tc.name, func(t *testing.T) {
			before := ehr.calls.Load()
			resp, body := sendOutbound(t, engine, http.MethodGet, base+"/metadata", http.Header{tc.header: tc.values}, "")
			if n := ehr.calls.Load() - before; n != 1 {
				t.Fatalf("the partner received %d requests, want 1 (status %d: %s)", n, resp.StatusCode, body)
			}
			r := ehr.last.Load()
			if got := r.Header.Values(tc.header); len(got) != 1 || got[0] != tc.want {
				t.Errorf("the partner received %s %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

// checkHeaderRefusal checks a 400 OperationOutcome that names the header
// and does not repeat the secret part of its value.
func checkHeaderRefusal(t *testing.T, resp *http.Response, body []byte, header, secret string) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400; body %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "invalid" {
		t.Errorf("OperationOutcome code = %q, want invalid", code)
	}
	checkHeaderNotRepeated(t, body, header, secret)
}

// checkHeaderNotRepeated checks that the OperationOutcome body names the
// header and does not repeat the secret part of its value.
func checkHeaderNotRepeated(t *testing.T, body []byte, header, secret string) {
	t.Helper()
	if !strings.Contains(string(body), header) {
		t.Errorf("OperationOutcome does not name %s: %s", header, body)
	}
	if secret != "" && strings.Contains(string(body), secret) {
		t.Errorf("OperationOutcome repeats the header value %q: %s", secret, body)
	}
}

// The upstream runs If-None-Exist as a search, so it must receive the
// criteria the policy checked, re-encoded, and not the partner's bytes:
// here a leading "?" that an upstream could read as part of the first
// parameter's name.
func TestInboundIfNoneExistReencoded(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Roles["clinical"] = "write"
		p.Scopes = append(p.Scopes, "system/Observation.cruds")
		p.Interactions = append(p.Interactions, "Observation.create")
	}})
	client := h.partnerClient(app.DevScopes + " system/Observation.cruds")
	tok, err := client.Token(context.Background())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	header := http.Header{
		"Authorization": {"Bearer " + tok.AccessToken},
		"Content-Type":  {"application/fhir+json"},
		"If-None-Exist": {"?identifier=urn:example:obs|42"},
	}
	body := `{"resourceType":"Observation","status":"final","code":{"text":"probe"}}`

	before := h.upstream.count.Load()
	resp := h.send(client.HTTPClient(), "POST", "/fhir/Observation", header, []byte(body))
	out := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, out)
	}
	if n := h.upstream.count.Load() - before; n != 1 {
		t.Fatalf("upstream received %d requests, want 1", n)
	}

	h.upstream.mu.Lock()
	got := h.upstream.last.Header.Values("If-None-Exist")
	h.upstream.mu.Unlock()
	if len(got) != 1 || got[0] != "identifier=urn:example:obs|42" {
		t.Errorf("upstream If-None-Exist = %q, want the criteria without the leading \"?\"", got)
	}
}

// The record does not contain the response headers either, so the target
// could send data past it in ETag, Last-Modified, Content-Language or
// Location. The sender of the request receives only their canonical
// encodings, and none of a header outside its grammar. The outbound path
// releases headers through the same code.
func TestResponseHeadersReencoded(t *testing.T) {
	var upstreamBase string
	tests := []struct {
		name, header, value, want string
	}{
		{"ETag weak", "ETag", `W/"7"`, `W/"7"`},
		{"ETag strong", "ETag", `"c2VjcmV0"`, ""},
		{"ETag list", "ETag", `W/"1", W/"c2VjcmV0"`, ""},
		{"ETag bad id", "ETag", `W/"c2Vj cmV0"`, ""},
		{"Last-Modified asctime", "Last-Modified", "Sat Dec  5 10:00:00 2026", "Sat, 05 Dec 2026 10:00:00 GMT"},
		{"Last-Modified free text", "Last-Modified", "c2VjcmV0", ""},
		{"Content-Language", "Content-Language", "EN-us, es-419", "en-US, es-419"},
		{"Content-Language private use", "Content-Language", "en-x-c2VjcmV0", ""},
		{"Location version", "Location", "/fhir-engine/Claim/1/_history/2", "/fhir/Claim/1/_history/2"},
		{"Location query", "Location", "/fhir-engine/Claim/1?c2VjcmV0", ""},
		{"Location other path", "Location", "/fhir-engine/Claim/1/c2VjcmV0", ""},
		{"Location unknown type", "Location", "/fhir-engine/C2VjcmV0/1", ""},
	}
	var (
		mu            sync.Mutex
		header, value string
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		name, v := header, value
		mu.Unlock()
		if name == "Location" {
			v = upstreamBase + v
		}
		w.Header().Set(name, v)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"CapabilityStatement","status":"active","date":"2026-12-01","kind":"instance",` +
			`"fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server"}]}`))
	}))
	t.Cleanup(upstream.Close)
	upstreamBase = upstream.URL
	h := newHarness(t, harnessOptions{upstreamURL: upstream.URL + "/fhir-engine"})
	auth := "Bearer " + h.accessToken()

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			header, value = tc.header, tc.value
			mu.Unlock()
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {auth}}, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if got := resp.Header.Values(tc.header); tc.want == "" && len(got) != 0 {
				t.Errorf("%s = %q, want none", tc.header, got)
			}
			if got := resp.Header.Values(tc.header); tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("%s = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}
