package payer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func TestHTTPRejections(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		referral := demoBundle(t, referral221)
		patientOnly := []byte(`{"resourceType":"Patient","id":"p","identifier":[{"system":"http://example.org/MIN","value":"12345678901"}]}`)
		cases := []struct {
			name        string
			method      string
			path        string
			contentType string
			body        []byte
			status      int
			code        string
			expression  []string
		}{
			{"text/plain", "POST", "/Claim/$submit", "text/plain", referral, 415, "not-supported", nil},
			{"XML", "POST", "/Claim/$submit", "application/fhir+xml", referral, 415, "not-supported", nil},
			{"no content type", "POST", "/Claim/$submit", "", referral, 415, "not-supported", nil},
			{"Latin-1 charset", "POST", "/Claim/$submit", "application/fhir+json; charset=iso-8859-1", referral, 415, "not-supported", nil},
			{"FHIR R5 version", "POST", "/Claim/$submit", "application/fhir+json; fhirVersion=5.0", referral, 415, "not-supported", nil},
			{"oversize", "POST", "/Claim/$submit", fhirJSONType, append(referral, bytes.Repeat([]byte(" "), 200<<10)...), 413, "too-long", nil},
			{"duplicate keys", "POST", "/Claim/$submit", fhirJSONType, []byte(`{"resourceType":"Bundle","resourceType":"Bundle"}`), 400, "structure", nil},
			{"trailing data", "POST", "/Claim/$submit", fhirJSONType, append(append([]byte{}, referral...), []byte(`{}`)...), 400, "structure", nil},
			{"top-level array", "POST", "/Claim/$submit", fhirJSONType, []byte(`[]`), 400, "structure", nil},
			{"not a Bundle", "POST", "/Claim/$submit", fhirJSONType, patientOnly, 400, "invalid", []string{"Bundle.resourceType"}},
			{"inquiry sent to $submit", "POST", "/Claim/$submit", fhirJSONType, inquiryFor(t, referral), 400, "invalid", []string{"Bundle.meta.profile"}},
			{"Claim use claim", "POST", "/Claim/$submit", fhirJSONType, rewrite(t, referral, func(b map[string]any) {
				resourceAt(b, "Claim")["use"] = "claim"
			}), 422, "business-rule", []string{"Bundle.entry[0].resource.use"}},
			{"unknown path", "GET", "/Patient/123", "", nil, 404, "not-found", nil},
			{"GET on $submit", "GET", "/Claim/$submit", "", nil, 405, "not-supported", nil},
			{"POST on metadata", "POST", "/metadata", fhirJSONType, []byte(`{}`), 405, "not-supported", nil},
		}
		ts := newTestService(t, b, Options{MaxBodyBytes: 200 << 10})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, ts.url+tc.path, bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				r := ts.do(t, req)
				if r.status != tc.status {
					t.Fatalf("status %d, expected %d: %s", r.status, tc.status, r.body)
				}
				oo := mustOutcome(t, r.body)
				if string(oo.Issue[0].Code) != tc.code {
					t.Errorf("issue code %q, expected %q", oo.Issue[0].Code, tc.code)
				}
				if tc.expression != nil && !slices.Equal(oo.Issue[0].Expression, tc.expression) {
					t.Errorf("expression %v, expected %v", oo.Issue[0].Expression, tc.expression)
				}
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
					t.Errorf("Content-Type %q, expected FHIR JSON", ct)
				}
				for _, m := range phiMarkers {
					if bytes.Contains(r.body, []byte(m)) {
						t.Errorf("error body echoes request content %q", m)
					}
				}
			})
		}
		if n := countAuthorizations(t, ts); n != 0 {
			t.Errorf("rejected requests recorded %d authorizations", n)
		}
	})
}

func TestOversizeStreamedBody(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		// Without Content-Length the cap applies while reading.
		ts := newTestService(t, b, Options{MaxBodyBytes: 1 << 10})
		body := io.MultiReader(bytes.NewReader(demoBundle(t, referral221)))
		req, err := http.NewRequest(http.MethodPost, ts.url+"/Claim/$submit", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", fhirJSONType)
		req.ContentLength = -1
		if r := ts.do(t, req); r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, expected 413", r.status)
		}
	})
}

func TestAcceptedContentTypes(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		for _, ct := range []string{"application/fhir+json", "application/json", "application/fhir+json; charset=UTF-8", "application/json;charset=utf-8", "application/fhir+json; fhirVersion=4.0"} {
			t.Run(ct, func(t *testing.T) {
				ts := newTestService(t, b, Options{})
				mustResponse(t, ts.post(t, "/Claim/$submit", ct, demoBundle(t, referral221)))
			})
		}
	})
}

func TestMetadata(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		r := ts.get(t, "/metadata")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var cs struct {
			ResourceType string   `json:"resourceType"`
			Kind         string   `json:"kind"`
			FHIRVersion  string   `json:"fhirVersion"`
			Format       []string `json:"format"`
			Instantiates []string `json:"instantiates"`
			Date         string   `json:"date"`
			Rest         []struct {
				Mode     string `json:"mode"`
				Resource []struct {
					Type      string `json:"type"`
					Operation []struct {
						Name       string `json:"name"`
						Definition string `json:"definition"`
					} `json:"operation"`
				} `json:"resource"`
			} `json:"rest"`
		}
		if err := json.Unmarshal(r.body, &cs); err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"resourceType", cs.ResourceType, "CapabilityStatement"},
			{"kind", cs.Kind, "instance"},
			{"fhirVersion", cs.FHIRVersion, "4.0.1"},
			{"format", strings.Join(cs.Format, ","), "json"},
			{"instantiates", strings.Join(cs.Instantiates, ","), "http://hl7.org/fhir/us/davinci-pas/CapabilityStatement/IntermediaryCapabilities"},
			{"date", cs.Date != "", true},
			{"rest mode", len(cs.Rest) == 1 && cs.Rest[0].Mode == "server", true},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, expected %v", c.name, c.got, c.want)
			}
		}

		ops := map[string]string{}
		for _, res := range cs.Rest[0].Resource {
			if res.Type != "Claim" {
				continue
			}
			for _, op := range res.Operation {
				ops[op.Name] = op.Definition
			}
		}
		if ops["submit"] != "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit" {
			t.Errorf("submit operation %q, expected the PAS Claim-submit canonical", ops["submit"])
		}
		if ops["inquire"] != "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry" {
			t.Errorf("inquire operation %q, expected the PAS Claim-inquiry canonical", ops["inquire"])
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Errorf("New accepted a nil db")
	}
	if _, err := New(sqliteBackend.New(t), Options{MaxBodyBytes: -1}); err == nil {
		t.Errorf("New accepted a negative MaxBodyBytes")
	}
}

func TestMigrateTwice(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		if err := ts.Migrate(t.Context()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		mustResponse(t, ts.submit(t, demoBundle(t, referral221)))
	})
}
