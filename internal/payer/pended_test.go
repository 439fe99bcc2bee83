package payer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

const (
	partnerA = "partner-a"
	// providerNPI is the requesting organisation of the PAS examples.
	providerNPI = "8189991234"
	npiSystem   = "http://hl7.org/fhir/sid/us-npi"
)

// surgicalBundle returns the PAS 2.2.1 Surgical example, whose one item
// the default rules pend. The gateway's validator refuses it (its
// PractitionerRole references entries the Bundle lacks), so the demo keeps
// it apart; the payer service does not validate profiles.
func surgicalBundle(t *testing.T) []byte {
	t.Helper()
	return readFile(t, "../demo/nonconformant/pas-2.2.1-SurgicalRequestBundleExample.json")
}

// newTestClock returns a manual clock at the start time of the pended tests.
func newTestClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
}

// rulesWithPendThen is the shipped rule table plus a later decision.
func rulesWithPendThen(t *testing.T, pendThen string) *Rules {
	t.Helper()
	r, err := ParseRules(append([]byte("pend_then: "+pendThen+"\n"), defaultRulesYAML...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func partnerOptions(opts Options) Options {
	opts.FHIRBase = "https://gateway.example/fhir"
	opts.Partners = map[string]subscriptions.Partner{
		partnerA: {FHIRBase: "https://ehr.example/fhir/r4", OrganizationSystem: npiSystem, OrganizationValue: providerNPI},
	}
	return opts
}

const subscriptionBody = `{"resourceType":"Subscription","status":"requested",
 "reason":"Prior Authorization Update Notification Subscription",
 "criteria":"http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
 "_criteria":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria","valueString":"org-identifier=8189991234"}]},
 "channel":{"type":"rest-hook","endpoint":"https://ehr.example/fhir/r4/$subscription-hook","payload":"application/fhir+json",
  "_payload":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content","valueCode":"full-resource"}]}}}`

func (ts *testService) subscribe(t *testing.T) string {
	t.Helper()
	r := ts.post(t, "/Subscription", fhirJSONType, []byte(subscriptionBody), PartnerHeader, partnerA)
	if r.status != http.StatusCreated {
		t.Fatalf("create Subscription: status %d: %s", r.status, r.body)
	}
	id, ok := strings.CutPrefix(r.header.Get("Location"), "Subscription/")
	if !ok {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	return id
}

func TestOperatorDecisionOnPendedItem(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		clock := newTestClock()
		ts := newTestService(t, b, partnerOptions(Options{Now: clock.Now}))
		subID := ts.subscribe(t)
		body := surgicalBundle(t)
		submitted := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, partnerA))
		if got := actions(submitted); !slices.Equal(got, []pas.ReviewAction{pas.Pended}) || submitted.Outcome != "partial" {
			t.Fatalf("submission decisions %v outcome %q, expected pended and partial", got, submitted.Outcome)
		}

		queue, err := ts.ListPended(context.Background(), 0)
		if err != nil || len(queue) != 1 {
			t.Fatalf("work queue %+v (%v), expected one item", queue, err)
		}
		if queue[0].PreAuthRef != submitted.PreAuthRef || queue[0].Sequence != 1 || queue[0].Coding.Code != "33510" || !queue[0].DueAt.IsZero() {
			t.Errorf("work queue item %+v", queue[0])
		}

		clock.Advance(time.Hour)
		ref, err := ts.ResolveAuthorization(context.Background(), "16139462398")
		if err != nil || ref != submitted.PreAuthRef {
			t.Fatalf("ResolveAuthorization by claim value = %q, %v", ref, err)
		}
		res, err := ts.Decide(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:test"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != "complete" || res.Notified != 1 || res.ClaimResponseID == submitted.ClaimResponse.ID {
			t.Errorf("decision result %+v", res)
		}

		t.Run("inquiry sees the final decision", func(t *testing.T) {
			answer := mustResponse(t, ts.inquire(t, inquiryFor(t, body), PartnerHeader, partnerA))
			if answer.PreAuthRef != submitted.PreAuthRef || answer.ClaimResponse.ID != res.ClaimResponseID {
				t.Errorf("inquiry preAuthRef %q ClaimResponse %q, expected %q and %q", answer.PreAuthRef, answer.ClaimResponse.ID, submitted.PreAuthRef, res.ClaimResponseID)
			}
			if got := actions(answer); !slices.Equal(got, []pas.ReviewAction{pas.NotCertified}) || answer.Outcome != "complete" {
				t.Errorf("inquiry decisions %v outcome %q", got, answer.Outcome)
			}
			if answer.Items[0].Number != submitted.Items[0].Number {
				t.Errorf("review number %q, expected the original %q", answer.Items[0].Number, submitted.Items[0].Number)
			}
		})
		t.Run("queue is empty", func(t *testing.T) {
			queue, _ := ts.ListPended(context.Background(), 0)
			if len(queue) != 0 {
				t.Errorf("work queue %+v, expected empty", queue)
			}
			if _, err := ts.Decide(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.CertifiedInTotal}); !errors.Is(err, ErrNotPended) {
				t.Errorf("second decision: %v, expected ErrNotPended", err)
			}
		})
		t.Run("event is stored for the subscription", func(t *testing.T) {
			r := ts.do(t, getAs(t, ts.url+"/Subscription/"+subID+"/$events", partnerA))
			if r.status != http.StatusOK {
				t.Fatalf("$events: status %d: %s", r.status, r.body)
			}
			ev := notificationEvents(t, r.body)
			if len(ev) != 1 || ev[0] != "1" || !strings.Contains(string(r.body), res.ClaimResponseID) {
				t.Errorf("$events numbers %v, body %s", ev, r.body)
			}
		})
	})
}

func TestRulesDecideAfterDelay(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		clock := newTestClock()
		ts := newTestService(t, b, partnerOptions(Options{Now: clock.Now, Rules: rulesWithPendThen(t, "approve after 30s")}))
		submitted := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, surgicalBundle(t), PartnerHeader, partnerA))

		queue, _ := ts.ListPended(context.Background(), 0)
		if len(queue) != 1 || queue[0].DueAction != pas.CertifiedInTotal || !queue[0].DueAt.Equal(clock.Now().Add(30*time.Second)) {
			t.Fatalf("work queue %+v, expected approve due in 30s", queue)
		}

		clock.Advance(29 * time.Second)
		if n, err := ts.DecideDue(context.Background()); err != nil || n != 0 {
			t.Errorf("DecideDue before the delay decided %d (%v)", n, err)
		}
		clock.Advance(time.Second)
		if n, err := ts.DecideDue(context.Background()); err != nil || n != 1 {
			t.Errorf("DecideDue after the delay decided %d (%v), expected 1", n, err)
		}

		var by string
		if err := ts.store.db.QueryRow(`SELECT decided_by FROM payer_decisions WHERE pre_auth_ref = $1`, submitted.PreAuthRef).Scan(&by); err != nil || by != "rules" {
			t.Errorf("decided_by %q (%v), expected rules", by, err)
		}
		answer := mustResponse(t, ts.inquire(t, inquiryFor(t, surgicalBundle(t)), PartnerHeader, partnerA))
		if got := actions(answer); !slices.Equal(got, []pas.ReviewAction{pas.CertifiedInTotal}) {
			t.Errorf("inquiry decisions %v, expected A1", got)
		}
	})
}

func TestRevisionReplacesWorkQueue(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		mustResponse(t, ts.submit(t, demoBundle(t, homecare201)))
		queue, _ := ts.ListPended(context.Background(), 0)
		if len(queue) != 1 {
			t.Fatalf("work queue after the request: %+v, expected the pended B4184 item", queue)
		}
		mustResponse(t, ts.submit(t, demoBundle(t, update201)))
		queue, _ = ts.ListPended(context.Background(), 0)
		if len(queue) != 0 {
			t.Errorf("work queue after the update: %+v, expected empty (the update has no pended item)", queue)
		}
	})
}

func TestParsePendThen(t *testing.T) {
	cases := []struct {
		in    string
		valid bool
	}{
		{"approve after 30s", true},
		{"deny after 2h", true},
		{"pend after 30s", false},
		{"approve in 30s", false},
		{"approve after -1s", false},
		{"approve after 800h", false},
		{"approve", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseRules([]byte("default: pend\npend_then: " + c.in + "\n"))
			if (err == nil) != c.valid {
				t.Errorf("ParseRules: %v, expected valid %v", err, c.valid)
			}
		})
	}
}

func getAs(t *testing.T, url, partner string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(PartnerHeader, partner)
	return req
}

// notificationEvents returns the event numbers of a notification Bundle's
// SubscriptionStatus.
func notificationEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Parameter    []struct {
					Name string `json:"name"`
					Part []struct {
						Name        string `json:"name"`
						ValueString string `json:"valueString"`
					} `json:"part"`
				} `json:"parameter"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "history" || len(b.Entry) == 0 || b.Entry[0].Resource.ResourceType != "Parameters" {
		t.Fatalf("not a notification Bundle (%v): %s", err, body)
	}
	var out []string
	for _, p := range b.Entry[0].Resource.Parameter {
		for _, part := range p.Part {
			if p.Name == "notification-event" && part.Name == "event-number" {
				out = append(out, part.ValueString)
			}
		}
	}
	return out
}

// A backlog larger than one batch of due items is decided in one call.
func TestDecideDueClearsBacklog(t *testing.T) {
	defer func(n int) { duePendedBatch = n }(duePendedBatch)
	duePendedBatch = 2
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		clock := newTestClock()
		ts := newTestService(t, b, partnerOptions(Options{Now: clock.Now, Rules: rulesWithPendThen(t, "approve after 30s")}))
		for i := range 5 {
			body := bytes.ReplaceAll(surgicalBundle(t), []byte("16139462398"), []byte(fmt.Sprintf("2000000000%d", i)))
			mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, partnerA))
		}
		queue, _ := ts.ListPended(context.Background(), 0)
		if len(queue) != 5 {
			t.Fatalf("work queue has %d items, want 5", len(queue))
		}
		clock.Advance(30 * time.Second)
		if n, err := ts.DecideDue(context.Background()); err != nil || n != 5 {
			t.Errorf("DecideDue decided %d (%v), want 5", n, err)
		}
		if queue, _ := ts.ListPended(context.Background(), 0); len(queue) != 0 {
			t.Errorf("work queue keeps %d items", len(queue))
		}
	})
}
