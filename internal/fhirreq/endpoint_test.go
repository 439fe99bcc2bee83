package fhirreq

import "testing"

func TestEndpointOperation(t *testing.T) {
	const base = "https://ehr.example/fhir/r4"
	tests := []struct {
		name, endpoint, base string
		want                 string // the operation, or "" when rejected
	}{
		{"operation under the base", base + "/$subscription-hook", base, "$subscription-hook"},
		{"base with a trailing slash", base + "/$hook-2", base + "/", "$hook-2"},
		{"no registered base", base + "/$subscription-hook", "", ""},
		{"the base itself", base, base, ""},
		{"another host", "https://collector.example/fhir/r4/$subscription-hook", base, ""},
		{"host with the base as a prefix", "https://ehr.example.collector.example/fhir/r4/$hook", base, ""},
		{"a path below the base", base + "/Patient/$hook", base, ""},
		{"a dot segment", base + "/../$hook", base, ""},
		{"an escaped dollar", base + "/%24hook", base, ""},
		{"an operation without a letter", base + "/$", base, ""},
		{"an operation starting with a digit", base + "/$1hook", base, ""},
		{"an operation with a slash", base + "/$a/b", base, ""},
		{"plain http", "http://ehr.example/fhir/r4/$hook", base, ""},
		{"user information", "https://ehr.example@collector.example/fhir/r4/$hook", base, ""},
		{"a query", base + "/$hook?to=collector.example", base, ""},
		{"an empty query", base + "/$hook?", base, ""},
		{"a fragment", base + "/$hook#x", base, ""},
		{"not a URL", "https://ehr.example/fhir/r4/$hook\x00", base, ""},
		{"a relative URL", "/fhir/r4/$hook", base, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EndpointOperation(tc.endpoint, tc.base)
			if tc.want == "" {
				if err == nil {
					t.Errorf("EndpointOperation accepted the endpoint, returning %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("EndpointOperation: %v", err)
			}
			if got != tc.want {
				t.Errorf("operation = %q, want %q", got, tc.want)
			}
		})
	}
}
