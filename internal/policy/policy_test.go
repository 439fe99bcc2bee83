package policy

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

func TestNewPartnerRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  PartnerConfig
		key  string
	}{
		{"no id", PartnerConfig{}, "id:"},
		{"unknown class", PartnerConfig{ID: "p", Roles: map[string]string{"billing": "read"}}, "roles.billing"},
		{"unknown role", PartnerConfig{ID: "p", Roles: map[string]string{"claims": "admin"}}, "roles.claims"},
		{"write on claims", PartnerConfig{ID: "p", Roles: map[string]string{"claims": "write"}}, "roles.claims"},
		{"write on coverage", PartnerConfig{ID: "p", Roles: map[string]string{"coverage": "write"}}, "roles.coverage"},
		{"unknown feature", PartnerConfig{ID: "p", Grants: []GrantConfig{{Feature: "bulk", Reason: "x"}}}, "grants[0].feature"},
		{"grant without reason", PartnerConfig{ID: "p", Grants: []GrantConfig{{Feature: "history"}}}, "grants[0].reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPartner(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("err = %v, want it to name %s", err, tt.key)
			}
		})
	}
}

func TestClassesCoverDistinctTypes(t *testing.T) {
	seen := map[string]Class{}
	for _, c := range Classes() {
		for _, typ := range TypesOf(c) {
			if !fhirreq.IsResourceType(typ) {
				t.Errorf("class %s lists unknown type %s", c, typ)
			}
			if prev, dup := seen[typ]; dup {
				t.Errorf("%s is in both %s and %s", typ, prev, c)
			}
			seen[typ] = c
		}
	}
	for typ := range pasEntryTypes {
		if _, ok := ClassOf(typ); !ok {
			t.Errorf("PAS entry type %s has no class", typ)
		}
	}
}

func TestNewOptions(t *testing.T) {
	payer := []congruence.Identifier{{System: congruence.NPISystem, Value: "1234567893"}}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted no payer id")
	}
	if _, err := New(Options{PayerIDs: payer, MaxCount: -1}); err == nil {
		t.Error("New accepted a negative max_count")
	}
	e, err := New(Options{PayerIDs: payer})
	if err != nil || e.maxCount != DefaultMaxCount || e.maxEntries != DefaultMaxBundleEntries {
		t.Errorf("defaults: %+v, %v", e, err)
	}
}

func TestDecideWithoutRegistration(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	req, _ := fhirreq.Parse(httptest.NewRequest("GET", "https://gw/fhir/metadata", nil), "/fhir")
	if d := e.Decide(Input{Request: req}); d.Allow || d.Status != 403 {
		t.Errorf("no partner: %+v", d)
	}
	if d := e.Decide(Input{Partner: f.partner(t, "demo")}); d.Allow || d.Status != 403 {
		t.Errorf("no request: %+v", d)
	}
}

func TestShadowReportsDisagreement(t *testing.T) {
	f := loadAttacks(t)
	enforced := f.engine(t)
	candidate, err := New(Options{MaxCount: 20, PayerIDs: f.PayerIDs})
	if err != nil {
		t.Fatal(err)
	}
	s := Shadow{Enforced: enforced, Candidate: candidate}

	in, _ := f.input(t, &attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/Claim?_count=50"})
	res := s.Decide(in)
	if !res.Decision.Allow || res.Candidate.Allow || !res.Disagree {
		t.Errorf("_count=50 under caps 100 and 20: %+v", res)
	}

	in, _ = f.input(t, &attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/Claim?_count=10"})
	if res := s.Decide(in); !res.Decision.Allow || res.Disagree {
		t.Errorf("_count=10: %+v", res)
	}
}

func TestShadowWithCandidatePartners(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	stricter, err := NewPartner(PartnerConfig{ID: "demo", Roles: map[string]string{"coverage": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	s := Shadow{Enforced: e, Candidate: WithPartners(e, map[string]*Partner{"demo": stricter})}
	in, _ := f.input(t, &attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/Claim/abc"})
	res := s.Decide(in)
	if !res.Decision.Allow || res.Candidate.Allow || res.Candidate.Rule != "policy.role" || !res.Disagree {
		t.Errorf("candidate without claims role: %+v", res)
	}
	if in.Partner.Role(Claims) != Read {
		t.Error("the candidate changed the enforced input")
	}
	if res := (Shadow{Enforced: e}).Decide(in); res.Disagree || res.Candidate != res.Decision {
		t.Errorf("no candidate: %+v", res)
	}
}

func benchInput(b *testing.B, method, target string, body []byte) (*Engine, Input) {
	f := loadAttacks(b)
	e := f.engine(b)
	in, parsed := f.input(b, &attackCase{Partner: "writer", Scopes: strings.Join(f.Partners["writer"].Scopes, " "), Method: method, Target: target, Body: body})
	if parsed != nil {
		b.Fatalf("parse: %+v", parsed)
	}
	return e, in
}

func BenchmarkDecideRead(b *testing.B) {
	e, in := benchInput(b, "GET", "/fhir/Claim/abc", nil)
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(in); !d.Allow {
			b.Fatal(d)
		}
	}
}

// transaction50 is a transaction of 50 entries: reads, searches and
// Observation creates.
func transaction50() []byte {
	var entries []string
	for i := range 50 {
		switch i % 3 {
		case 0:
			entries = append(entries, fmt.Sprintf(`{"request":{"method":"GET","url":"Claim/c%d"}}`, i))
		case 1:
			entries = append(entries, fmt.Sprintf(`{"request":{"method":"GET","url":"Claim?patient=Patient/p%d&_count=10"}}`, i))
		default:
			entries = append(entries, fmt.Sprintf(`{"fullUrl":"urn:uuid:%d","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},"subject":{"reference":"Patient/p%d"},"valueQuantity":{"value":%d,"unit":"mg"}},"request":{"method":"POST","url":"Observation"}}`, i, i, i))
		}
	}
	return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
}

func BenchmarkDecideTransaction50(b *testing.B) {
	e, in := benchInput(b, "POST", "/fhir", transaction50())
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(in); !d.Allow {
			b.Fatal(d)
		}
	}
}

func BenchmarkDecideSubmit(b *testing.B) {
	f := loadAttacks(b)
	e := f.engine(b)
	in, _ := f.input(b, &attackCase{Partner: "demo", Scopes: "system/Claim.$submit", Method: "POST", Target: "/fhir/Claim/$submit",
		BodyFile: "../../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json"})
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(in); !d.Allow {
			b.Fatal(d)
		}
	}
}

func TestTransaction50Allowed(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	in, _ := f.input(t, &attackCase{Partner: "writer", Scopes: strings.Join(f.Partners["writer"].Scopes, " "), Method: "POST", Target: "/fhir", Body: transaction50()})
	in.Allowlist = fhirreq.Allowlist{{Kind: fhirreq.BatchTransaction}, {Kind: fhirreq.Read, Type: "Claim"},
		{Kind: fhirreq.SearchType, Type: "Claim"}, {Kind: fhirreq.Create, Type: "Observation"}}
	if d := e.Decide(in); !d.Allow || d.Rule != "allow.batch" {
		t.Errorf("decision = %+v", d)
	}
	if in.Scopes.Len() == 0 || !in.Scopes.Permits(scope.Create, "Observation", nil) {
		t.Error("writer scopes not granted")
	}
}

// A search inside a batch gets no default _count from the gateway, so the
// cap on a _count the entry names is what bounds its page.
func TestBatchSearchCountCapped(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	tests := []struct {
		name, url, wantRule string
		wantAllow           bool
	}{
		{"count within cap", "Claim?status=active&_count=10", "allow.batch", true},
		{"count above cap", "Claim?status=active&_count=" + strconv.Itoa(DefaultMaxCount+1), "policy.search.count", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"` + tt.url + `"}}]}`
			in, _ := f.input(t, &attackCase{Partner: "writer", Scopes: strings.Join(f.Partners["writer"].Scopes, " "),
				Method: "POST", Target: "/fhir", Body: []byte(body)})
			in.Allowlist = fhirreq.Allowlist{{Kind: fhirreq.BatchTransaction}, {Kind: fhirreq.SearchType, Type: "Claim"}}
			d := e.Decide(in)
			if d.Allow != tt.wantAllow {
				t.Errorf("allow = %v, want %v: %+v", d.Allow, tt.wantAllow, d)
			}
			if d.Rule != tt.wantRule {
				t.Errorf("rule = %q, want %q", d.Rule, tt.wantRule)
			}
		})
	}
}

// An allowed PAS submission hands on the Bundle the engine parsed, so that
// the gateway's later stages need not decode the body again.
func TestSubmitDecisionCarriesParsedBundle(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	in, _ := f.input(t, &attackCase{Partner: "demo", Scopes: "system/Claim.$submit", Method: "POST", Target: "/fhir/Claim/$submit",
		BodyFile: "../../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json"})
	d := e.Decide(in)
	if !d.Allow {
		t.Fatalf("decision = %+v", d)
	}
	if d.Bundle == nil || len(d.Bundle.Entries) == 0 || d.Bundle.Entries[0].ResourceType != "Claim" {
		t.Fatalf("the decision carries no parsed request Bundle: %+v", d.Bundle)
	}
}
