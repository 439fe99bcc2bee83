package fhirreq

import "testing"

func TestFoldFullURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP://X.Example/fhir/Organization/Prov", "http://x.example/fhir/Organization/Prov"},
		{"http://x/fhir/Organization/prov/", "http://x/fhir/Organization/prov"},
		{"http://x/fhir/Organization/prov//", "http://x/fhir/Organization/prov"},
		{"HTTP://X", "http://x"},
		{"URN:UUID:6F2B1C1E-2C1A-4D7E-9A55-000000000001", "urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001"},
		{"Organization/Prov", "Organization/Prov"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := FoldFullURL(tt.in); got != tt.want {
			t.Errorf("FoldFullURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
