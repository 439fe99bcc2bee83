package fhirpkg

import "testing"

// TestHRexResolvesVersionedCanonical checks that "|1.0.0" canonicals of
// HRex resolve: the published guide gives every resource its version, and
// the XML source the package is built from has none.
func TestHRexResolvesVersionedCanonical(t *testing.T) {
	pkgs, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	const url = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-coverage"
	if set.Resolve(url) == nil {
		t.Fatal("hrex-coverage not found")
	}
	if set.Resolve(url+"|1.0.0") == nil {
		t.Errorf("%s|1.0.0 not found", url)
	}
}
