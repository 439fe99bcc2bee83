package payer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const (
	homecare201 = "pas-2.0.1-HomecareAuthorizationBundleExample.json"
	update201   = "pas-2.0.1-HomecareAuthorizationUpdateBundleExample.json"
	homecare221 = "pas-2.2.1-HomecareAuthorizationBundleExample.json"
	update221   = "pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json"
	referral221 = "pas-2.2.1-ReferralAuthorizationBundleExample.json"
)

func TestSubmitDemoBundles(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		// Submitted in file-name order into one service, as a demo replay does;
		// the 2.2.1 update follows the 2.2.1 request it updates.
		want := map[string][]pas.ReviewAction{
			"pas-2.0.1-HomecareAuthorizationBundleExample.json":             {pas.CertifiedInTotal, pas.Pended},
			"pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json": {pas.Cancelled, pas.NotCertified},
			"pas-2.0.1-HomecareAuthorizationUpdateBundleExample.json":       {pas.CertifiedInTotal, pas.Cancelled, pas.NotCertified},
			"pas-2.0.1-MedicalServicesAuthorizationBundleExample.json":      {pas.CertifiedInTotal},
			"pas-2.0.1-ReferralAuthorizationBundleExample.json":             {pas.CertifiedInTotal},
			"pas-2.0.1-SurgicalRequestBundleExample.json":                   {pas.Pended},
			"pas-2.2.1-HomecareAuthorizationBundleExample.json":             {pas.CertifiedInTotal, pas.Pended},
			"pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json":       {pas.CertifiedInTotal, pas.Cancelled, pas.NotCertified},
			"pas-2.2.1-MedicalServicesAuthorizationBundleExample.json":      {pas.CertifiedInTotal},
			"pas-2.2.1-ReferralAuthorizationBundleExample.json":             {pas.CertifiedInTotal},
			"pas-2.2.1-SurgicalRequestBundleExample.json":                   {pas.Pended},
		}
		ts := newTestService(t, b, Options{})
		files, err := filepath.Glob("../demo/bundles/pas-*.json")
		more, _ := filepath.Glob("../demo/nonconformant/pas-*.json")
		files = append(files, more...)
		if err != nil || len(files) != len(want) {
			t.Fatalf("found %d demo bundles (%v), expected %d", len(files), err, len(want))
		}
		preAuthRefs := map[string]string{}
		for _, f := range files {
			name := filepath.Base(f)
			t.Run(name, func(t *testing.T) {
				body := readFile(t, f)
				resp := mustResponse(t, ts.submit(t, body))
				if err := resp.CheckAgainst(mustParseRequest(t, body)); err != nil {
					t.Errorf("response does not answer the request: %v", err)
				}
				if got := actions(resp); !slices.Equal(got, want[name]) {
					t.Errorf("decisions %v, expected %v", got, want[name])
				}
				wantOutcome := "complete"
				if slices.Contains(want[name], pas.Pended) {
					wantOutcome = "partial"
				}
				if resp.Outcome != wantOutcome {
					t.Errorf("outcome %q, expected %q", resp.Outcome, wantOutcome)
				}
				for _, d := range resp.Items {
					if d.Number != resp.PreAuthRef+"-"+strconv.Itoa(d.Sequence) {
						t.Errorf("item %d review number %q, expected the preAuthRef and sequence", d.Sequence, d.Number)
					}
				}
				preAuthRefs[name] = resp.PreAuthRef
			})
		}

		// The 2.2.1 update names the 2.2.1 request as prior, so it continues
		// that authorization.
		if preAuthRefs[update221] == "" || preAuthRefs[update221] != preAuthRefs[homecare221] {
			t.Errorf("update preAuthRef %q, expected the prior request's %q", preAuthRefs[update221], preAuthRefs[homecare221])
		}
	})
}

func TestResubmitReturnsStoredDecision(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		body := demoBundle(t, referral221)
		first := ts.submit(t, body)
		mustResponse(t, first)

		t.Run("identical bytes", func(t *testing.T) {
			again := ts.submit(t, body)
			if !bytes.Equal(again.body, first.body) {
				t.Errorf("resubmission returned a different response")
			}
		})
		t.Run("retry with a new Bundle identifier and timestamp", func(t *testing.T) {
			retry := rewrite(t, body, func(b map[string]any) {
				b["identifier"] = map[string]any{"system": "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", "value": "RETRY-2"}
				b["timestamp"] = "2026-03-01T10:00:00Z"
			})
			again := ts.submit(t, retry)
			if !bytes.Equal(again.body, first.body) {
				t.Errorf("retry returned a different response")
			}
		})
		if n := countAuthorizations(t, ts); n != 1 {
			t.Errorf("%d authorizations recorded, expected 1", n)
		}
	})
}

func TestRevisionKeepsPreAuthRef(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		original := mustResponse(t, ts.submit(t, demoBundle(t, homecare201)))
		revised := mustResponse(t, ts.submit(t, demoBundle(t, update201)))

		if revised.PreAuthRef != original.PreAuthRef {
			t.Errorf("revision preAuthRef %q, expected %q", revised.PreAuthRef, original.PreAuthRef)
		}
		if revised.ClaimResponse.ID == original.ClaimResponse.ID {
			t.Errorf("revision reused ClaimResponse id %q", revised.ClaimResponse.ID)
		}
		if got := actions(revised); !slices.Equal(got, []pas.ReviewAction{pas.CertifiedInTotal, pas.Cancelled, pas.NotCertified}) {
			t.Errorf("revision decisions %v", got)
		}
		if n := countAuthorizations(t, ts); n != 1 {
			t.Errorf("%d authorizations recorded, expected 1", n)
		}
	})
}

func TestConcurrentDuplicateSubmissions(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		body := demoBundle(t, homecare221)
		const n = 8
		replies := make([]reply, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = ts.submit(t, body)
			}()
		}
		close(start)
		wg.Wait()

		for i, r := range replies {
			if r.status != http.StatusOK {
				t.Fatalf("submission %d: status %d: %s", i, r.status, r.body)
			}
			if !bytes.Equal(r.body, replies[0].body) {
				t.Errorf("submission %d got a different response than submission 0", i)
			}
		}
		if got := countAuthorizations(t, ts); got != 1 {
			t.Errorf("%d authorizations recorded, expected 1", got)
		}
		var submissions int
		if err := ts.store.db.QueryRow(`SELECT COUNT(*) FROM payer_submissions`).Scan(&submissions); err != nil {
			t.Fatal(err)
		}
		if submissions != 1 {
			t.Errorf("%d submissions recorded, expected 1", submissions)
		}
	})
}

func TestSubmitConflicts(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		cases := []struct {
			name   string
			second func(t *testing.T, body []byte) ([]byte, []string)
		}{
			{"same identifier for another patient", func(t *testing.T, body []byte) ([]byte, []string) {
				return rewrite(t, body, func(b map[string]any) {
					patient := resourceAt(b, "Patient")
					patient["identifier"] = []any{map[string]any{"system": "http://example.org/MIN", "value": "99999999999"}}
				}), nil
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ts := newTestService(t, b, Options{})
				body := demoBundle(t, referral221)
				mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, "partner-a"))

				second, header := tc.second(t, body)
				if header == nil {
					header = []string{PartnerHeader, "partner-a"}
				}
				r := ts.post(t, "/Claim/$submit", fhirJSONType, second, header...)
				if r.status != http.StatusConflict {
					t.Fatalf("status %d, expected 409: %s", r.status, r.body)
				}
				if oo := mustOutcome(t, r.body); oo.Issue[0].Code != "conflict" {
					t.Errorf("issue code %q, expected conflict", oo.Issue[0].Code)
				}
				if n := countAuthorizations(t, ts); n != 1 {
					t.Errorf("%d authorizations recorded, expected 1", n)
				}
			})
		}
	})
}

// TestClaimIdentifiersPerPartner is the squatting attack: partner B
// submits the Claim identifier partner A is about to use. A's submission
// must still succeed as its own authorization, without a 409 that would
// tell B the identifier is in use, and each partner's inquiry must see
// only its own decision.
func TestClaimIdentifiersPerPartner(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		body := demoBundle(t, referral221)

		squatter := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, "partner-b"))
		owner := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, "partner-a"))
		if owner.PreAuthRef == squatter.PreAuthRef {
			t.Fatalf("both partners got authorization %s, expected one each", owner.PreAuthRef)
		}
		if n := countAuthorizations(t, ts); n != 2 {
			t.Errorf("%d authorizations recorded, expected 2", n)
		}
		for partner, want := range map[string]string{"partner-a": owner.PreAuthRef, "partner-b": squatter.PreAuthRef} {
			got := mustResponse(t, ts.inquire(t, inquiryFor(t, body), PartnerHeader, partner))
			if got.PreAuthRef != want {
				t.Errorf("%s's inquiry found %s, expected %s", partner, got.PreAuthRef, want)
			}
		}

		// The operator's lookup by the shared identifier now names two
		// authorizations, so it must refuse to pick one.
		req := mustParseRequest(t, body)
		ref := req.Identifiers[0].System + "|" + req.Identifiers[0].Value
		if _, err := ts.ResolveAuthorization(context.Background(), ref); !errors.Is(err, ErrAmbiguous) {
			t.Errorf("ResolveAuthorization(%q) = %v, expected ErrAmbiguous", ref, err)
		}
	})
}

func TestUpdateWithUnknownPrior(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		r := ts.submit(t, demoBundle(t, update221))
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, expected 422: %s", r.status, r.body)
		}
		oo := mustOutcome(t, r.body)
		if oo.Issue[0].Code != "business-rule" || !slices.Equal(oo.Issue[0].Expression, []string{"Bundle.entry[0].resource.related"}) {
			t.Errorf("issue %+v, expected business-rule at Claim.related", oo.Issue[0])
		}
	})
}

func countAuthorizations(t *testing.T, ts *testService) int {
	t.Helper()
	n, err := ts.store.countAuthorizations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rewrite decodes a Bundle, applies fn and re-encodes it.
func rewrite(t *testing.T, body []byte, fn func(b map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resourceAt returns the first entry resource of the given type.
func resourceAt(b map[string]any, resourceType string) map[string]any {
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == resourceType {
			return r
		}
	}
	return nil
}

// resourceByID returns the entry resource with the given id.
func resourceByID(b map[string]any, id string) map[string]any {
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["id"] == id {
			return r
		}
	}
	return nil
}

// TestMigrateMovesSharedClaimKeys checks the upgrade of a database whose
// Claim identifiers were keyed across partners: after Migrate the old
// table is gone and inquiries still find its bindings.
func TestMigrateMovesSharedClaimKeys(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		body := demoBundle(t, referral221)
		submitted := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, body, PartnerHeader, "partner-a"))

		ctx := context.Background()
		db := ts.store.db
		for _, stmt := range []string{
			`CREATE TABLE payer_claim_keys (claim_system TEXT NOT NULL, claim_value TEXT NOT NULL,
				pre_auth_ref VARCHAR(64) NOT NULL, PRIMARY KEY (claim_system, claim_value))`,
			`INSERT INTO payer_claim_keys SELECT claim_system, claim_value, pre_auth_ref FROM payer_partner_claim_keys`,
			`DELETE FROM payer_partner_claim_keys`,
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		if err := ts.Migrate(ctx); err != nil {
			t.Fatal(err)
		}

		if exists, err := db.TableExists(ctx, "payer_claim_keys"); err != nil || exists {
			t.Errorf("old table still there after Migrate (exists %v, err %v)", exists, err)
		}
		got := mustResponse(t, ts.inquire(t, inquiryFor(t, body), PartnerHeader, "partner-a"))
		if got.PreAuthRef != submitted.PreAuthRef {
			t.Errorf("inquiry after Migrate found %q, expected %q", got.PreAuthRef, submitted.PreAuthRef)
		}
	})
}

// A "Reference" member beside "reference" is another element, not the
// reference. Reading it would store, for search, a patient reference that
// the validated "reference" does not contain.
func TestReferenceOfMatchesCase(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`{"reference":"Patient/1"}`, "Patient/1"},
		{`{"reference":"Patient/1","Reference":"Patient/2"}`, "Patient/1"},
		{`{"Reference":"Patient/2"}`, ""},
		{`{"reference":"Patient/1","reference":"Patient/2"}`, ""},
	}
	for _, tt := range tests {
		if got := referenceOf([]byte(tt.raw)); got != tt.want {
			t.Errorf("referenceOf(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
