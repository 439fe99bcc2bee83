package loadgen

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/strict"
	"github.com/gatehouse-health/gatehouse/internal/validate"
)

const requestBundleProfile = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle"

var (
	validatorOnce sync.Once
	validator     *validate.Validator
	validatorErr  error
)

// pasValidator is a validator resolving PAS profiles to version 2.2.1,
// the version the converted Bundles declare.
func pasValidator(t *testing.T) *validate.Validator {
	t.Helper()
	validatorOnce.Do(func() {
		validator, validatorErr = validate.New(validate.Options{Context: []string{"hl7.fhir.us.davinci-pas#2.2.1"}})
	})
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	return validator
}

// checkConforms fails the test for every error the validator reports on
// doc against the PAS request Bundle profile.
func checkConforms(t *testing.T, v *validate.Validator, name string, doc []byte) {
	t.Helper()
	res, err := v.Validate(doc, requestBundleProfile)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.Valid() {
		return
	}
	for _, is := range res.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			t.Errorf("%s: %s at %v: %s", name, is.Severity, is.Expression, is.Diagnostics)
		}
	}
}

// checkRequest parses doc as the payer does and checks the parties the
// gateway's identity congruence compares.
func checkRequest(t *testing.T, name string, doc []byte, items int, claimID string) {
	t.Helper()
	req, err := pas.ParseRequest(doc)
	if err != nil {
		t.Fatalf("%s: pas.ParseRequest: %v", name, err)
	}
	if got := req.Key(); got != (pas.Identifier{System: ClaimIDSystem, Value: claimID}) {
		t.Errorf("%s: Claim key %v, want the filled identifier %q", name, got, claimID)
	}
	if len(req.Items) != items {
		t.Errorf("%s: %d items, Template.Items is %d", name, len(req.Items), items)
	}
	if got := req.Provider.Key(); got != "http://hl7.org/fhir/sid/us-npi|"+RequestorNPI {
		t.Errorf("%s: provider %q, want the requestor NPI", name, got)
	}
	if got := req.Insurer.Key(); got != "http://hl7.org/fhir/sid/us-npi|"+InsurerNPI {
		t.Errorf("%s: insurer %q, want the insurer NPI", name, got)
	}
}

// TestSyntheaConversionConforms converts every claim of the Synthea
// sample and validates each Bundle against the PAS request Bundle
// profile, as the gateway's strict mode does.
func TestSyntheaConversionConforms(t *testing.T) {
	archive := corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz")
	reqs, st, err := FromSynthea(archive, SyntheaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Patients != 199 || st.Claims != 3931 {
		t.Errorf("read %d patients and %d claims, want the sample's 199 and 3931", st.Patients, st.Claims)
	}
	if st.Requests != len(reqs) || st.Requests+st.Skipped[SkipUninsured] != st.Claims {
		t.Errorf("stats %+v: requests and skipped claims do not add up to the claims", st)
	}

	v := pasValidator(t)
	sizes := map[int]int{}
	for i, tmpl := range reqs {
		id := fmt.Sprintf("test-%d", i)
		doc := tmpl.Fill(nil, id, id)
		if len(doc) != tmpl.Size(len(id)) {
			t.Errorf("%s: Fill wrote %d bytes, Size returns %d", tmpl.Name, len(doc), tmpl.Size(len(id)))
		}
		checkConforms(t, v, tmpl.Name, doc)
		checkRequest(t, tmpl.Name, doc, tmpl.Items, id)
		sizes[tmpl.Items]++
		if t.Failed() {
			t.Fatalf("stopping at the first failing request, %s:\n%s", tmpl.Name, doc)
		}
	}
	// The claims keep Synthea's item counts: one to eight items.
	if sizes[1] == 0 || sizes[4] == 0 || sizes[7] == 0 {
		t.Errorf("item counts %v, want Synthea's spread from 1 to 7 and more", sizes)
	}
}

// TestStrictModeAcceptsConverted runs a sample of converted requests
// through the checker the gateway uses in strict mode.
func TestStrictModeAcceptsConverted(t *testing.T) {
	checker, err := strict.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := FromSynthea(corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz"), SyntheaOptions{MaxRequests: 400})
	if err != nil {
		t.Fatal(err)
	}
	reqs = append(reqs, builtinRequests(t, 100)...)
	for i := 0; i < len(reqs); i += 10 {
		doc := reqs[i].Fill(nil, "b", "c")
		oo, err := checker.CheckRequest("Claim/$submit", doc)
		if err != nil {
			t.Fatal(err)
		}
		if oo != nil {
			t.Errorf("%s: strict mode refuses it: %+v", reqs[i].Name, oo)
		}
	}
}

func TestSyntheaSkipsWhatPASCannotCarry(t *testing.T) {
	reqs, st, err := FromSynthea(corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz"), SyntheaOptions{MaxRequests: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 30 || st.Requests != 30 {
		t.Errorf("%d requests (stats %d), want MaxRequests 30", len(reqs), st.Requests)
	}
	doc := string(reqs[0].Fill(nil, "b", "c"))
	for _, dropped := range []string{"us-ssn", "synthetichealth.github.io/synthea/", "patient-birthPlace", `"use":"claim"`, `"pharmacy"`} {
		if strings.Contains(doc, dropped) {
			t.Errorf("the converted Bundle still contains %q", dropped)
		}
	}
}

func TestBuiltinConforms(t *testing.T) {
	now := time.Now()
	reqs, err := Builtin(0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != BuiltinRequests {
		t.Fatalf("%d built-in requests, want %d", len(reqs), BuiltinRequests)
	}
	v := pasValidator(t)
	for i, tmpl := range reqs {
		id := fmt.Sprintf("b-%d", i)
		doc := tmpl.Fill(nil, id, id)
		checkConforms(t, v, tmpl.Name, doc)
		checkRequest(t, tmpl.Name, doc, tmpl.Items, id)
		if t.Failed() {
			t.Fatalf("stopping at the first failing request, %s:\n%s", tmpl.Name, doc)
		}
	}

	again, err := Builtin(0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if reqs[i].Items != again[i].Items || reqs[i].Size(4) != again[i].Size(4) {
			t.Fatalf("request %d differs between two runs with the same seed", i)
		}
	}
}

func TestFromDirRestampsIdentifiers(t *testing.T) {
	reqs, skipped, err := FromDir("../demo/bundles")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].File != "pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json" {
		t.Errorf("skipped %+v, want only the PAS 2.2.1 update, which names a prior Claim", skipped)
	}
	if len(reqs) != 8 {
		t.Errorf("%d templates, want the 8 other shipped bundles", len(reqs))
	}
	for _, tmpl := range reqs {
		doc := tmpl.Fill(nil, "bundle-1", "claim-1")
		req, err := pas.ParseRequest(doc)
		if err != nil {
			t.Errorf("%s: the restamped bundle does not parse: %v", tmpl.Name, err)
			continue
		}
		if req.Key().Value != "claim-1" || len(req.Items) != tmpl.Items {
			t.Errorf("%s: Claim key %v with %d items, want value claim-1 and %d items", tmpl.Name, req.Key(), len(req.Items), tmpl.Items)
		}
		if !strings.Contains(string(req.BundleIdentifier), `"value":"bundle-1"`) {
			t.Errorf("%s: Bundle.identifier %s, want value bundle-1", tmpl.Name, req.BundleIdentifier)
		}
	}
}

func TestFromDirRejectsNonBundles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/patient.json", `{"resourceType":"Patient","id":"p1"}`)
	if _, _, err := FromDir(dir); err == nil || !strings.Contains(err.Error(), "not a PAS request bundle") {
		t.Errorf("FromDir error = %v, want one naming the file that is not a PAS request bundle", err)
	}
	if _, _, err := FromDir(t.TempDir()); err == nil {
		t.Error("FromDir on an empty directory succeeded")
	}
}

func TestTemplateFill(t *testing.T) {
	m := markers{bundle: "B-SLOT", claim: "C-SLOT"}
	tmpl, err := m.cut("t", 1, []byte(`{"a":"B-SLOT","b":{"c":"C-SLOT"},"d":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(tmpl.Fill(nil, "x1", "y22")); got != `{"a":"x1","b":{"c":"y22"},"d":1}` {
		t.Errorf("Fill = %s", got)
	}
	if got := tmpl.Size(3); got != len(`{"a":"","b":{"c":""},"d":1}`)+6 {
		t.Errorf("Size(3) = %d", got)
	}
	swapped, err := m.cut("t", 1, []byte(`{"b":{"c":"C-SLOT"},"a":"B-SLOT"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(swapped.Fill(nil, "x1", "y22")); got != `{"b":{"c":"y22"},"a":"x1"}` {
		t.Errorf("Fill with the Claim hole first = %s", got)
	}
	for _, doc := range []string{`{"a":"B-SLOT"}`, `{"a":"B-SLOT","b":"B-SLOT","c":"C-SLOT"}`} {
		if _, err := m.cut("t", 1, []byte(doc)); err == nil {
			t.Errorf("cut(%s) succeeded, want each marker once", doc)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
