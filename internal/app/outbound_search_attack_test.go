package app_test

import (
	"net/http"
	"testing"
)

// The engine's searches at a partner follow the rules the policy engine
// applies to partners' searches inbound: Task.search in the outbound
// allowlist must not let the engine pull Patients with _revinclude=*,
// probe other types with chains or _has, or have the partner run such a
// search as the criteria of a conditional create.
func TestOutboundSearchFeaturesRejected(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Task.search", "Task.read", "Task.create", "batch-transaction")
	task := `{"resourceType":"Task","status":"requested","intent":"order"}`
	cases := []struct {
		name, method, path, ifNoneExist, contentType, body, rule string
	}{
		{"revinclude wildcard", "GET", "/Task?_revinclude=*", "", "", "", "policy.search.include-wildcard"},
		{"include wildcard", "GET", "/Task?_include=*", "", "", "", "policy.search.include-wildcard"},
		{"include iterate", "GET", "/Task?_include:iterate=Task:focus:Task", "", "", "", "policy.feature.include-iterate"},
		{"include untyped", "GET", "/Task?_include=Task:patient", "", "", "", "policy.search.include-target"},
		{"include type not allowed", "GET", "/Task?_include=Task:patient:Patient", "", "", "", "policy.not-allowed"},
		{"revinclude type not allowed", "GET", "/Task?_revinclude=Coverage:beneficiary", "", "", "", "policy.not-allowed"},
		{"has", "GET", "/Task?_has:Patient:link:name=Doe", "", "", "", "policy.feature.has"},
		{"chain", "GET", "/Task?patient.name=Doe", "", "", "", "policy.feature.chain"},
		{"typed chain", "GET", "/Task?patient:Patient.name=Doe", "", "", "", "policy.feature.chain"},
		{"chained sort", "GET", "/Task?_sort=patient:Patient.birthdate", "", "", "", "policy.feature.chain"},
		{"filter", "GET", "/Task?_filter=name%20eq%20Doe", "", "", "", "policy.search.param"},
		{"post search form", "POST", "/Task/_search", "", "application/x-www-form-urlencoded", "_revinclude=*", "policy.search.include-wildcard"},
		{"if-none-exist chain", "POST", "/Task", "patient.name=Doe", "application/fhir+json", task, "policy.feature.chain"},
		{"if-none-exist has", "POST", "/Task", "_has:Patient:link:name=Doe", "application/fhir+json", task, "policy.feature.has"},
		{"batch entry revinclude", "POST", "", "", "application/fhir+json",
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Task?_revinclude=*"}}]}`, "policy.search.include-wildcard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := ehr.calls.Load()
			header := http.Header{}
			if c.contentType != "" {
				header.Set("Content-Type", c.contentType)
			}
			if c.ifNoneExist != "" {
				header.Set("If-None-Exist", c.ifNoneExist)
			}
			resp, body := sendOutbound(t, engine, c.method, base+c.path, header, c.body)

			requireOutboundRefusal(t, h, ehr, calls, resp, body, outboundRefusal{http.StatusForbidden, "forbidden", c.rule})
		})
	}
}

// An _include whose target type the allowlist lets the engine read still
// reaches the partner, so the check above rejects features, not includes.
func TestOutboundSearchNamedIncludeForwarded(t *testing.T) {
	_, ehr, engine, base := startOutbound(t, nil, "Task.search", "Task.read")
	resp, err := engine.Get(base + "/Task?_include=Task:part-of:Task")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode == http.StatusForbidden {
		t.Fatalf("status = 403: %s", body)
	}
	if n := ehr.calls.Load(); n != 1 {
		t.Errorf("the partner received %d requests, want 1", n)
	}
	r := ehr.last.Load()
	if r == nil {
		t.Fatal("the partner received no request")
	}
	if got := r.URL.Query().Get("_include"); got != "Task:part-of:Task" {
		t.Errorf("the partner received _include %q, want Task:part-of:Task", got)
	}
}

// The partner runs If-None-Exist as a search, so it must receive the
// criteria the gateway checked, re-encoded, and not the engine's bytes:
// here a leading "?" that a partner could read as part of the first
// parameter's name.
func TestOutboundIfNoneExistReencoded(t *testing.T) {
	_, ehr, engine, base := startOutbound(t, nil, "Task.create")
	// The requester is the development payer, which outbound congruence
	// requires of a Task.
	task := `{"resourceType":"Task","status":"requested","intent":"order",` +
		`"requester":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`
	header := http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"?identifier=urn:example:task|42"}}
	sendOutbound(t, engine, http.MethodPost, base+"/Task", header, task)
	r := ehr.last.Load()
	if r == nil {
		t.Fatal("the partner received no request")
	}
	got := r.Header.Values("If-None-Exist")
	if len(got) != 1 || got[0] != "identifier=urn:example:task|42" {
		t.Errorf("the partner received If-None-Exist %q, want the criteria without the leading \"?\"", got)
	}
}

// A _count above policy.max_count would let one outbound search pull more
// of the partner's data than the inbound direction allows a partner to
// pull of the payer's. It is rejected as inbound, also inside a batch.
func TestOutboundSearchCountCapped(t *testing.T) {
	h, ehr, engine, base := startOutbound(t, nil, "Task.search", "batch-transaction")
	cases := []struct{ name, method, path, body string }{
		{"query", "GET", "/Task?_count=101", ""},
		{"batch entry", "POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Task?_count=5000"}}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := ehr.calls.Load()
			header := http.Header{}
			if c.body != "" {
				header.Set("Content-Type", "application/fhir+json")
			}
			resp, body := sendOutbound(t, engine, c.method, base+c.path, header, c.body)

			requireOutboundRefusal(t, h, ehr, calls, resp, body, outboundRefusal{http.StatusBadRequest, "too-costly", "policy.search.count"})
		})
	}

	resp, err := engine.Get(base + "/Task?_count=100")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode == http.StatusBadRequest {
		t.Fatalf("_count=100 got 400: %s", body)
	}
	if r := ehr.last.Load(); r == nil || r.URL.Query().Get("_count") != "100" {
		t.Error("the partner did not receive the search with _count=100")
	}
}
