package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPayloadRefusalNamesTheProblem checks that a 415 names the encoding
// or the media-type parameter the gateway does not accept.
func TestPayloadRefusalNamesTheProblem(t *testing.T) {
	bundle := []byte(`{"resourceType":"Bundle","type":"collection"}`)
	tests := []struct {
		name, ctype, encoding, rule, want string
	}{
		{"gzip", "application/fhir+json", "gzip", "payload.content-encoding", `Content-Encoding "gzip" is not supported`},
		{"br", "application/fhir+json", "br", "payload.content-encoding", `Content-Encoding "br" is not supported`},
		{"latin-1", "application/fhir+json; charset=iso-8859-1", "", "payload.media-type", `Content-Type charset "iso-8859-1" is not supported`},
		{"fhir 3", "application/fhir+json; fhirVersion=3.0", "", "payload.media-type", `Content-Type fhirversion "3.0" is not supported`},
		{"xml", "application/fhir+xml", "", "payload.media-type", "the request body must be FHIR JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGateway(t, stubVerifier{}, &memStore{})
			ex := newExchange(g, "POST", "/fhir/Claim/$submit", bundle, testLeaf)
			ex.r.Header.Set("Content-Type", tt.ctype)
			if tt.encoding != "" {
				ex.r.Header.Set("Content-Encoding", tt.encoding)
			}
			if ref := g.receive(ex); ref != nil {
				t.Fatal(ref.Message)
			}
			ref := g.checkPayload(ex)
			if ref == nil {
				t.Fatal("accepted")
			}
			if ref.Status != 415 {
				t.Errorf("status = %d, want 415", ref.Status)
			}
			if ref.Rule != tt.rule {
				t.Errorf("rule = %q, want %q", ref.Rule, tt.rule)
			}
			if !strings.Contains(ref.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", ref.Message, tt.want)
			}
		})
	}
}

func TestIdentifyNamesTwoPartnerURIs(t *testing.T) {
	g := testGateway(t, stubVerifier{}, &memStore{})
	leaf := certWithURIs(t, "urn:gatehouse:partner:ehr-a", "urn:gatehouse:partner:ehr-b")
	ref := g.identify(newExchange(g, "GET", "/fhir/metadata", nil, leaf))
	if ref == nil || ref.Rule != "identity.no-partner-uri" {
		t.Fatalf("refusal = %+v, want identity.no-partner-uri", ref)
	}
	if !strings.Contains(ref.Message, "carries 2 partner URI SANs") {
		t.Errorf("message = %q, want it to say there are two partner URIs", ref.Message)
	}
}

// certWithURIs returns a self-signed clientAuth certificate with the URI
// SANs, parsed from DER so that its raw extensions are set.
func certWithURIs(t *testing.T, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestNegotiateJSON checks the q value each FHIR JSON media type gets
// under RFC 9110 precedence, whether FHIR JSON is acceptable, and that a
// malformed range invalidates the field.
func TestNegotiateJSON(t *testing.T) {
	tests := []struct {
		name           string
		values         []string
		fhirJSON, json float64
		invalid        bool
		acceptable     bool
	}{
		{"absent", nil, 1, 1, false, true},
		{"empty", []string{""}, 1, 1, false, true},
		{"fhir json", []string{"application/fhir+json"}, 1, 0, false, true},
		{"plain json", []string{"application/json"}, 0, 1, false, true},
		{"any", []string{"*/*"}, 1, 1, false, true},
		{"any application", []string{"application/*"}, 1, 1, false, true},
		{"R4 and UTF-8", []string{"application/fhir+json; fhirVersion=4.0.1; charset=UTF-8"}, 1, 0, false, true},
		{"json after xml", []string{"application/fhir+xml, application/fhir+json;q=0.5"}, 0.5, 0, false, true},
		{"json in a second field", []string{"application/fhir+xml", "application/json"}, 0, 1, false, true},
		{"xml", []string{"application/fhir+xml"}, 0, 0, false, false},
		{"html", []string{"text/html"}, 0, 0, false, false},
		{"other text", []string{"text/*"}, 0, 0, false, false},
		{"q zero", []string{"application/fhir+json;q=0"}, 0, 0, false, false},
		{"q zero point", []string{"*/*;q=0.000"}, 0, 0, false, false},
		{"STU3", []string{"application/fhir+json; fhirVersion=3.0"}, 0, 0, false, false},
		{"latin-1", []string{"application/fhir+json; charset=iso-8859-1"}, 0, 0, false, false},
		{"unknown parameter", []string{"application/fhir+json; profile=x"}, 0, 0, false, false},

		// The most specific matching range decides, whatever the order.
		{"fhir json refused, any admitted", []string{"application/fhir+json;q=0, */*"}, 0, 1, false, false},
		{"any admitted, fhir json refused", []string{"*/*", "application/fhir+json;q=0"}, 0, 1, false, false},
		{"json refused, fhir json admitted", []string{"application/json;q=0, application/fhir+json"}, 1, 0, false, true},
		{"application refused, fhir json admitted", []string{"application/*;q=0, application/fhir+json;q=0.2"}, 0.2, 0, false, true},
		{"any refused, application admitted", []string{"*/*;q=0, application/*;q=0.3"}, 0.3, 0.3, false, true},
		{"parameter more specific", []string{"application/fhir+json;charset=utf-8;q=0, application/fhir+json"}, 0, 0, false, false},
		{"STU3 refusal does not apply", []string{"application/fhir+json;fhirVersion=3.0;q=0, */*"}, 1, 1, false, true},
		{"equal ranges, lowest q", []string{"application/fhir+json;q=0.9, application/fhir+json;q=0"}, 0, 0, false, false},

		// Malformed ranges and q values make the field invalid (406).
		{"q above 1", []string{"application/fhir+json;q=2"}, 0, 0, true, false},
		{"q above 1 with decimals", []string{"*/*;q=1.001"}, 0, 0, true, false},
		{"q not a number", []string{"application/fhir+json;q=abc"}, 0, 0, true, false},
		{"q with leading point", []string{"*/*;q=.5"}, 0, 0, true, false},
		{"q with four decimals", []string{"*/*;q=0.1234"}, 0, 0, true, false},
		{"q negative", []string{"*/*;q=-0"}, 0, 0, true, false},
		{"q invalid next to a valid range", []string{"application/fhir+json, text/html;q=x"}, 0, 0, true, false},
		{"unparsable", []string{"application/"}, 0, 0, true, false},
		{"no subtype", []string{"*; q=0.2"}, 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, bad := negotiateJSON(tt.values)
			if (bad != "") != tt.invalid {
				t.Fatalf("negotiateJSON(%q): invalid range %q, want invalid %v", tt.values, bad, tt.invalid)
			}
			if tt.invalid {
				return
			}
			if got := q.acceptable(); got != tt.acceptable {
				t.Errorf("acceptable() = %v, want %v", got, tt.acceptable)
			}
			if q.fhirJSON != tt.fhirJSON {
				t.Errorf("application/fhir+json q = %v, want %v", q.fhirJSON, tt.fhirJSON)
			}
			if q.json != tt.json {
				t.Errorf("application/json q = %v, want %v", q.json, tt.json)
			}
		})
	}
}

// TestParseQValue checks the RFC 9110 qvalue grammar.
func TestParseQValue(t *testing.T) {
	valid := map[string]float64{"0": 0, "0.": 0, "0.5": 0.5, "0.125": 0.125, "1": 1, "1.": 1, "1.000": 1}
	for in, want := range valid {
		if q, ok := parseQValue(in); !ok || q != want {
			t.Errorf("parseQValue(%q) = %v, %v; want %v, true", in, q, ok, want)
		}
	}
	for _, in := range []string{"", "2", "1.5", "1.0001", "0.0001", ".5", "abc", "0.x", "-0", "+1", "01", "0.5 ", "1e0", "0x1"} {
		if q, ok := parseQValue(in); ok {
			t.Errorf("parseQValue(%q) = %v, true; want invalid", in, q)
		}
	}
}

// TestReleasedJSONType checks that the released media type is one the
// partner's Accept gives a q above 0.
func TestReleasedJSONType(t *testing.T) {
	tests := []struct {
		name     string
		accept   *jsonAcceptance
		upstream string
		want     string
	}{
		{"no negotiation", nil, "application/json", "application/json; charset=utf-8"},
		{"both acceptable, upstream's json", &jsonAcceptance{fhirJSON: 1, json: 1}, "application/json", "application/json; charset=utf-8"},
		{"both acceptable, upstream's fhir json", &jsonAcceptance{fhirJSON: 1, json: 1}, "application/fhir+json", "application/fhir+json; charset=utf-8"},
		{"json refused", &jsonAcceptance{fhirJSON: 1}, "application/json; charset=UTF-8", "application/fhir+json; charset=utf-8"},
		{"fhir json not named", &jsonAcceptance{json: 0.5}, "application/fhir+json", "application/json; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := releasedJSONType(tt.accept, tt.upstream); got != tt.want {
				t.Errorf("releasedJSONType = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCanonicalJSONType(t *testing.T) {
	tests := map[string]string{
		"application/fhir+json":                                   "application/fhir+json; charset=utf-8",
		"application/json; charset=UTF-8":                         "application/json; charset=utf-8",
		"Application/FHIR+JSON; fhirVersion=4.0":                  "application/fhir+json; charset=utf-8",
		"application/fhir+json; charset=x; charset*=utf-8''utf-8": "application/fhir+json; charset=utf-8",
	}
	for in, want := range tests {
		if got := canonicalJSONType(in); got != want {
			t.Errorf("canonicalJSONType(%q) = %q, want %q", in, got, want)
		}
	}
}
