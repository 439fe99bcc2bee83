package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
)

const pasRequestBundle = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle"

// profileCheckCounts are the counters of one run (see run.sandboxedChecks).
type profileCheckCounts struct{ sandboxed, entry, reused int }

// documentRun validates body in a new run and returns the run, which the
// caller releases after reading its counters.
func documentRun(t *testing.T, v *Validator, body []byte, errorsOnly bool, profiles ...string) *run {
	t.Helper()
	r := newRun(v)
	r.errorsOnly = errorsOnly
	tree, err := parseTreeIn(body, v.limits, &r.tree)
	if err != nil {
		r.release()
		t.Fatal(err)
	}
	if err := r.document(tree, body, profiles); err != nil {
		r.release()
		t.Fatal(err)
	}
	return r
}

// countProfileChecks validates body with Check and returns the run's
// profile check counters.
func countProfileChecks(t *testing.T, v *Validator, body []byte, profiles ...string) profileCheckCounts {
	t.Helper()
	r := documentRun(t, v, body, true, profiles...)
	defer r.release()
	return profileCheckCounts{r.sandboxedChecks, r.entryChecks, r.reusedEntryChecks}
}

// readPASDemoBundle returns the PAS 2.2.1 demo request Bundle.
func readPASDemoBundle(t *testing.T) []byte {
	t.Helper()
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// validatorPair returns a validator built by newValidator and a second one
// that runs no entry checks.
func validatorPair(t *testing.T, newValidator func() (*Validator, error)) (withEntryChecks, without *Validator) {
	t.Helper()
	var vs [2]*Validator
	for i := range vs {
		v, err := newValidator()
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	vs[1].noEntryChecks = true
	return vs[0], vs[1]
}

// pasValidators returns a validator for PAS version and one that runs no
// entry checks.
func pasValidators(t *testing.T, version string) (withEntryChecks, without *Validator) {
	t.Helper()
	return validatorPair(t, func() (*Validator, error) {
		return New(Options{Context: []string{"hl7.fhir.us.davinci-pas#" + version}})
	})
}

// definitionValidators returns a validator for a package of the given
// StructureDefinitions on R4 core, and one that runs no entry checks.
func definitionValidators(t *testing.T, packageName string, definitions ...string) (withEntryChecks, without *Validator) {
	t.Helper()
	return validatorPair(t, func() (*Validator, error) {
		pkg := fhirpkg.NewPackage(packageName, "1.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
		for _, sd := range definitions {
			if err := pkg.AddResource([]byte(sd)); err != nil {
				return nil, err
			}
		}
		return New(Options{Packages: []*fhirpkg.Package{pkg}})
	})
}

// The referenced entries of the PAS request Bundle are checked against
// their target profiles once, in entry checks that the Bundle's walk
// reuses, instead of once in a sandbox and once more in the walk. Only
// the Patient, which the reference checks against a second profile
// besides the one it declares, still gets a sandboxed check.
func TestEntryChecksReplaceSandboxedChecks(t *testing.T) {
	body := readPASDemoBundle(t)
	v, old := pasValidators(t, "2.2.1")
	got := countProfileChecks(t, v, body, pasRequestBundle)
	before := countProfileChecks(t, old, body, pasRequestBundle)
	if before.sandboxed != 8 {
		t.Fatalf("without entry checks: %+v, want 8 sandboxed profile checks", before)
	}
	if before.entry != 0 {
		t.Fatalf("without entry checks: %+v, want no entry checks", before)
	}
	if got.sandboxed >= before.sandboxed {
		t.Errorf("sandboxed profile checks = %d, want fewer than the %d without entry checks", got.sandboxed, before.sandboxed)
	}
	if got.reused != 7 {
		t.Errorf("entry checks the walk reused = %d, want 7", got.reused)
	}
}

// compareEntryChecks validates body with and without entry checks, with
// Validate and with Check, and fails on any difference in the results.
func compareEntryChecks(t *testing.T, v, old *Validator, name string, body []byte, profiles ...string) {
	t.Helper()
	for _, mode := range []string{"Validate", "Check"} {
		run, runOld := v.Validate, old.Validate
		if mode == "Check" {
			run, runOld = v.Check, old.Check
		}
		got, err1 := run(body, profiles...)
		want, err2 := runOld(body, profiles...)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", name, err1, err2)
		}
		if got.Valid() != want.Valid() {
			t.Errorf("%s %v: %s with entry checks: valid %v, without: valid %v", name, profiles, mode, got.Valid(), want.Valid())
		}
		if !reflect.DeepEqual(got.Issues, want.Issues) {
			t.Errorf("%s %v: %s issues differ with entry checks:\n got %v\nwant %v", name, profiles, mode, got.Issues, want.Issues)
		}
	}
}

// The PAS examples and demo Bundles get the same issues, in the same
// order, with entry checks as without.
func TestEntryChecksAgreeOnExamples(t *testing.T) {
	for _, version := range []string{"2.0.1", "2.2.1"} {
		v, old := pasValidators(t, version)
		demo, _ := filepath.Glob(filepath.Join("..", "demo", "bundles", "pas-"+version+"-*.json"))
		dir := filepath.Join(corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-"+version+".tgz"), "package", "example")
		examples, _ := filepath.Glob(filepath.Join(dir, "Bundle-*.json"))
		files := append(demo, examples...)
		if len(demo) == 0 || len(examples) == 0 {
			t.Fatalf("PAS %s: %d demo Bundles and %d example Bundles found", version, len(demo), len(examples))
		}
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			compareEntryChecks(t, v, old, filepath.Base(f), body)
			compareEntryChecks(t, v, old, filepath.Base(f), body, pasRequestBundle)
		}
	}
}

// editedBundle returns the PAS 2.2.1 demo request Bundle after edit has
// changed its decoded entries.
func editedBundle(t *testing.T, edit func(entries []any)) []byte {
	t.Helper()
	body := readPASDemoBundle(t)
	var bundle map[string]any
	if err := json.Unmarshal(body, &bundle); err != nil {
		t.Fatal(err)
	}
	edit(bundle["entry"].([]any))
	out, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// entryResource returns the resource of the first entry of type typ.
func entryResource(t *testing.T, entries []any, typ string) map[string]any {
	t.Helper()
	for _, e := range entries {
		res := e.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] == typ {
			return res
		}
	}
	t.Fatalf("no %s entry", typ)
	return nil
}

// Entry checks count for the verdict of a profile check only the errors
// a sandboxed check raises too. An invariant that fails and a reference
// that does not resolve inside the referenced Coverage are reported at
// the Coverage, but the Claim's reference to it still conforms. An
// unknown element makes it not conform. Entries referred to after the
// walk passed them, and a reference cycle, are checked as before.
func TestEntryChecksAgreeOnEdits(t *testing.T) {
	v, old := pasValidators(t, "2.2.1")
	edits := []struct {
		name  string
		edit  func(entries []any)
		entry bool // an entry check of the Coverage runs and the walk reuses it
	}{
		{"failed invariant in the Coverage", func(entries []any) {
			entryResource(t, entries, "Coverage")["period"] = map[string]any{"start": "2024-02-01", "end": "2024-01-01"}
		}, true},
		{"unresolved references in the Coverage", func(entries []any) {
			cov := entryResource(t, entries, "Coverage")
			cov["payor"] = []any{map[string]any{"reference": "#missing"}, map[string]any{"reference": "Organization/missing"}}
		}, true},
		{"unknown element in the Coverage", func(entries []any) {
			entryResource(t, entries, "Coverage")["unknownElement"] = true
		}, true},
		{"Claim after its references' targets", func(entries []any) {
			entries[0], entries[len(entries)-1] = entries[len(entries)-1], entries[0]
		}, false},
		{"Coverage declaring a second profile", func(entries []any) {
			meta := entryResource(t, entries, "Coverage")["meta"].(map[string]any)
			meta["profile"] = append(meta["profile"].([]any), "http://hl7.org/fhir/us/core/StructureDefinition/us-core-coverage")
		}, false},
	}
	for _, tc := range edits {
		body := editedBundle(t, tc.edit)
		compareEntryChecks(t, v, old, tc.name, body)
		compareEntryChecks(t, v, old, tc.name, body, pasRequestBundle)
		// A second Bundle definition walks every entry twice.
		compareEntryChecks(t, v, old, tc.name, body, pasRequestBundle, coreURL+"Bundle")
		counts := countProfileChecks(t, v, body, pasRequestBundle)
		if tc.entry && counts.reused == 0 {
			t.Errorf("%s: no entry check reused (%+v), so the case does not test them", tc.name, counts)
		}
	}
}

// Two organizations that name each other in partOf, each declaring the
// profile that requires partOf to conform to it (see cycle_test.go).
// Their entry checks meet the check under way, so the walk does not
// reuse them, and the results match those without entry checks.
func TestEntryChecksAgreeOnCycle(t *testing.T) {
	v, old := definitionValidators(t, "test.cycle", cycleOrgProfile, cyclePatientProfile)
	org := func(id, active, partOf string) string {
		return `{"fullUrl":"http://x.test/Organization/` + id + `","resource":{"resourceType":"Organization","id":"` + id +
			`","meta":{"profile":["http://x.test/sd/org"]},"name":"` + id + `","active":` + active + `,"partOf":{"reference":"Organization/` + partOf + `"}}}`
	}
	patient := func(id, managing string) string {
		return `{"fullUrl":"http://x.test/Patient/` + id + `","resource":{"resourceType":"Patient","id":"` + id +
			`","meta":{"profile":["http://x.test/sd/patient"]},"managingOrganization":{"reference":"Organization/` + managing + `"}}}`
	}
	for _, active := range []string{"true", "false"} {
		entries := []string{patient("p1", "org1"), patient("p2", "org2"), org("org1", active, "org2"), org("org2", "true", "org1")}
		bundle := `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
		compareEntryChecks(t, v, old, "cycle, org1 active "+active, []byte(bundle))
		if counts := countProfileChecks(t, v, []byte(bundle)); counts.entry == 0 {
			t.Errorf("cycle, org1 active %s: no entry check ran (%+v), so the case does not test them", active, counts)
		}
	}
}

// An Organization profile whose identifier slicing has no discriminator,
// so that values are matched to the slice by validating them, and is
// closed. Matching in the walk evaluates invariants, and matching in a
// profile check does not.
const slicedOrgProfile = `{"resourceType":"StructureDefinition","url":"http://x.test/sd/sliced-org","name":"SlicedOrg","status":"active","kind":"resource","abstract":false,"type":"Organization","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Organization","differential":{"element":[
{"id":"Organization.identifier","path":"Organization.identifier","slicing":{"rules":"closed"}},
{"id":"Organization.identifier:any","path":"Organization.identifier","sliceName":"any","min":0,"max":"*"}]}}`

const slicedOrgPatientProfile = `{"resourceType":"StructureDefinition","url":"http://x.test/sd/sliced-org-patient","name":"SlicedOrgPat","status":"active","kind":"resource","abstract":false,"type":"Patient","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","differential":{"element":[
{"id":"Patient.managingOrganization","path":"Patient.managingOrganization","type":[{"code":"Reference","targetProfile":["http://x.test/sd/sliced-org"]}]}]}}`

// An entry check that matched slices in a nested sandbox does not decide
// its profile check. An identifier whose period fails an invariant
// matches no slice in the walk but matches in the profile check. So the
// Patient's reference to the Organization conforms.
func TestEntryChecksAgreeOnSliceMatching(t *testing.T) {
	v, old := definitionValidators(t, "test.slices", slicedOrgProfile, slicedOrgPatientProfile)
	for _, period := range []string{`{"start":"2024-01-01","end":"2024-02-01"}`, `{"start":"2024-02-01","end":"2024-01-01"}`} {
		bundle := `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"http://x.test/Patient/p1","resource":{"resourceType":"Patient","id":"p1","meta":{"profile":["http://x.test/sd/sliced-org-patient"]},"managingOrganization":{"reference":"Organization/org1"}}},` +
			`{"fullUrl":"http://x.test/Organization/org1","resource":{"resourceType":"Organization","id":"org1","meta":{"profile":["http://x.test/sd/sliced-org"]},"name":"One",` +
			`"identifier":[{"system":"http://x.test/ids","value":"1","period":` + period + `}]}}]}`
		compareEntryChecks(t, v, old, "identifier period "+period, []byte(bundle))
		counts := countProfileChecks(t, v, []byte(bundle))
		if counts.entry == 0 {
			t.Errorf("identifier period %s: %+v, want an entry check", period, counts)
		}
		if counts.reused == 0 {
			t.Errorf("identifier period %s: %+v, want the walk to reuse the entry check", period, counts)
		}
	}
}

// A chain of Organizations, each partOf the next, nests the entry check
// of the last one so deep that its contained Organization meets the
// nesting limit, which the Bundle's walk of that entry does not meet. The
// walk therefore validates the entry again instead of reusing the check,
// and reports no nesting-limit error at the contained Organization.
func TestEntryChecksAgreeAtNestingLimit(t *testing.T) {
	v, old := definitionValidators(t, "test.nesting", cycleOrgProfile, cyclePatientProfile)
	org := func(id, extra string) string {
		return `{"fullUrl":"http://x.test/Organization/` + id + `","resource":{"resourceType":"Organization","id":"` + id +
			`","meta":{"profile":["http://x.test/sd/org"]},"name":"` + id + `","active":true` + extra + `}}`
	}
	// The Bundle, the Patient and each Organization before the last one
	// add a nesting level, so the last one's entry check runs at
	// maxNesting-1 and its contained resource would run at maxNesting.
	last := maxNesting - 3
	entries := []string{`{"fullUrl":"http://x.test/Patient/p1","resource":{"resourceType":"Patient","id":"p1",` +
		`"meta":{"profile":["http://x.test/sd/patient"]},"managingOrganization":{"reference":"Organization/org0"}}}`}
	for i := range last {
		entries = append(entries, org(fmt.Sprintf("org%d", i), fmt.Sprintf(`,"partOf":{"reference":"Organization/org%d"}`, i+1)))
	}
	entries = append(entries, org(fmt.Sprintf("org%d", last), `,"contained":[{"resourceType":"Organization","id":"sub",`+
		`"meta":{"profile":["http://x.test/sd/org"]},"name":"sub","active":true}],"partOf":{"reference":"#sub"}`))
	body := []byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`)

	compareEntryChecks(t, v, old, "chain to the nesting limit", body)
	if counts := countProfileChecks(t, v, body); counts.entry <= last {
		t.Errorf("%+v, want an entry check of each of the %d Organizations", counts, last+1)
	}
	res, err := v.Validate(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, "nested deeper than") {
			t.Errorf("issue %v: the walk reports the nesting limit, which only the entry check met", is)
		}
	}
}
