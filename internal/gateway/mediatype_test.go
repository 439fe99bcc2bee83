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

func TestAcceptsFHIRJSON(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"absent", nil, true},
		{"empty", []string{""}, true},
		{"fhir json", []string{"application/fhir+json"}, true},
		{"plain json", []string{"application/json"}, true},
		{"any", []string{"*/*"}, true},
		{"any application", []string{"application/*"}, true},
		{"R4 and UTF-8", []string{"application/fhir+json; fhirVersion=4.0.1; charset=UTF-8"}, true},
		{"json after xml", []string{"application/fhir+xml, application/fhir+json;q=0.5"}, true},
		{"json in a second field", []string{"application/fhir+xml", "application/json"}, true},
		{"xml", []string{"application/fhir+xml"}, false},
		{"html", []string{"text/html"}, false},
		{"other text", []string{"text/*"}, false},
		{"q zero", []string{"application/fhir+json;q=0"}, false},
		{"q zero point", []string{"*/*;q=0.000"}, false},
		{"q invalid", []string{"application/fhir+json;q=x"}, false},
		{"STU3", []string{"application/fhir+json; fhirVersion=3.0"}, false},
		{"latin-1", []string{"application/fhir+json; charset=iso-8859-1"}, false},
		{"unknown parameter", []string{"application/fhir+json; profile=x"}, false},
		{"unparsable", []string{"application/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptsFHIRJSON(tt.values); got != tt.want {
				t.Errorf("acceptsFHIRJSON(%q) = %v, want %v", tt.values, got, tt.want)
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
