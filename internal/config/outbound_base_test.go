package config

import (
	"strings"
	"testing"
)

// outboundYAML is validYAML with an outbound section for its partner whose
// FHIR base is base.
func outboundYAML(base string) string {
	return validYAML + `    outbound:
      fhir_base: ` + base + `
      token_url: https://engine.payer.internal/oauth/token
      client_id: payer
      scopes: [system/Claim.rs]
outbound:
  listen: 127.0.0.1:9443
  cert_file: outbound/cert.pem
  key_file: outbound/key.pem
  assertion_key_file: outbound/assertion.pem
`
}

// A partner's outbound FHIR base that the egress guard would refuse at run
// time, or whose path normalises to another one, stops start-up with the
// key path.
func TestOutboundFHIRBase(t *testing.T) {
	const key = "partners[0].outbound.fhir_base"
	tests := []struct {
		name, base, want string
	}{
		{"allowed", "https://engine.payer.internal/fhir", ""},
		{"plain http", "http://engine.payer.internal/fhir", key + ": invalid value"},
		{"host not in egress.allow", "https://ehr.example.com/fhir", key + ": the host ehr.example.com:443 is not allowed by egress.allow"},
		{"port not in egress.allow", "https://engine.payer.internal:8443/fhir", key + ": the host engine.payer.internal:8443 is not allowed"},
		{"dot-dot segment", "https://engine.payer.internal/fhir/../admin", key + `: invalid value "https://engine.payer.internal/fhir/../admin": the path has a "." or ".." segment`},
		{"encoded dot-dot segment", "https://engine.payer.internal/fhir/%2E%2e/admin", key + ": invalid value"},
		{"dot segment", "https://engine.payer.internal/./fhir", key + ": invalid value"},
		{"user name", "https://u:p@engine.payer.internal/fhir", key + ": the URL carries a user name or password"},
		{"password in a plain http URL", "http://u:SECRET@engine.payer.internal/fhir", key + ": the URL carries a user name or password"},
		{"fragment", "https://engine.payer.internal/fhir#x", key + ": invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(outboundYAML(tt.base)), "/etc/gatehouse")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse accepted the document")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}
