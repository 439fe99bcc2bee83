package policy

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/policy/attackdata"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// attackFile is testdata/attacks.json: partner registrations and request
// cases with the decision each must get. The cases are plain HTTP requests
// plus the scopes the client requests at the token endpoint, so the same
// file can be replayed through the whole gateway.
type attackFile struct{ *attackdata.File }

type attackCase = attackdata.Case

func loadAttacks(t testing.TB) *attackFile {
	t.Helper()
	f, err := attackdata.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return &attackFile{f}
}

func (f *attackFile) engine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Options{MaxCount: f.MaxCount, PayerIDs: f.PayerIDs, SubscriptionTopics: f.SubscriptionTopics})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *attackFile) partner(t testing.TB, id string) *Partner {
	t.Helper()
	rec, ok := f.Partners[id]
	if !ok {
		t.Fatalf("unknown partner %q", id)
	}
	cfg := PartnerConfig{ID: id, Organization: rec.Organization, Roles: rec.Roles, OutboundFHIRBase: rec.OutboundFHIRBase}
	for _, g := range rec.Grants {
		cfg.Grants = append(cfg.Grants, GrantConfig{Feature: g.Feature, Reason: g.Reason})
	}
	p, err := NewPartner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// granted computes the token's scopes as the token service does.
func (f *attackFile) granted(c *attackCase) scope.Set {
	registered := scope.ParseGranted(f.Partners[c.Partner].Scopes)
	requested := scope.ParseRequested(strings.Fields(c.Scopes), scope.Options{AllowWildcard: registered.HasWildcard()})
	return scope.Intersect(requested, registered)
}

func caseBody(t testing.TB, c *attackCase) []byte {
	t.Helper()
	body, err := c.RequestBody("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// input builds the policy input the gateway would. A request that fhirreq
// rejects is returned as the decision the gateway responds with
// (rule request.noncanonical and the parser's status).
func (f *attackFile) input(t testing.TB, c *attackCase) (Input, *Decision) {
	t.Helper()
	body := caseBody(t, c)
	r := httptest.NewRequest(c.Method, "https://gw"+c.Target, bytes.NewReader(body))
	for k, v := range c.Headers {
		r.Header.Set(k, v)
	}
	req, err := fhirreq.ParseWithBody(r, "/fhir", body)
	if err != nil {
		var fe *fhirreq.Error
		if !errors.As(err, &fe) {
			t.Fatalf("Parse: %v", err)
		}
		return Input{}, &Decision{Rule: "request.noncanonical", Status: fe.Status, Reason: fe.Reason}
	}
	p := f.partner(t, c.Partner)
	id := congruence.Identity{
		PartnerID: p.ID, TokenClientID: p.ID, Organization: p.Organization,
		CertificateOrganizations: []congruence.Identifier{p.Organization},
	}
	if c.TokenClient != "" {
		id.TokenClientID = c.TokenClient
	}
	if c.CertOrganizations != nil {
		id.CertificateOrganizations = c.CertOrganizations
	}
	return Input{Partner: p, Scopes: f.granted(c), Request: req, Body: body, Identity: id, Allowlist: f.allowlist(t, c.Partner)}, nil
}

// allowlist returns the interactions the gateway level replay registers
// for partner: the whole request of each of its cases that parses.
func (f *attackFile) allowlist(t testing.TB, partner string) fhirreq.Allowlist {
	t.Helper()
	var out fhirreq.Allowlist
	for i := range f.Cases {
		c := &f.Cases[i]
		if c.Partner != partner {
			continue
		}
		body := caseBody(t, c)
		r := httptest.NewRequest(c.Method, "https://gw"+c.Target, bytes.NewReader(body))
		for k, v := range c.Headers {
			r.Header.Set(k, v)
		}
		if req, err := fhirreq.ParseWithBody(r, "/fhir", body); err == nil {
			out = append(out, interactionsOf(req)...)
		}
	}
	return out
}

func TestAttackSuite(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	classes := map[string]int{}
	for i := range f.Cases {
		c := &f.Cases[i]
		classes[c.Class]++
		t.Run(c.Class+"/"+c.Name, func(t *testing.T) {
			in, parsed := f.input(t, c)
			d := Decision{}
			if parsed != nil {
				d = *parsed
			} else {
				d = e.Decide(in)
			}
			if d.Allow != c.Allow {
				t.Errorf("Allow = %v, want %v (rule %s: %s)", d.Allow, c.Allow, d.Rule, d.Reason)
			}
			if d.Rule != c.Rule {
				t.Errorf("Rule = %q, want %q (%s)", d.Rule, c.Rule, d.Reason)
			}
			if d.Status != c.Status {
				t.Errorf("Status = %d, want %d", d.Status, c.Status)
			}
			if c.ReasonContains != "" && !strings.Contains(d.Reason, c.ReasonContains) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, c.ReasonContains)
			}
			if c.Code != "" && d.Code != c.Code {
				t.Errorf("Code = %q, want %q", d.Code, c.Code)
			}
			if !d.Allow && parsed == nil && (d.Code == "" || d.Reason == "") {
				t.Errorf("denial without code or reason: %+v", d)
			}
		})
	}
	for _, class := range []string{"include", "revinclude", "has", "chain", "everything", "history", "bundle",
		"type-mismatch", "conditional", "scope", "congruence", "count", "write"} {
		if classes[class] == 0 {
			t.Errorf("the suite has no case of class %s", class)
		}
	}
}

// TestDecisionsQuoteNoRequestContent checks that no denial reason repeats
// an id, parameter value or identifier from the request.
func TestDecisionsQuoteNoRequestContent(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	for i := range f.Cases {
		c := &f.Cases[i]
		in, parsed := f.input(t, c)
		if parsed != nil {
			continue
		}
		d := e.Decide(in)
		for _, secret := range []string{"abc", "Smith", "1234-5", "1003000126", "8189991234", "1970-01-01", "SubscriberExample"} {
			if strings.Contains(d.Reason, secret) {
				t.Errorf("%s: Reason %q quotes %q", c.Name, d.Reason, secret)
			}
		}
	}
}

// TestUniformAnswers checks that a forbidden read gets the same decision
// whatever the id, so that a caller learns nothing about existence.
func TestUniformAnswers(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	var first Decision
	for i, id := range []string{"exists", "does-not-exist", "1", "a.b"} {
		c := &attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "GET", Target: "/fhir/Patient/" + id}
		in, _ := f.input(t, c)
		d := e.Decide(in)
		if d.Allow {
			t.Fatal("read of Patient allowed")
		}
		if i == 0 {
			first = d
			continue
		}
		if d != first {
			t.Errorf("id %q: %+v, differs from %+v", id, d, first)
		}
	}
	if first.Status != http.StatusForbidden {
		t.Errorf("status = %d, want 403", first.Status)
	}
}

// interactionsOf returns the allowlist entries req needs: its own, and for
// a search at the base, each _type's search.
func interactionsOf(req *fhirreq.Request) fhirreq.Allowlist {
	out := fhirreq.Allowlist{{Kind: req.Kind, Type: req.Type, Operation: req.Operation}}
	if req.Kind == fhirreq.SearchSystem {
		for _, typ := range req.Query.Types {
			out = append(out, fhirreq.Pattern{Kind: fhirreq.SearchType, Type: typ})
		}
	}
	return out
}

// TestScopeReasonsNameNextStep checks that every policy.scope denial names
// the caller's next step: request a token with the missing scope, or
// narrow the request.
func TestScopeReasonsNameNextStep(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	seen := 0
	for i := range f.Cases {
		c := &f.Cases[i]
		in, parsed := f.input(t, c)
		if parsed != nil {
			continue
		}
		d := e.Decide(in)
		if d.Rule != "policy.scope" {
			continue
		}
		seen++
		if !strings.Contains(d.Reason, "request a token with") {
			t.Errorf("%s: Reason %q names no next step", c.Name, d.Reason)
		}
	}
	if seen == 0 {
		t.Fatal("the suite has no policy.scope denial")
	}

	// An untyped system search reports policy.search.untyped to the
	// caller, so its scope reason is checked at the step itself.
	c := &attackCase{Partner: "bulk", Scopes: "system/*.r", Method: "GET", Target: "/fhir?identifier=x"}
	in, parsed := f.input(t, c)
	if parsed != nil {
		t.Fatalf("parse: %+v", parsed)
	}
	d, ok := e.everyClassSearch(in)
	if ok {
		t.Fatal("everyClassSearch allowed a search without a wildcard scope")
	}
	if !strings.Contains(d.Reason, "list the types in _type") {
		t.Errorf("everyClassSearch Reason %q names no next step", d.Reason)
	}
}
