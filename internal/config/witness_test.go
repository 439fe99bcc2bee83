package config

import (
	"strings"
	"testing"
)

func TestWitnessesParsed(t *testing.T) {
	f, err := Parse([]byte(validYAML), "/etc/gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	f.Egress.Allow = append(f.Egress.Allow, "witness.example.org:443")
	f.Audit.Witnesses = []Witness{{URL: "https://witness.example.org/w", Key: "witness.example.org+01234567+AQ", CAFile: "witness-ca.pem"}}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate rejected a valid witness: %v", err)
	}
}

func TestWitnessErrorsNameKeyPath(t *testing.T) {
	const key = "witness.example.org+01234567+AQ"
	tests := []struct {
		name string
		list []Witness
		want string
	}{
		{"missing url", []Witness{{Key: key}}, "audit.witnesses[0].url: missing"},
		{"plain http", []Witness{{URL: "http://witness.example.org", Key: key}}, `audit.witnesses[0].url: invalid value "http://witness.example.org"`},
		{"query", []Witness{{URL: "https://witness.example.org/?a=b", Key: key}}, "audit.witnesses[0].url: invalid value"},
		{"credentials", []Witness{{URL: "https://u:p@witness.example.org", Key: key}}, "audit.witnesses[0].url: the URL carries a user name or password"},
		{"not in egress", []Witness{{URL: "https://other.example.org", Key: key}}, "audit.witnesses[0].url: the host other.example.org:443 is not allowed by egress.allow"},
		{"missing key", []Witness{{URL: "https://witness.example.org"}}, "audit.witnesses[0].key: missing"},
		{"same key twice", []Witness{{URL: "https://witness.example.org", Key: key}, {URL: "https://witness.example.org/2", Key: key}},
			"audit.witnesses[1].key: the same key as audit.witnesses[0]"},
		{"too many", make([]Witness, maxWitnesses+1), "audit.witnesses: 9 entries: list at most 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(validYAML), "/etc/gatehouse")
			if err != nil {
				t.Fatal(err)
			}
			f.Egress.Allow = append(f.Egress.Allow, "witness.example.org:443")
			f.Audit.Witnesses = tt.list
			err = f.Validate()
			if err == nil {
				t.Fatal("Validate accepted the witnesses")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
