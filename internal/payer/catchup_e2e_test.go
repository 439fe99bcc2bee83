package payer_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/payer"
)

// TestCatchUpPagesThroughGateway loses every event inside the EHR while
// the payer's $events page size is two. The catch-up through the gateway
// must request the later pages with eventsSinceNumber to recover all five.
func TestCatchUpPagesThroughGateway(t *testing.T) {
	const events = 5
	g := startGatewayDropping(t, func(string, int64) bool { return true }, 2)
	_, subID, err := g.ehr.Subscribe(context.Background())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if subID == "" {
		t.Fatal("Subscribe returned no Subscription id")
	}
	template, err := os.ReadFile("../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		// New Bundle and Claim identifiers make each submission a new
		// prior authorization with its own pended item.
		body := strings.NewReplacer(`"B56789"`, fmt.Sprintf(`"B5678-%d"`, i), `"111099"`, fmt.Sprintf(`"11109-%d"`, i)).Replace(string(template))
		first, err := pas.ParseResponse(g.do(t, http.MethodPost, "Claim/$submit", []byte(body)).Body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.svc.Decide(context.Background(), payer.ItemDecision{PreAuthRef: first.PreAuthRef, Sequence: 2, Action: pas.CertifiedInTotal, By: "operator:test"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, g.ehr, "the dropped event notifications", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) == 1+events })

	gap, err := g.ehr.CheckStatus(context.Background(), subID)
	if err != nil {
		t.Fatalf("CheckStatus: %v", err)
	}
	want := []int64{1, 2, 3, 4, 5}
	if !slices.Equal(gap, want) {
		t.Fatalf("CheckStatus: gap %v, want %v", gap, want)
	}
	st, _ := g.ehr.Snapshot().Subscription(subID)
	if !slices.Equal(st.CaughtUp, want) {
		t.Errorf("caught up %v, want %v", st.CaughtUp, want)
	}
	if len(st.Missing) != 0 {
		t.Errorf("still missing %v after catch-up", st.Missing)
	}

	t.Run("range by POST Parameters", func(t *testing.T) {
		params := `{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"4"},{"name":"content","valueCode":"id-only"}]}`
		r := g.do(t, http.MethodPost, "Subscription/"+subID+"/$events", []byte(params))
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		for _, n := range []string{"4", "5"} {
			if !strings.Contains(string(r.Body), `"name":"event-number","valueString":"`+n+`"`) {
				t.Errorf("the page from 4 lacks event %s: %s", n, r.Body)
			}
		}
		if strings.Contains(string(r.Body), `"valueString":"3"`) {
			t.Errorf("the page from 4 contains event 3: %s", r.Body)
		}
	})
	t.Run("invalid range rejected", func(t *testing.T) {
		for _, q := range []string{"eventsSinceNumber=0", "eventsSinceNumber=1&eventsSinceNumber=2", "eventsSinceNumber=1&patient=x"} {
			if r := g.do(t, http.MethodGet, "Subscription/"+subID+"/$events?"+q, nil); r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", q, r.Status)
			}
		}
	})
}
