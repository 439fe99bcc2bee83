package validate

import (
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

// The Organization profile requires active true and a partOf that conforms to
// itself; the Patient profile requires a managing organization that
// conforms to it. Two organizations name each other in partOf, so checking
// one of them runs into the check of the other.
const (
	cycleOrgProfile = `{"resourceType":"StructureDefinition","url":"http://x.test/sd/org","name":"Org","status":"active","kind":"resource","abstract":false,"type":"Organization","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Organization","differential":{"element":[
{"id":"Organization.active","path":"Organization.active","fixedBoolean":true},
{"id":"Organization.partOf","path":"Organization.partOf","type":[{"code":"Reference","targetProfile":["http://x.test/sd/org"]}]}]}}`
	cyclePatientProfile = `{"resourceType":"StructureDefinition","url":"http://x.test/sd/patient","name":"Pat","status":"active","kind":"resource","abstract":false,"type":"Patient","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","differential":{"element":[
{"id":"Patient.managingOrganization","path":"Patient.managingOrganization","type":[{"code":"Reference","targetProfile":["http://x.test/sd/org"]}]}]}}`
)

// TestReferenceCycleResultNotCached checks that a profile check which
// leaned on a check still under way is not reused. org1 is not active,
// so it does not conform, and org2 does not either, because its partOf is
// org1. While org1's check runs, org2's check finds org1 under way and
// assumes it conforms. Caching that result would let the second
// patient's reference to org2 pass.
func TestReferenceCycleResultNotCached(t *testing.T) {
	pkg := fhirpkg.NewPackage("test.cycle", "1.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
	for _, sd := range []string{cycleOrgProfile, cyclePatientProfile} {
		if err := pkg.AddResource([]byte(sd)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := New(Options{Packages: []*fhirpkg.Package{pkg}})
	if err != nil {
		t.Fatal(err)
	}
	patient := func(id, org string) string {
		return `{"fullUrl":"http://x.test/Patient/` + id + `","resource":{"resourceType":"Patient","id":"` + id +
			`","meta":{"profile":["http://x.test/sd/patient"]},"managingOrganization":{"reference":"Organization/` + org + `"}}}`
	}
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[` +
		patient("p1", "org1") + `,` + patient("p2", "org2") + `,` +
		`{"fullUrl":"http://x.test/Organization/org1","resource":{"resourceType":"Organization","id":"org1","name":"One","active":false,"partOf":{"reference":"Organization/org2"}}},` +
		`{"fullUrl":"http://x.test/Organization/org2","resource":{"resourceType":"Organization","id":"org2","name":"Two","active":true,"partOf":{"reference":"Organization/org1"}}}]}`

	res, err := v.Validate([]byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bundle.entry[0].resource.managingOrganization", "Bundle.entry[1].resource.managingOrganization"} {
		found := false
		for _, is := range res.Issues {
			if is.Severity == "error" && len(is.Expression) > 0 && strings.HasPrefix(is.Expression[0], want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error at %s; issues: %+v", want, res.Issues)
		}
	}
}
