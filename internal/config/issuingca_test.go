package config

import (
	"strings"
	"testing"
)

// withIssuingCA adds an issuing_ca block to the partner of validYAML.
func withIssuingCA(block string) string {
	return strings.Replace(validYAML, "    jwks_file: partners/epic.jwks.json\n",
		"    jwks_file: partners/epic.jwks.json\n    issuing_ca:\n"+block, 1)
}

const sampleFingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestIssuingCAAccepted(t *testing.T) {
	colons := strings.ToUpper(sampleFingerprint[:2])
	for i := 2; i < len(sampleFingerprint); i += 2 {
		colons += ":" + strings.ToUpper(sampleFingerprint[i:i+2])
	}
	tests := []struct {
		name  string
		block string
	}{
		{"file", "      cert_file: partners/epic-ca.pem\n"},
		{"fingerprint", "      sha256: " + sampleFingerprint + "\n"},
		{"openssl fingerprint", "      sha256: \"" + colons + "\"\n"},
		{"file and fingerprint", "      cert_file: partners/epic-ca.pem\n      sha256: " + sampleFingerprint + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(withIssuingCA(tt.block)), "/etc/gatehouse")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Partners[0].IssuingCA == nil {
				t.Fatal("partners[0].issuing_ca was not read")
			}
		})
	}
}

func TestIssuingCAErrorsNameKeyPath(t *testing.T) {
	tests := []struct {
		name    string
		block   string
		wantErr []string
	}{
		{"empty", "      cert_file: \"\"\n", []string{"partners[0].issuing_ca:", "set cert_file, sha256 or both"}},
		{"short fingerprint", "      sha256: abcd\n", []string{"partners[0].issuing_ca.sha256", `"abcd"`, "64 hex digits"}},
		{"not hex", "      sha256: " + strings.Repeat("zz", 32) + "\n", []string{"partners[0].issuing_ca.sha256", "64 hex digits"}},
		{"wrong separator", "      sha256: \"" + strings.Repeat("ab-", 31) + "ab\"\n", []string{"partners[0].issuing_ca.sha256"}},
		{"unknown key", "      file: ca.pem\n", []string{"partners[0].issuing_ca.file", `unknown key "file"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(withIssuingCA(tt.block)), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	fp, err := ParseFingerprint(sampleFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if fp[0] != 0x9f || fp[31] != 0x08 {
		t.Errorf("ParseFingerprint = %x", fp)
	}
	upper, err := ParseFingerprint(strings.ToUpper(sampleFingerprint))
	if err != nil || upper != fp {
		t.Errorf("upper-case fingerprint = %x, %v; want %x", upper, err, fp)
	}
	if _, err := ParseFingerprint(":" + sampleFingerprint[1:]); err == nil {
		t.Error("a fingerprint with a leading colon was accepted")
	}
}
