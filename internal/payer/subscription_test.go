package payer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

const partnerB = "partner-b"

// twoPartnerOptions registers partnerA and partnerB with the same
// organisation, so that each may create a Subscription of its own.
func twoPartnerOptions(opts Options) Options {
	opts = partnerOptions(opts)
	opts.Partners[partnerB] = subscriptions.Partner{FHIRBase: "https://ehr-b.example/fhir/r4",
		OrganizationSystem: npiSystem, OrganizationValue: providerNPI}
	return opts
}

// send makes a request to the service as partner, as the gateway does with
// the verified partner id in PartnerHeader.
func (ts *testService) send(t *testing.T, method, path, partner string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", fhirJSONType)
	}
	req.Header.Set(PartnerHeader, partner)
	return ts.do(t, req)
}

// outcomeCode returns issue[0].code of an OperationOutcome body, or "" if
// the body is not an OperationOutcome.
func outcomeCode(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	return oo.Issue[0].Code
}

// The gateway's development policy rejects a Subscription update or
// delete with 403 before it reaches the payer service, so this test calls
// the service directly with the partner id the gateway would pass. A
// second partner's delete of the first partner's Subscription must get the
// same 404 OperationOutcome as an unknown id, and an update the same 405
// (the service implements no update), so neither reveals that the id
// exists. The Subscription stays as it was.
func TestSubscriptionWriteByOtherPartner(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, twoPartnerOptions(Options{}))
		id := ts.subscribe(t)
		before := ts.send(t, http.MethodGet, "/Subscription/"+id, partnerA, nil)
		if before.status != http.StatusOK {
			t.Fatalf("read by the owner: status %d: %s", before.status, before.body)
		}

		update := []byte(`{"resourceType":"Subscription","id":"` + id + `","status":"off","reason":"x","criteria":"` +
			`http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic","channel":{"type":"rest-hook"}}`)
		const unknownID = "00000000-0000-4000-8000-00000000ffff"
		cases := []struct {
			name, method string
			body         []byte
			status       int
			code         string
		}{
			{"delete", http.MethodDelete, nil, http.StatusNotFound, "not-found"},
			{"update", http.MethodPut, update, http.StatusMethodNotAllowed, "not-supported"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := ts.send(t, c.method, "/Subscription/"+id, partnerB, c.body)
				if got.status != c.status {
					t.Errorf("status %d, want %d: %s", got.status, c.status, got.body)
				}
				if code := outcomeCode(got.body); code != c.code {
					t.Errorf("OperationOutcome code %q, want %q: %s", code, c.code, got.body)
				}
				unknown := ts.send(t, c.method, "/Subscription/"+unknownID, partnerB, c.body)
				if unknown.status != got.status || !bytes.Equal(unknown.body, got.body) {
					t.Errorf("response for another partner's id (%d %s) differs from the one for an unknown id (%d %s)",
						got.status, got.body, unknown.status, unknown.body)
				}
			})
		}

		after := ts.send(t, http.MethodGet, "/Subscription/"+id, partnerA, nil)
		if after.status != http.StatusOK {
			t.Fatalf("read by the owner afterwards: status %d: %s", after.status, after.body)
		}
		if !bytes.Equal(after.body, before.body) {
			t.Errorf("the Subscription changed:\nbefore %s\nafter  %s", before.body, after.body)
		}
	})
}

// Options.SubscriptionRetention must reach the Subscription hub: with 48h,
// a deleted Subscription is readable for 47 hours and purged after 49,
// long before subscriptions.DefaultRetention.
func TestSubscriptionRetentionOption(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		clock := newTestClock()
		ts := newTestService(t, b, partnerOptions(Options{Now: clock.Now, SubscriptionRetention: 48 * time.Hour}))
		id := ts.subscribe(t)
		if r := ts.send(t, http.MethodDelete, "/Subscription/"+id, partnerA, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: status %d: %s", r.status, r.body)
		}
		ctx := context.Background()

		clock.Advance(47 * time.Hour)
		ts.subs.Tick(ctx)
		if r := ts.send(t, http.MethodGet, "/Subscription/"+id, partnerA, nil); r.status != http.StatusOK {
			t.Errorf("read 47h after the delete: status %d, want 200", r.status)
		}

		clock.Advance(2 * time.Hour)
		ts.subs.Tick(ctx)
		if r := ts.send(t, http.MethodGet, "/Subscription/"+id, partnerA, nil); r.status != http.StatusNotFound {
			t.Errorf("read 49h after the delete: status %d, want 404", r.status)
		}
	})
}
