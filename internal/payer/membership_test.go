package payer

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// rejectedClaimResponse is what a test reads of the ClaimResponse entry
// of a $submit response.
type rejectedClaimResponse struct {
	Outcome    string `json:"outcome"`
	PreAuthRef string `json:"preAuthRef"`
	Item       []any  `json:"item"`
	Error      []struct {
		Code struct {
			Coding []struct {
				System string `json:"system"`
				Code   string `json:"code"`
			} `json:"coding"`
		} `json:"code"`
	} `json:"error"`
}

// TestSubmitWithoutMembersRejects checks that a payer with no member
// stored rejects the patient of a $submit as unknown, with X12 reject
// reason 75, and records no authorization: an empty member table must
// not mean "accept everyone".
func TestSubmitWithoutMembersRejects(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newBareTestService(t, b, Options{})
		if loaded, err := ts.Members().Any(context.Background()); err != nil || loaded {
			t.Fatalf("members loaded = %v (%v), want none", loaded, err)
		}

		r := ts.submit(t, demoBundle(t, referral221))
		cr := submittedClaimResponse(t, r)
		if cr.Outcome != "error" {
			t.Errorf("ClaimResponse.outcome = %q, want error", cr.Outcome)
		}
		if cr.PreAuthRef != "" || len(cr.Item) != 0 {
			t.Errorf("rejection carries preAuthRef %q and %d items, want none", cr.PreAuthRef, len(cr.Item))
		}
		if len(cr.Error) != 1 || len(cr.Error[0].Code.Coding) != 1 ||
			cr.Error[0].Code.Coding[0].System != "https://codesystem.x12.org/005010/901" || cr.Error[0].Code.Coding[0].Code != "75" {
			t.Errorf("ClaimResponse.error = %+v, want X12 901 code 75", cr.Error)
		}
		if n := countAuthorizations(t, ts); n != 0 {
			t.Errorf("%d authorizations recorded, want 0", n)
		}
	})
}

// TestSubmitFromSeededMemberAccepted checks the other side: once the
// bundle's patient is stored from a request bundle, as development mode
// does, the same $submit is adjudicated.
func TestSubmitFromSeededMemberAccepted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newBareTestService(t, b, Options{})
		body := demoBundle(t, referral221)
		if err := ts.Members().AddRequestPatient(context.Background(), body); err != nil {
			t.Fatal(err)
		}

		resp := mustResponse(t, ts.submit(t, body))
		if resp.Outcome != "complete" || resp.PreAuthRef == "" {
			t.Errorf("outcome %q, preAuthRef %q, want an adjudication", resp.Outcome, resp.PreAuthRef)
		}
		if n := countAuthorizations(t, ts); n != 1 {
			t.Errorf("%d authorizations recorded, want 1", n)
		}
	})
}

func submittedClaimResponse(t *testing.T, r reply) rejectedClaimResponse {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &bundle); err != nil || len(bundle.Entry) == 0 {
		t.Fatalf("response is not a Bundle with entries: %v", err)
	}
	var cr rejectedClaimResponse
	if err := json.Unmarshal(bundle.Entry[0].Resource, &cr); err != nil {
		t.Fatal(err)
	}
	return cr
}
