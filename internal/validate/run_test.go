package validate

import (
	"fmt"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// TestAddInsideProfileCheck checks that a run records only errors while a
// profile check is under way, and every severity outside one.
func TestAddInsideProfileCheck(t *testing.T) {
	r := newRun(shared(t))
	defer r.release()

	r.conformanceChecks = 1
	r.warnf(outcome.CodeValue, "Patient.gender", "inside: %s", "warning")
	r.infof(outcome.CodeInformational, "Patient.gender", "inside: information")
	r.errorf(outcome.CodeValue, "Patient.gender", "inside: %s", "error")
	if len(r.issues) != 1 || r.issues[0].Severity != outcome.Error {
		t.Fatalf("inside a profile check: issues %+v, want the error only", r.issues)
	}

	r.conformanceChecks = 0
	r.warnf(outcome.CodeValue, "Patient.gender", "outside: warning")
	if len(r.issues) != 2 || r.issues[1].Severity != outcome.Warning {
		t.Fatalf("outside a profile check: issues %+v, want the warning recorded", r.issues)
	}
}

// TestAddRecordsEachIssueOnce adds issues twice, in numbers below and
// past linearIssues, and through merge: each distinct issue (severity,
// code, location, message) is recorded once, in the order first added.
func TestAddRecordsEachIssueOnce(t *testing.T) {
	r := newRun(shared(t))
	defer r.release()

	const n = 3 * linearIssues
	for round := range 2 {
		for i := range n {
			r.errorf(outcome.CodeValue, fmt.Sprintf("Patient.name[%d]", i), "issue %d", i)
			if round == 0 && i == linearIssues/2 {
				// Same message, another location or severity: distinct.
				r.errorf(outcome.CodeValue, "Patient.gender", "issue %d", i)
				r.warnf(outcome.CodeValue, fmt.Sprintf("Patient.name[%d]", i), "issue %d", i)
			}
		}
	}
	r.merge(append([]outcome.Issue(nil), r.issues...))
	if len(r.issues) != n+2 {
		t.Fatalf("%d issues recorded, want %d", len(r.issues), n+2)
	}
	for i, is := range r.issues[:linearIssues/2+1] {
		if want := fmt.Sprintf("issue %d", i); is.Diagnostics != want || is.Expression[0] != fmt.Sprintf("Patient.name[%d]", i) {
			t.Fatalf("issue %d is %+v, want %q at Patient.name[%d]", i, is, want, i)
		}
	}
}
