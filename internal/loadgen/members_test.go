package loadgen

import (
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/members"
)

// TestMemberSeedsOnePerPatient checks that every patient of the built-in
// load is seeded exactly once, so that a payer storing the seeds
// adjudicates the whole load.
func TestMemberSeedsOnePerPatient(t *testing.T) {
	reqs, err := Builtin(0, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	patients := map[string]bool{}
	for _, r := range reqs {
		m, _, err := members.RequestMember(r.Fill(nil, "b", "c"))
		if err != nil {
			t.Fatalf("a built-in request's patient cannot be a member: %v", err)
		}
		patients[m.ID] = true
	}
	seed, skipped := MemberSeeds(reqs)
	if skipped != 0 {
		t.Errorf("skipped = %d, want 0", skipped)
	}
	if len(seed) != len(patients) {
		t.Fatalf("%d seeds for %d distinct patients", len(seed), len(patients))
	}
	seeded := map[string]bool{}
	for _, body := range seed {
		m, _, err := members.RequestMember(body)
		if err != nil {
			t.Fatal(err)
		}
		if seeded[m.ID] {
			t.Errorf("patient %s seeded twice", m.ID)
		}
		seeded[m.ID] = true
	}
}
