package pas

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/go-json-experiment/json"
)

// corpusCase is the expected result of reading one corpus file.
type corpusCase struct {
	parser   string // "request", "inquiry" or "response"
	errPath  string // BundleError.Path expected; "" means success
	items    int    // request or response items expected on success
	prior    int    // len(Request.Prior) expected on success
	actions  []ReviewAction
	numbers  []string
	outcome  string
	mismatch bool // the response must fail CheckAgainst the conformant request
}

// notBundle is the expectation for every resource that is not a Bundle.
var notBundle = corpusCase{parser: "request", errPath: "Bundle.resourceType"}

// igCases covers package/example of both PAS packages. Files not listed
// (non-Bundle resources, or examples added later) are checked by profile
// in TestPASExamples.
var igCases = map[string]corpusCase{
	"2.0.1/Bundle-HomecareAuthorizationBundleExample.json":             {parser: "request", items: 2},
	"2.0.1/Bundle-HomecareAuthorizationDifferentialBundleExample.json": {parser: "request", items: 2},
	"2.0.1/Bundle-HomecareAuthorizationUpdateBundleExample.json":       {parser: "request", items: 3},
	"2.0.1/Bundle-MedicalServicesAuthorizationBundleExample.json":      {parser: "request", items: 1},
	"2.0.1/Bundle-ReferralAuthorizationBundleExample.json":             {parser: "request", items: 1},
	"2.0.1/Bundle-SurgicalRequestBundleExample.json":                   {parser: "request", items: 1},
	"2.0.1/Bundle-PASClaimInquiryBundleExample.json":                   {parser: "inquiry", items: 2},
	"2.0.1/Bundle-PASClaimInquiryResponseBundleExample.json": {parser: "response", items: 1,
		actions: []ReviewAction{CertifiedInTotal}, numbers: []string{"AUTH0001"}, outcome: "complete"},
	"2.0.1/Bundle-ReferralAuthorizationResponseBundleExample.json": {parser: "response", items: 1,
		actions: []ReviewAction{CertifiedInTotal}, numbers: []string{"AUTH0001"}, outcome: "complete"},

	"2.2.1/Bundle-HomecareAuthorizationBundleExample.json":        {parser: "request", items: 2},
	"2.2.1/Bundle-HomecareAuthorizationUpdateBundleExample.json":  {parser: "request", items: 3, prior: 1},
	"2.2.1/Bundle-MedicalServicesAuthorizationBundleExample.json": {parser: "request", items: 1},
	"2.2.1/Bundle-ReferralAuthorizationBundleExample.json":        {parser: "request", items: 1},
	"2.2.1/Bundle-SurgicalRequestBundleExample.json":              {parser: "request", items: 1},
	"2.2.1/Bundle-PASClaimInquiryBundleExample.json":              {parser: "inquiry", items: 2},
	"2.2.1/Bundle-PASClaimInquiryResponseBundleExample.json": {parser: "response", items: 1,
		actions: []ReviewAction{CertifiedInTotal}, numbers: []string{"AUTH0001"}, outcome: "complete"},
	// The 2.2.1 approval and pended examples name a PractitionerRole as
	// requestor without including it in the Bundle.
	"2.2.1/Bundle-ReferralAuthorizationResponseBundleExample.json":        {parser: "response", errPath: "Bundle.entry[0].resource.requestor"},
	"2.2.1/Bundle-ReferralPendingAuthorizationResponseBundleExample.json": {parser: "response", errPath: "Bundle.entry[0].resource.requestor"},
	"2.2.1/Bundle-RejectionResponseBundleExample.json": {parser: "response", items: 1,
		actions: []ReviewAction{NotCertified}, numbers: []string{""}, outcome: "complete"},
}

// infernoCases covers inferno-fixtures/pas, whose file names mark the
// deliberately broken fixtures.
var infernoCases = map[string]corpusCase{
	"conformant_pas_bundle_v110.json":                  {parser: "request", items: 1},
	"conformant_pas_bundle_v110_uuid.json":             {parser: "request", items: 1},
	"conformant_pas_inquire_bundle_v110.json":          {parser: "inquiry", items: 1},
	"missing_referenced_resource_request_bundle.json":  {parser: "request", errPath: "Bundle.entry[0].resource.careTeam[0].provider"},
	"nonconformant_pas_bundle_v110.json":               {parser: "request", errPath: "Bundle.entry"},
	"invalid_first_entry_response_bundle.json":         {parser: "response", errPath: "Bundle.entry[0].resource"},
	"missing_referenced_resource_response_bundle.json": {parser: "response", errPath: "Bundle.entry[0].resource.patient"},
	"pa_response_bundle_missing_elements.json":         {parser: "response", errPath: "Bundle.timestamp"},
	"response_bundle_patient_wrong_fullurl.json": {parser: "response", items: 1,
		actions: []ReviewAction{CertifiedInTotal}, numbers: []string{"AUTH0001"}, outcome: "complete", mismatch: true},
	"valid_pa_response_bundle.json": {parser: "response", items: 1,
		actions: []ReviewAction{CertifiedInTotal}, numbers: []string{"AUTH0001"}, outcome: "complete"},
	"valid_pa_response_bundle_denial.json": {parser: "response", items: 1,
		actions: []ReviewAction{NotCertified}, numbers: []string{"AUTH0001"}, outcome: "complete"},
	"PAS_notification_example_full_resource.json": {parser: "request", errPath: "Bundle.type"},
	"PAS_notification_example_id_only.json":       {parser: "request", errPath: "Bundle.type"},
	"PAS_notification_missing_elements.json":      {parser: "request", errPath: "Bundle.type"},
	"PAS_Subscription_example_full_resource.json": notBundle,
	"PAS_Subscription_example_id_only.json":       notBundle,
	"PAS_Subscription_example_v221_bad.json":      notBundle,
	"PAS_Subscription_example_v221_good.json":     notBundle,
	"pas_claim.json": notBundle,
	"pas_device_request_all_must_support.json": notBundle,
	"smart_jwks.json":                          notBundle,
}

func TestPASExamples(t *testing.T) {
	for _, version := range []string{"2.0.1", "2.2.1"} {
		dir := filepath.Join(corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-"+version+".tgz"), "package", "example")
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no examples in %s: %v", dir, err)
		}
		for _, f := range files {
			name := version + "/" + filepath.Base(f)
			t.Run(name, func(t *testing.T) {
				body := readFile(t, f)
				want, ok := igCases[name]
				if !ok {
					want = caseFromProfile(t, body)
				}
				checkCase(t, body, want, nil)
			})
		}
	}
}

func TestInfernoFixtures(t *testing.T) {
	dir := filepath.Dir(corpustest.File(t, "inferno-fixtures/pas/conformant_pas_bundle_v110.json"))
	conformant, err := ParseRequest(readFile(t, filepath.Join(dir, "conformant_pas_bundle_v110.json")))
	if err != nil {
		t.Fatalf("conformant request: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := infernoCases[name]
			if !ok {
				t.Skip("fixture without a recorded expectation")
			}
			checkCase(t, readFile(t, f), want, conformant)
		})
	}
}

// caseFromProfile derives the expectation for an IG example without a
// table row: IG examples are valid, so a Bundle parses with the parser
// its profile names, and any other resource is not a Bundle.
func caseFromProfile(t *testing.T, body []byte) corpusCase {
	var head struct {
		ResourceType string   `json:"resourceType"`
		Meta         metaJSON `json:"meta"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		t.Fatal(err)
	}
	switch {
	case head.ResourceType != "Bundle":
		return notBundle
	case hasProfile(head.Meta.Profile, ProfileRequestBundle):
		return corpusCase{parser: "request", items: -1}
	case hasProfile(head.Meta.Profile, ProfileInquiryRequestBundle):
		return corpusCase{parser: "inquiry", items: -1}
	case hasProfile(head.Meta.Profile, ProfileResponseBundle, ProfileInquiryResponseBundle):
		return corpusCase{parser: "response", items: -1}
	}
	t.Skip("Bundle example without a PAS profile")
	return corpusCase{}
}

func checkCase(t *testing.T, body []byte, want corpusCase, conformant *Request) {
	t.Helper()
	if err := fhirjson.CheckObject(body, fhirjson.DefaultLimits); err != nil {
		t.Fatalf("strict intake rejected the file: %v", err)
	}
	var (
		items   int
		err     error
		resp    *Response
		request *Request
	)
	switch want.parser {
	case "request":
		request, err = ParseRequest(body)
	case "inquiry":
		request, err = ParseInquiry(body)
	case "response":
		resp, err = ParseResponse(body)
	}
	if want.errPath != "" {
		var be *BundleError
		if !errors.As(err, &be) {
			t.Fatalf("got error %v, expected a *BundleError at %s", err, want.errPath)
		}
		if be.Path != want.errPath {
			t.Fatalf("error path %q (%v), expected %q", be.Path, be, want.errPath)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}

	if request != nil {
		items = len(request.Items)
		if len(request.Prior) != want.prior {
			t.Errorf("%d prior identifiers, expected %d", len(request.Prior), want.prior)
		}
	}
	if resp != nil {
		items = len(resp.Items)
		checkDecisions(t, resp, want)
		if conformant != nil {
			if err := resp.CheckAgainst(conformant); (err != nil) != want.mismatch {
				t.Errorf("CheckAgainst = %v, expected mismatch %v", err, want.mismatch)
			}
		}
	}
	if want.items >= 0 && items != want.items {
		t.Errorf("%d items, expected %d", items, want.items)
	}
}

func checkDecisions(t *testing.T, resp *Response, want corpusCase) {
	t.Helper()
	var actions []ReviewAction
	var numbers []string
	for _, d := range resp.Items {
		actions = append(actions, d.Action)
		numbers = append(numbers, d.Number)
	}
	if want.actions != nil && !slices.Equal(actions, want.actions) {
		t.Errorf("review actions %v, expected %v", actions, want.actions)
	}
	if want.numbers != nil && !slices.Equal(numbers, want.numbers) {
		t.Errorf("review numbers %q, expected %q", numbers, want.numbers)
	}
	if want.outcome != "" && resp.Outcome != want.outcome {
		t.Errorf("outcome %q, expected %q", resp.Outcome, want.outcome)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// demoBundles returns the paths of the PAS request examples the demo
// replays.
func demoBundles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../demo/bundles/pas-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo bundles: %v", err)
	}
	return files
}

func TestDemoBundles(t *testing.T) {
	cases := map[string]struct {
		key       string
		sequences []int
		codes     []string
		cancelled []bool
		prior     int
		traced    bool
	}{
		"pas-2.0.1-HomecareAuthorizationBundleExample.json":             {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1, 2}, []string{"G0154", "B4184"}, []bool{false, false}, 0, false},
		"pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json": {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{2, 3}, []string{"B4184", "B4185"}, []bool{true, false}, 0, false},
		"pas-2.0.1-HomecareAuthorizationUpdateBundleExample.json":       {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1, 2, 3}, []string{"G0154", "B4184", "B4185"}, []bool{false, true, false}, 0, false},
		"pas-2.0.1-MedicalServicesAuthorizationBundleExample.json":      {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1}, []string{"99212"}, []bool{false}, 0, false},
		"pas-2.0.1-ReferralAuthorizationBundleExample.json":             {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1}, []string{"3"}, []bool{false}, 0, true},
		"pas-2.0.1-SurgicalRequestBundleExample.json":                   {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|16139462398", []int{1}, []string{"33510"}, []bool{false}, 0, true},
		"pas-2.2.1-HomecareAuthorizationBundleExample.json":             {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1, 2}, []string{"G0154", "B4184"}, []bool{false, false}, 0, false},
		"pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json":       {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099-UPDATE", []int{1, 2, 3}, []string{"G0154", "B4184", "B4185"}, []bool{false, true, false}, 1, false},
		"pas-2.2.1-MedicalServicesAuthorizationBundleExample.json":      {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|111099", []int{1}, []string{"99212"}, []bool{false}, 0, false},
		"pas-2.2.1-ReferralAuthorizationBundleExample.json":             {"urn:trnorg:9012345678|111099", []int{1}, []string{"3"}, []bool{false}, 0, true},
		"pas-2.2.1-SurgicalRequestBundleExample.json":                   {"http://example.org/PATIENT_EVENT_TRACE_NUMBER|16139462398", []int{1}, []string{"33510"}, []bool{false}, 0, true},
	}
	for _, f := range demoBundles(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := cases[name]
			if !ok {
				t.Fatalf("demo bundle without a recorded expectation")
			}
			req, err := ParseRequest(readFile(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Key().Key(); got != want.key {
				t.Errorf("key %q, expected %q", got, want.key)
			}
			var seqs []int
			var codes []string
			var cancelled []bool
			for _, it := range req.Items {
				seqs = append(seqs, it.Sequence)
				codes = append(codes, it.ProductOrService[0].Code)
				cancelled = append(cancelled, it.Cancelled)
				if want.traced != (len(it.TraceNumbers) > 0) {
					t.Errorf("item %d: trace numbers %d, expected some: %v", it.Sequence, len(it.TraceNumbers), want.traced)
				}
			}
			if !slices.Equal(seqs, want.sequences) {
				t.Errorf("sequences %v, expected %v", seqs, want.sequences)
			}
			if !slices.Equal(codes, want.codes) {
				t.Errorf("codes %v, expected %v", codes, want.codes)
			}
			if !slices.Equal(cancelled, want.cancelled) {
				t.Errorf("cancelled %v, expected %v", cancelled, want.cancelled)
			}
			if len(req.Prior) != want.prior {
				t.Errorf("%d prior identifiers, expected %d", len(req.Prior), want.prior)
			}
			if got := req.Provider.Key(); got != "http://hl7.org/fhir/sid/us-npi|8189991234" {
				t.Errorf("provider key %q", got)
			}
			if !strings.HasSuffix(req.Patient.Key(), "|12345678901") {
				t.Errorf("patient key %q", req.Patient.Key())
			}
		})
	}
}
