package validate

import (
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
