package gateway

import (
	"context"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// stubStrict is a StrictChecker whose request check returns issues, or
// nothing when issues is nil.
type stubStrict struct {
	issues *outcome.OperationOutcome
}

func (s stubStrict) CheckRequest(string, []byte) (*outcome.OperationOutcome, error) {
	return s.issues, nil
}
func (stubStrict) CheckResponse(string, []byte) (*outcome.OperationOutcome, error) { return nil, nil }
func (stubStrict) CheckErrorResponse([]byte) (*outcome.OperationOutcome, error)    { return nil, nil }
func (stubStrict) RequiresResponseBody(string) bool                                { return false }

// forwardedContext runs the stages up to strict mode on a $submit and
// returns the context of the request the upstream would receive, or the
// first stage's refusal.
func forwardedContext(t *testing.T, g *Gateway, body []byte) (context.Context, *Refusal) {
	t.Helper()
	ex := newExchange(g, "POST", "/fhir/Claim/$submit", body, testLeaf)
	ex.r.Header.Set("Content-Type", "application/fhir+json")
	for _, stage := range []func(*exchange) *Refusal{g.receive, g.identify, g.authorize, g.checkPayload, g.checkConformance} {
		if ref := stage(ex); ref != nil {
			return nil, ref
		}
	}
	out, ref := g.upstreamRequest(context.Background(), ex)
	if ref != nil {
		t.Fatalf("upstreamRequest refused: %+v", ref)
	}
	return out.Context(), nil
}

// Only a body that passed the JSON intake and strict mode reaches the
// upstream with the mark that lets the in-process payer service skip its
// own JSON check.
func TestForwardMarksCheckedBody(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle","type":"collection"}`)
	issues := &outcome.OperationOutcome{Issue: []outcome.Issue{{Severity: outcome.Error, Code: outcome.CodeInvalid}}}
	cases := []struct {
		name       string
		strict     StrictChecker
		partnerOn  bool
		wantMarked bool
		wantRefuse bool
	}{
		{"strict passed", stubStrict{}, true, true, false},
		{"strict off for the partner", stubStrict{}, false, false, false},
		{"strict off for the gateway", nil, true, false, false},
		{"strict failed", stubStrict{issues: issues}, true, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := testGateway(t, stubVerifier{}, &memStore{})
			g.opts.Strict = tc.strict
			g.opts.Partners["ehr-a"].Strict = tc.partnerOn
			ctx, ref := forwardedContext(t, g, body)
			if tc.wantRefuse {
				if ref == nil || ref.Rule != "strict.request" {
					t.Fatalf("refusal = %+v, want rule strict.request", ref)
				}
				return
			}
			if ref != nil {
				t.Fatalf("refused before forwarding: %+v", ref)
			}
			doc, marked := fhirjson.CheckedObject(ctx, g.intakeLimits())
			if marked != tc.wantMarked {
				t.Fatalf("forwarded request marked = %v, want %v", marked, tc.wantMarked)
			}
			if marked && string(doc) != string(body) {
				t.Errorf("marked document = %q, want the forwarded body", doc)
			}
		})
	}
}
