package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

// A partner could make the gateway send and record notifications without
// end: with a heartbeat every second, or with Subscriptions whose end has
// already passed, which count against no limit. Through the gateway each
// such create gets 422 with an OperationOutcome naming the element, and
// the partner's endpoint receives no notification for it.
func TestSubscriptionFloodRejected(t *testing.T) {
	var cfg *config.File
	g := startHardenedGateway(t, func(c *config.File) { cfg = c })
	org := cfg.Partners[0].Organization
	const backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	subscription := func(edit func(sub, channel map[string]any)) []byte {
		channel := map[string]any{"type": "rest-hook", "endpoint": g.sim.HookURL(), "payload": "application/fhir+json"}
		sub := map[string]any{
			"resourceType": "Subscription", "status": "requested", "reason": "prior authorization results",
			"criteria": subscriptions.TopicPAS,
			"_criteria": map[string]any{"extension": []any{map[string]any{
				"url": backport + "backport-filter-criteria", "valueString": "org-identifier=" + org.System + "|" + org.Value}}},
			"channel": channel,
		}
		edit(sub, channel)
		body, err := json.Marshal(sub)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}

	cases := []struct {
		name, element, reason string
		edit                  func(sub, channel map[string]any)
	}{
		{"heartbeat every second", "Subscription.channel.extension", "between 60 and 86400 seconds", func(_, channel map[string]any) {
			channel["extension"] = []any{map[string]any{"url": backport + "backport-heartbeat-period", "valueUnsignedInt": 1}}
		}},
		{"end already passed", "Subscription.end", "must be in the future", func(sub, _ map[string]any) {
			sub["end"] = "2020-01-01T00:00:00Z"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := g.sim.Do(context.Background(), http.MethodPost, "Subscription", subscription(c.edit))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422: %s", resp.Status, resp.Body)
			}
			for _, want := range []string{`"resourceType":"OperationOutcome"`, c.element, c.reason} {
				if !strings.Contains(string(resp.Body), want) {
					t.Errorf("body %s lacks %q", resp.Body, want)
				}
			}
		})
	}

	// A Subscription created after the rejected ones gets the first
	// notification, so none was queued for them.
	subID, _ := g.subscribe(t)
	for _, n := range g.sim.Snapshot().Notifications {
		if n.Subscription != subID {
			t.Errorf("the endpoint received a %s notification for Subscription %q, want only %q", n.Type, n.Subscription, subID)
		}
	}
}
