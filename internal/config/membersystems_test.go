package config

import (
	"strings"
	"testing"
)

func TestMemberIDSystemsValidated(t *testing.T) {
	tests := []struct {
		name    string
		systems []string
		want    string // "" when valid
	}{
		{"none", nil, ""},
		{"one", []string{"urn:oid:2.16.840.1.113883.3.9999"}, ""},
		{"empty", []string{"urn:a", ""}, "member_id_systems[1]"},
		{"padded", []string{" urn:a"}, "member_id_systems[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(validYAML), "/etc/gatehouse")
			if err != nil {
				t.Fatal(err)
			}
			f.MemberIDSystems = tt.systems
			err = f.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
