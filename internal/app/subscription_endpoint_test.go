package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// An upstream that runs Subscriptions itself posts each notification to
// Subscription.channel.endpoint directly, past the gateway's outbound path
// and egress allowlist. So the gateway allows a Subscription only with a
// rest-hook endpoint that is an operation under the partner's
// partners[].outbound.fhir_base, directly or in a transaction, and none
// for a partner without one.
func TestSubscriptionEndpointChecked(t *testing.T) {
	subscription := func(endpoint string) string {
		return `{"resourceType":"Subscription","status":"requested","reason":"prior authorization updates",` +
			`"criteria":"http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",` +
			`"channel":{"type":"rest-hook","endpoint":"` + endpoint + `","payload":"application/fhir+json"}}`
	}
	transaction := func(endpoint string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0b6f3c1e-2d4a-4f5b-9c8d-7e6f5a4b3c2d",` +
			`"resource":` + subscription(endpoint) + `,"request":{"method":"POST","url":"Subscription"}}]}`
	}
	allowSubscriptions := func(cfg *config.File) {
		p := &cfg.Partners[0]
		p.Roles["workflow"] = "write"
		p.Scopes = append(p.Scopes, "system/Subscription.cruds")
		p.Interactions = append(p.Interactions, "Subscription.create", "batch-transaction")
	}

	cfg, layout, ehr, _ := newPayerOutbound(t)
	allowSubscriptions(cfg)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	cfg.Strict.Mode = "off"
	routed := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
	cfg.Upstream.URL = routed.upstream.srv.URL + "/fhir-engine"
	routed.start(cfg)
	base := cfg.Partners[0].Outbound.FHIRBase

	unrouted := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) { allowSubscriptions(cfg) }})

	tests := []struct {
		name, path, body string
		h                *harness
		rule             string // empty when allowed
	}{
		{"endpoint on another host", "/fhir/Subscription", subscription("https://collector.example/fhir/$subscription-hook"), routed, "policy.subscription.endpoint"},
		{"endpoint is the base", "/fhir/Subscription", subscription(base), routed, "policy.subscription.endpoint"},
		{"endpoint in a transaction", "/fhir", transaction("https://collector.example/fhir/$subscription-hook"), routed, "policy.subscription.endpoint"},
		{"no registered base", "/fhir/Subscription", subscription("https://collector.example/fhir/$subscription-hook"), unrouted, "policy.subscription.endpoint"},
		{"operation under the base", "/fhir/Subscription", subscription(base + "/$subscription-hook"), routed, ""},
		{"transaction under the base", "/fhir", transaction(base + "/$subscription-hook"), routed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.h.partnerClient(app.DevScopes + " system/Subscription.cruds")
			tok, err := client.Token(context.Background())
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok.AccessToken}}
			before := tc.h.upstream.count.Load()
			resp := tc.h.send(client.HTTPClient(), "POST", tc.path, header, []byte(tc.body))
			body := readBody(t, resp)
			forwarded := tc.h.upstream.count.Load() - before

			if tc.rule == "" {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status = %d, want 200; body %s", resp.StatusCode, body)
				}
				if forwarded != 1 {
					t.Errorf("upstream received %d requests, want 1", forwarded)
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status = %d, want 403; body %s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "forbidden" {
				t.Errorf("issue code = %q, want forbidden", code)
			}
			if strings.Contains(string(body), "collector.example") {
				t.Errorf("the OperationOutcome quotes the endpoint: %s", body)
			}
			if forwarded != 0 {
				t.Errorf("upstream received %d requests, want 0", forwarded)
			}
			entries := tc.h.entries(resp)
			if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal || entries[0].Rule != tc.rule {
				t.Errorf("record = %+v, want one refusal with rule %s", entries, tc.rule)
			}
		})
	}
}
