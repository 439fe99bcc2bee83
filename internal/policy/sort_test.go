package policy

import "testing"

// A _sort key can name a chain or a _has path on servers that support
// chained sorting. Ordering Claims by the Patient's name or birth date
// reveals member data the partner has no role on, as a chained criterion
// would, so the policy must decide on _sort keys as on search parameters.
func TestSortKeyChains(t *testing.T) {
	f := loadAttacks(t)
	e := f.engine(t)
	for _, target := range []string{
		"/fhir/Claim?_sort=patient.name",
		"/fhir/Claim?_sort=-patient.birthdate",
		"/fhir/Claim?_sort=patient:Patient.name",
		"/fhir/Claim?_sort=_has:Observation:subject:code",
	} {
		t.Run(target, func(t *testing.T) {
			c := &attackCase{Partner: "demo", Scopes: "system/Claim.rs", Method: "GET", Target: target}
			in, parsed := f.input(t, c)
			if parsed != nil {
				if parsed.Allow {
					t.Fatalf("parser decision allows %s", target)
				}
				return
			}

			d := e.Decide(in)

			if d.Allow {
				t.Errorf("allowed with rule %s", d.Rule)
			}
		})
	}
}
