package pas

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/go-json-experiment/json"
)

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseRequest feeds the parsers every input the strict intake
// accepts. Properties: no parser panics, every error is a *BundleError,
// and an accepted request yields a response Bundle and an inquiry Bundle
// that parse back and match the request.
func FuzzParseRequest(f *testing.F) {
	// A minimal request first: mutations of small inputs run fast.
	f.Add([]byte(minimalRequest))
	for _, p := range demoBundles(f) {
		f.Add(readFile(f, p))
	}
	for _, name := range []string{"conformant_pas_bundle_v110_uuid.json", "conformant_pas_inquire_bundle_v110.json", "valid_pa_response_bundle.json"} {
		f.Add(readFile(f, corpustest.File(f, filepath.Join("inferno-fixtures/pas", name))))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		if fhirjson.CheckObject(body, fhirjson.DefaultLimits) != nil {
			return
		}
		if _, err := ParseInquiry(body); err != nil {
			assertBundleError(t, err)
		}
		if _, err := ParseResponse(body); err != nil {
			assertBundleError(t, err)
		}
		req, err := ParseRequest(body)
		if err != nil {
			assertBundleError(t, err)
			return
		}
		checkRoundTrip(t, req)
	})
}

// minimalRequest is the smallest request Bundle ParseRequest accepts.
const minimalRequest = `{"resourceType":"Bundle","identifier":{"system":"s","value":"b"},"type":"collection","timestamp":"2026-01-01T00:00:00Z","entry":[
{"fullUrl":"http://x/Claim/c","resource":{"resourceType":"Claim","id":"c","identifier":[{"system":"s","value":"1"}],"type":{"coding":[{"code":"professional"}]},"use":"preauthorization",
 "patient":{"reference":"Patient/p"},"insurer":{"reference":"Organization/i"},"provider":{"reference":"Organization/i"},
 "insurance":[{"coverage":{"reference":"Coverage/v"}}],"item":[{"sequence":1,"productOrService":{"coding":[{"system":"s","code":"A"}]}}]}},
{"fullUrl":"http://x/Patient/p","resource":{"resourceType":"Patient","id":"p","identifier":[{"system":"m","value":"2"}]}},
{"fullUrl":"http://x/Organization/i","resource":{"resourceType":"Organization","id":"i","identifier":[{"system":"n","value":"3"}]}},
{"fullUrl":"http://x/Coverage/v","resource":{"resourceType":"Coverage","id":"v"}}]}`

func TestMinimalRequest(t *testing.T) {
	req, err := ParseRequest([]byte(minimalRequest))
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	checkRoundTrip(t, req)
}

func assertBundleError(t *testing.T, err error) {
	t.Helper()
	if _, ok := err.(*BundleError); !ok {
		t.Fatalf("error %v is a %T, expected *BundleError", err, err)
	}
}

func checkRoundTrip(t *testing.T, req *Request) {
	t.Helper()
	out, err := BuildResponse(req, Adjudication{ID: testID, PreAuthRef: "PA-1", Created: testTime, Decisions: approveAll(req)})
	if err != nil {
		// Only a fullUrl collision with the new ClaimResponse is allowed.
		return
	}
	resp, err := ParseResponse([]byte(out))
	if err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	if err := resp.CheckAgainst(req); err != nil {
		t.Fatalf("response does not match the request: %v", err)
	}

	inqBody, err := BuildInquiry(req, InquiryParams{ClaimID: testID, BundleIdentifier: inquiryID, Created: testTime})
	if err != nil {
		return
	}
	inq, err := ParseInquiry(inqBody)
	if err != nil {
		t.Fatalf("inquiry does not parse: %v", err)
	}
	if inq.Key() != req.Key() || !inq.Patient.SameAs(req.Patient) {
		t.Fatalf("inquiry asks about another claim or patient")
	}
}
