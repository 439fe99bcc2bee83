package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogsCarryNoPHI runs the main job and a set of refusals, then scans
// every log line for the fixtures' patient data, identifiers, the access
// token and key material.
func TestLogsCarryNoPHI(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	tok := h.accessToken()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}
	files, _ := filepath.Glob("../demo/bundles/*.json")
	more, _ := filepath.Glob("../demo/nonconformant/*.json")
	var secrets []string
	for _, f := range append(files, more...) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, sensitiveValues(t, body)...)
		readBody(t, h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, body))
	}
	readBody(t, h.send(h.ehr.HTTPClient(), "GET", "/fhir/Patient?name=SMITH&birthdate=1970-01-01", header, nil))
	readBody(t, h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata?access_token="+tok, nil, nil))
	secrets = append(secrets, tok, "PRIVATE KEY", "birthdate=1970-01-01")

	logs := h.logs.String()
	if len(logs) < 200 {
		t.Fatalf("too little log output to judge: %q", logs)
	}
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(logs, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}

// sensitiveValues returns the names, birth dates and identifier values of
// the patients and coverages in a bundle.
func sensitiveValues(t *testing.T, bundle []byte) []string {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range b.Entry {
		var r struct {
			ResourceType string `json:"resourceType"`
		}
		json.Unmarshal(e.Resource, &r)
		if r.ResourceType != "Patient" && r.ResourceType != "Coverage" {
			continue
		}
		var p struct {
			Name []struct {
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			BirthDate    string `json:"birthDate"`
			SubscriberID string `json:"subscriberId"`
			Identifier   []struct {
				Value string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(e.Resource, &p); err != nil {
			t.Fatal(err)
		}
		for _, n := range p.Name {
			out = append(out, n.Family)
			out = append(out, n.Given...)
		}
		for _, id := range p.Identifier {
			out = append(out, id.Value)
		}
		out = append(out, p.BirthDate, p.SubscriberID)
	}
	return out
}
