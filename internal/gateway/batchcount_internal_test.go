package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/policy"
)

func TestAddEntryCountsSizeLimit(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active"}}]}`)
	want := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active&_count=25"}}]}`

	b, err := fhirreq.ParseBundle(body)
	if err != nil {
		t.Fatal(err)
	}

	out, ref := addEntryCounts(body, b, 25, int64(len(want)))
	if ref != nil {
		t.Fatalf("at the limit: refusal %+v", ref)
	}
	if string(out) != want {
		t.Errorf("at the limit: body %s, expected %s", out, want)
	}

	_, ref = addEntryCounts(body, b, 25, int64(len(want))-1)
	if ref == nil {
		t.Fatal("one byte past the limit: no refusal")
	}
	if ref.Status != http.StatusRequestEntityTooLarge || ref.Rule != "payload.too-large" {
		t.Errorf("one byte past the limit: status %d rule %q, expected 413 payload.too-large", ref.Status, ref.Rule)
	}
}

// A Bundle that gets _count added is no longer the bytes the JSON intake
// checked, so it must reach the upstream without the checked-body mark.
func TestAddEntryCountsDropsCheckedMark(t *testing.T) {
	g := testGateway(t, stubVerifier{}, &memStore{})
	g.opts.Strict = stubStrict{}
	for _, p := range []string{"batch-transaction", "Claim.search"} {
		allowed, _ := fhirreq.ParsePattern(p)
		g.opts.Partners["ehr-a"].Allowed = append(g.opts.Partners["ehr-a"].Allowed, allowed...)
	}
	g.opts.Partners["ehr-a"].Strict = true
	body := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active"}}]}`)

	ex := newExchange(g, "POST", "/fhir", body, testLeaf)
	ex.r.Header.Set("Content-Type", "application/fhir+json")
	for _, stage := range []func(*exchange) *Refusal{g.receive, g.identify, g.authorize, g.checkPayload, g.checkConformance} {
		if ref := stage(ex); ref != nil {
			t.Fatalf("refused before forwarding: %+v", ref)
		}
	}
	if ref := g.addDefaultCount(ex); ref != nil {
		t.Fatalf("addDefaultCount refused: %+v", ref)
	}
	if string(ex.body) == string(body) {
		t.Fatalf("body unchanged: %s", ex.body)
	}
	out, ref := g.upstreamRequest(context.Background(), ex)
	if ref != nil {
		t.Fatalf("upstreamRequest refused: %+v", ref)
	}
	if _, marked := fhirjson.CheckedObject(out.Context(), g.intakeLimits()); marked {
		t.Error("the changed Bundle was forwarded with the checked-body mark")
	}
}

// The stages share one parse of a batch Bundle, and the parse is dropped
// when addDefaultCount replaces the body, so that a later reader sees the
// forwarded Bundle with its added _count.
func TestParsedBatchSharedAndReset(t *testing.T) {
	g := testGateway(t, stubVerifier{}, &memStore{})
	for _, p := range []string{"batch-transaction", "Claim.search"} {
		allowed, _ := fhirreq.ParsePattern(p)
		g.opts.Partners["ehr-a"].Allowed = append(g.opts.Partners["ehr-a"].Allowed, allowed...)
	}
	body := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active"}}]}`)
	ex := newExchange(g, "POST", "/fhir", body, testLeaf)
	for _, stage := range []func(*exchange) *Refusal{g.receive, g.identify, g.authorize} {
		if ref := stage(ex); ref != nil {
			t.Fatalf("refused: %+v", ref)
		}
	}

	parsed := ex.batch
	if parsed == nil {
		t.Fatal("authorize did not keep the parsed Bundle")
	}
	if b, err := ex.parsedBatch(); err != nil || b != parsed {
		t.Errorf("parsedBatch parsed again: %p, %v, want %p", b, err, parsed)
	}

	if ref := g.addDefaultCount(ex); ref != nil {
		t.Fatalf("addDefaultCount refused: %+v", ref)
	}
	b, err := ex.parsedBatch()
	if err != nil {
		t.Fatal(err)
	}
	if b == parsed {
		t.Fatal("the parse of the replaced body is still kept")
	}
	if got := b.Entries[0].Request.Query.Count; got != policy.DefaultMaxCount {
		t.Errorf("entry _count = %d, want %d", got, policy.DefaultMaxCount)
	}
}
