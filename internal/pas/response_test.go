package pas

import (
	stdjson "encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

const (
	referral221 = "../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json"
	testID      = "0f8c9a52-1111-4222-8333-444455556666"
)

var testTime = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func approveAll(req *Request) []Decision {
	var ds []Decision
	for _, it := range req.Items {
		ds = append(ds, Decision{Sequence: it.Sequence, Action: CertifiedInTotal, Number: "PA-1-" + itoa(it.Sequence)})
	}
	return ds
}

func parseFile(t *testing.T, path string) *Request {
	t.Helper()
	req, err := ParseRequest(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// jsonPath walks a decoded JSON document: string steps are member names,
// int steps are array indexes.
func jsonPath(t *testing.T, v any, steps ...any) any {
	t.Helper()
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object", s)
			}
			v = m[s]
		case int:
			a, ok := v.([]any)
			if !ok || s >= len(a) {
				t.Fatalf("at [%d]: not an array that long", s)
			}
			v = a[s]
		}
	}
	return v
}

// join returns a new path of prefix followed by steps.
func join(prefix []any, steps ...any) []any { return append(slices.Clone(prefix), steps...) }

func TestBuildResponseShape(t *testing.T) {
	req := parseFile(t, referral221)
	out, err := BuildResponse(req, Adjudication{ID: testID, PreAuthRef: "PA-1", Created: testTime, Decisions: approveAll(req)})
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := stdjson.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}

	cr := []any{"entry", 0, "resource"}
	adj := join(cr, "item", 0, "adjudication", 0)
	review := join(adj, "extension", 0)
	cases := []struct {
		name string
		path []any
		want any
	}{
		{"Bundle type", []any{"type"}, "collection"},
		{"Bundle profile", []any{"meta", "profile", 0}, ProfileResponseBundle},
		{"Bundle identifier echoed", []any{"identifier", "value"}, "A12345"},
		{"Bundle timestamp", []any{"timestamp"}, "2026-03-01T09:30:00Z"},
		{"first entry fullUrl", []any{"entry", 0, "fullUrl"}, "http://example.org/fhir/ClaimResponse/" + testID},
		{"ClaimResponse type", join(cr, "resourceType"), "ClaimResponse"},
		{"ClaimResponse profile", join(cr, "meta", "profile", 0), ProfileClaimResponse},
		{"identifier from Claim", join(cr, "identifier", 0, "value"), "111099"},
		{"status", join(cr, "status"), "active"},
		{"use", join(cr, "use"), "preauthorization"},
		{"claim type copied", join(cr, "type", "coding", 0, "code"), "professional"},
		{"patient", join(cr, "patient", "reference"), "Patient/SubscriberExample"},
		{"insurer", join(cr, "insurer", "reference"), "Organization/InsurerExample"},
		{"requestor is Claim.provider", join(cr, "requestor", "reference"), "Organization/UMOExample"},
		{"request by identifier only", join(cr, "request", "reference"), nil},
		{"request identifier", join(cr, "request", "identifier", "system"), "urn:trnorg:9012345678"},
		{"created", join(cr, "created"), "2026-03-01T09:30:00Z"},
		{"outcome", join(cr, "outcome"), "complete"},
		{"preAuthRef", join(cr, "preAuthRef"), "PA-1"},
		{"itemSequence", join(cr, "item", 0, "itemSequence"), float64(1)},
		{"trace number extension", join(cr, "item", 0, "extension", 0, "url"), ExtItemTraceNumber},
		{"trace number echoed", join(cr, "item", 0, "extension", 0, "valueIdentifier", "value"), "1122334"},
		{"adjudication category", join(adj, "category", "coding", 0, "code"), "submitted"},
		{"reviewAction url", join(review, "url"), ExtReviewAction},
		{"review number", join(review, "extension", 0, "valueString"), "PA-1-1"},
		{"reviewActionCode url", join(review, "extension", 1, "url"), ExtReviewActionCode},
		{"reviewActionCode system", join(review, "extension", 1, "valueCodeableConcept", "coding", 0, "system"), SystemReviewAction},
		{"reviewActionCode code", join(review, "extension", 1, "valueCodeableConcept", "coding", 0, "code"), "A1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := jsonPath(t, doc, tc.path...); got != tc.want {
				t.Errorf("%v = %v, expected %v", tc.path, got, tc.want)
			}
		})
	}

	t.Run("copied entries", func(t *testing.T) {
		var urls []string
		for _, e := range jsonPath(t, doc, "entry").([]any)[1:] {
			urls = append(urls, e.(map[string]any)["fullUrl"].(string))
		}
		want := []string{
			"http://example.org/fhir/Patient/SubscriberExample",
			"http://example.org/fhir/Organization/InsurerExample",
			"http://example.org/fhir/Organization/UMOExample",
		}
		if !slices.Equal(urls, want) {
			t.Errorf("copied %v, expected %v", urls, want)
		}
	})
}

func TestOutcome(t *testing.T) {
	cases := []struct {
		name    string
		actions []ReviewAction
		want    string
	}{
		{"all certified", []ReviewAction{CertifiedInTotal, CertifiedInTotal}, "complete"},
		{"certified and denied", []ReviewAction{CertifiedInTotal, NotCertified}, "complete"},
		{"cancelled and certified", []ReviewAction{Cancelled, CertifiedInTotal}, "complete"},
		{"one pended", []ReviewAction{CertifiedInTotal, Pended}, "partial"},
		{"all pended", []ReviewAction{Pended}, "partial"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ds []Decision
			for i, a := range tc.actions {
				ds = append(ds, Decision{Sequence: i + 1, Action: a})
			}
			if got := Outcome(ds); got != tc.want {
				t.Errorf("Outcome = %q, expected %q", got, tc.want)
			}
		})
	}
}

func TestBuildResponseURNClaim(t *testing.T) {
	req, err := ParseRequest(readFile(t, corpustest.File(t, "inferno-fixtures/pas/conformant_pas_bundle_v110_uuid.json")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := BuildResponse(req, Adjudication{ID: testID, Created: testTime, Decisions: approveAll(req)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ParseResponse([]byte(out))
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if resp.ClaimResponse.FullURL != "urn:uuid:"+testID {
		t.Errorf("fullUrl %q, expected urn:uuid:%s", resp.ClaimResponse.FullURL, testID)
	}
	if strings.Contains(string(resp.ClaimResponse.Resource), `"request":{"reference"`) {
		t.Errorf("request reference written for a URN Claim that the response does not carry")
	}

	_, err = BuildResponse(req, Adjudication{ID: "not-a-uuid", Created: testTime, Decisions: approveAll(req)})
	if err == nil {
		t.Errorf("BuildResponse accepted a non-UUID id for a URN Claim")
	}
}

func TestBuildResponseChecksDecisions(t *testing.T) {
	req := parseFile(t, homecare221) // items 1 and 2
	cases := []struct {
		name string
		adj  Adjudication
	}{
		{"too few decisions", Adjudication{ID: testID, Decisions: []Decision{{Sequence: 1, Action: CertifiedInTotal}}}},
		{"wrong sequence", Adjudication{ID: testID, Decisions: []Decision{{Sequence: 1, Action: CertifiedInTotal}, {Sequence: 3, Action: CertifiedInTotal}}}},
		{"unknown action", Adjudication{ID: testID, Decisions: []Decision{{Sequence: 1, Action: "A9"}, {Sequence: 2, Action: CertifiedInTotal}}}},
		{"invalid id", Adjudication{ID: "bad id", Decisions: approveAll(req)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildResponse(req, tc.adj); err == nil {
				t.Errorf("BuildResponse accepted it")
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, f := range demoBundles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			req := parseFile(t, f)
			ds := approveAll(req)
			ds[len(ds)-1].Action = Pended
			out, err := BuildResponse(req, Adjudication{ID: testID, PreAuthRef: "PA-1", Created: testTime, Decisions: ds})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ParseResponse([]byte(out))
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if err := resp.CheckAgainst(req); err != nil {
				t.Errorf("CheckAgainst: %v", err)
			}
			if resp.Outcome != "partial" || resp.PreAuthRef != "PA-1" {
				t.Errorf("outcome %q preAuthRef %q, expected partial and PA-1", resp.Outcome, resp.PreAuthRef)
			}
			for i, d := range resp.Items {
				if d.Sequence != ds[i].Sequence || d.Action != ds[i].Action || d.Number != ds[i].Number {
					t.Errorf("item %d read back as %+v, expected %+v", i, d, ds[i])
				}
			}
		})
	}
}

func TestCheckAgainstOtherRequest(t *testing.T) {
	homecare := parseFile(t, homecare221)
	out, err := BuildResponse(homecare, Adjudication{ID: testID, Created: testTime, Decisions: approveAll(homecare)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ParseResponse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	// The update requests item 3, which the Homecare response never decided.
	if err := resp.CheckAgainst(parseFile(t, update221)); err == nil {
		t.Errorf("CheckAgainst accepted a response that lacks an item")
	}
}
