package gateway

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// BenchmarkBatchChecks runs the checks that read an engine's batch Bundle
// outbound (the allowlist per entry, the search criteria, the added
// _count), with a Bundle of 20 Task searches, none with a _count.
func BenchmarkBatchChecks(b *testing.B) {
	g := testGateway(b, stubVerifier{}, &memStore{})
	g.opts.MaxBodyBytes = 1 << 20
	for _, p := range []string{"batch-transaction", "Task.search"} {
		allowed, _ := fhirreq.ParsePattern(p)
		g.opts.Partners["ehr-a"].Allowed = append(g.opts.Partners["ehr-a"].Allowed, allowed...)
	}
	checker, err := congruence.New(congruence.Identifier{System: "urn:example:payer", Value: "payer-1"})
	if err != nil {
		b.Fatal(err)
	}
	opts := OutboundOptions{Congruence: checker, Partners: map[string]*OutboundPartner{"ehr-a": {ID: "ehr-a"}}}

	entries := make([]string, 20)
	for i := range entries {
		entries[i] = `{"request":{"method":"GET","url":"Task?status=requested&code=` + strconv.Itoa(i) + `"}}`
	}
	body := []byte(`{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`)

	b.ReportAllocs()
	for b.Loop() {
		ex := newExchange(g, "POST", "/fhir", body, testLeaf)
		for _, stage := range []func(*exchange) *Refusal{g.receive, g.identify, g.authorize} {
			if ref := stage(ex); ref != nil {
				b.Fatalf("refused: %+v", ref)
			}
		}
		if ref := g.checkOutboundSearch(ex, opts); ref != nil {
			b.Fatalf("checkOutboundSearch refused: %+v", ref)
		}
		if ref := g.addDefaultCount(ex); ref != nil {
			b.Fatalf("addDefaultCount refused: %+v", ref)
		}
		if len(ex.body) == len(body) {
			b.Fatal("no _count added")
		}
	}
}
