package fhirreq

import (
	"slices"
	"testing"
)

func TestSearchURIs(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		subscription bool
		want         []SearchURI
	}{
		{"literal reference", `{"resourceType":"Observation","subject":{"reference":"Patient/1"}}`, false, nil},
		{"conditional reference", `{"resourceType":"Observation","subject":{"reference":"Patient?identifier=x|1"}}`, false,
			[]SearchURI{{Value: "Patient?identifier=x|1"}}},
		{"nested and in arrays", `{"resourceType":"Observation","performer":[{"reference":"Practitioner/1"},{"reference":"Organization?name=a"}],` +
			`"extension":[{"url":"u","valueReference":{"reference":"Patient?_id=2"}}]}`, false,
			[]SearchURI{{Value: "Organization?name=a"}, {Value: "Patient?_id=2"}}},
		{"escaped question mark", `{"resourceType":"Observation","subject":{"reference":"Patient\u003f_id=1"}}`, false,
			[]SearchURI{{Value: "Patient?_id=1"}}},
		{"case variant member", `{"resourceType":"Observation","subject":{"REFERENCE":"Patient?_id=1"}}`, false,
			[]SearchURI{{Value: "Patient?_id=1"}}},
		{"question mark in another member", `{"resourceType":"Observation","note":[{"text":"why?"}],"subject":{"display":"Patient?_id=1"}}`, false, nil},
		{"reference holding an array", `{"resourceType":"Observation","subject":{"reference":["Patient/1","Patient?_has:Claim:patient:status=active"]},"note":["x?"]}`, false,
			[]SearchURI{{Value: "Patient?_has:Claim:patient:status=active"}}},
		{"reference holding nested arrays", `{"resourceType":"Observation","subject":{"reference":[["Patient?_id=1"]]},"note":[{"text":"y?"}]}`, false,
			[]SearchURI{{Value: "Patient?_id=1"}}},
		{"reference array holding another", `{"resourceType":"Observation","subject":{"reference":[{"reference":["Patient/1"]},"Patient?_id=1"]}}`, false,
			[]SearchURI{{Value: "Patient?_id=1"}}},
		{"reference holding an object", `{"resourceType":"Observation","reference":{"reference":"Patient?_id=1"}}`, false,
			[]SearchURI{{Value: "Patient?_id=1"}}},
		{"subscription criteria", `{"resourceType":"Subscription","criteria":"Observation?code=x"}`, true,
			[]SearchURI{{Criteria: true, Value: "Observation?code=x"}}},
		{"subscription criteria without query", `{"resourceType":"Subscription","criteria":"Observation"}`, true,
			[]SearchURI{{Criteria: true, Value: "Observation"}}},
		{"subscription topic", `{"resourceType":"Subscription","criteria":"http://example.org/SubscriptionTopic/a"}`, true, nil},
		{"subscription topic with query", `{"resourceType":"Subscription","criteria":"http://example.org/fhir/Patient?_id=1"}`, true,
			[]SearchURI{{Criteria: true, Value: "http://example.org/fhir/Patient?_id=1"}}},
		{"subscription criteria case variant", `{"resourceType":"Subscription","criteria":"urn:uuid:1","Criteria":"Patient?_id=1"}`, true,
			[]SearchURI{{Criteria: true, Value: "Patient?_id=1"}}},
		{"nested criteria member", `{"resourceType":"Subscription","criteria":"urn:uuid:1","channel":{"criteria":"Patient?_id=1"}}`, true, nil},
		{"criteria of another type", `{"resourceType":"Observation","criteria":"Patient?_id=1"}`, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SearchURIs([]byte(tc.body), tc.subscription)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("SearchURIs = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSearchURIsMalformed(t *testing.T) {
	if _, err := SearchURIs([]byte(`{"subject":{"reference":"Patient?_id=1"`), false); err == nil {
		t.Error("a truncated body was accepted")
	}
}

func TestParseSearchURI(t *testing.T) {
	typ, q, err := ParseSearchURI("Patient?identifier=x|1&_id=2")
	if err != nil {
		t.Fatal(err)
	}
	if typ != "Patient" || len(q.Params) != 2 || q.Params[0].Name() != "identifier" || q.Params[0].Value != "x|1" {
		t.Errorf("ParseSearchURI = %s %+v", typ, q.Params)
	}
	for _, s := range []string{
		"https://fhir.example/Patient?_id=1",
		"patient?_id=1",
		"?_id=1",
		"Patient/1?_id=1",
		"Patient?_id=1;_count=5",
		"Patient?_id=1%26_count=5",
	} {
		if _, _, err := ParseSearchURI(s); err == nil {
			t.Errorf("ParseSearchURI(%q) accepted", s)
		}
	}
}
