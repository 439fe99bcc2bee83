package fhirpkg

import (
	"bytes"
	"compress/gzip"
	"slices"
	"testing"
)

func testPackage(name, version string, deps map[string]string, urls ...string) *Package {
	p := &Package{Name: name, Version: version, Dependencies: deps}
	for _, u := range urls {
		url, v, _ := cutVersion(u)
		p.add(&Resource{ResourceType: "StructureDefinition", URL: url, Version: v})
	}
	return p
}

func cutVersion(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestSetResolvePrefersDependencies(t *testing.T) {
	core := testPackage("core", "4.0.1", nil, "http://x/Patient|4.0.1")
	us3 := testPackage("us.core", "3.1.1", map[string]string{"core": "4.0.1"}, "http://us/patient|3.1.1")
	us6 := testPackage("us.core", "6.1.0", map[string]string{"core": "4.0.1"}, "http://us/patient|6.1.0")
	ig := testPackage("ig", "2.0.1", map[string]string{"us.core": "3.1.1", "missing.pkg": "1.0.0"}, "http://ig/claim|2.0.1")
	ig2 := testPackage("ig", "2.2.1", map[string]string{"us.core.v610": "6.1.0"})
	s, err := NewSet(core, us3, us6, ig, ig2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		from      *Package
		want      string
	}{
		{"newest without context", "http://us/patient", nil, "6.1.0"},
		{"dependency of the profile's package", "http://us/patient", ig, "3.1.1"},
		{"alias dependency", "http://us/patient", ig2, "6.1.0"},
		{"explicit version", "http://us/patient|3.1.1", nil, "3.1.1"},
		{"major.minor version", "http://us/patient|6.1", nil, "6.1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Resolve(tc.url, tc.from)
			if r == nil || r.Version != tc.want {
				t.Errorf("Resolve(%q) = %+v, want version %s", tc.url, r, tc.want)
			}
		})
	}
	if r := s.Resolve("http://us/patient|9.9.9", nil); r != nil {
		t.Errorf("unknown version resolved to %+v", r)
	}
	if got := s.Unresolved(); !slices.Equal(got, []string{"missing.pkg#1.0.0 (needed by ig#2.0.1)"}) {
		t.Errorf("Unresolved = %q", got)
	}
}

func TestSetResolveEqualVersions(t *testing.T) {
	// Without context, the resource loaded last wins a tie of versions,
	// whatever other URLs sort between the packages' resources.
	a := testPackage("a", "1.0.0", nil, "http://x/b|1.0.0", "http://x/a|1.0.0", "http://x/c|1.0.0")
	b := testPackage("b", "1.0.0", nil, "http://x/c|2.0.0", "http://x/a|1.0.0")
	c := testPackage("c", "1.0.0", nil, "http://x/a|1.0.0", "http://x/aa|1.0.0")
	s, err := NewSet(a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Resolve("http://x/a"); r == nil || r.Package() != c {
		t.Errorf("Resolve(http://x/a) = %+v, want the resource of c", r)
	}
	if r := s.Resolve("http://x/a", b); r == nil || r.Package() != b {
		t.Errorf("Resolve(http://x/a) from b = %+v, want the resource of b", r)
	}
	if r := s.Resolve("http://x/c|1.0.0"); r == nil || r.Package() != a {
		t.Errorf("Resolve(http://x/c|1.0.0) = %+v, want the resource of a", r)
	}
	if r := s.Resolve("http://x/aa"); r == nil || r.Package() != c {
		t.Errorf("Resolve(http://x/aa) = %+v, want the resource of c", r)
	}
	if r := s.Resolve("http://x/d"); r != nil {
		t.Errorf("Resolve(http://x/d) = %+v, want nil", r)
	}
}

func TestSetPatchSubstitute(t *testing.T) {
	crd := testPackage("crd", "2.0.1", nil)
	pas := testPackage("pas", "2.0.1", map[string]string{"crd": "2.0.0"})
	s, err := NewSet(crd, pas)
	if err != nil {
		t.Fatal(err)
	}
	deps := s.Dependencies(pas)
	if len(deps) != 1 || deps[0].Package != crd {
		t.Errorf("crd 2.0.0 resolved to %+v, want crd 2.0.1", deps)
	}
}

func TestSetDuplicatePackage(t *testing.T) {
	if _, err := NewSet(testPackage("a", "1.0.0", nil), testPackage("a", "1.0.0", nil)); err == nil {
		t.Error("duplicate package accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		sign int
	}{
		{"6.1.0", "3.1.1", 1}, {"3.1.1", "3.1.1", 0}, {"2.10.0", "2.9.0", 1}, {"1.0.0", "1.0.0-ballot", -1},
	}
	for _, tc := range tests {
		got := compareVersions(tc.a, tc.b)
		if (got > 0) != (tc.sign > 0) || (got < 0) != (tc.sign < 0) {
			t.Errorf("compareVersions(%s, %s) = %d, want sign %d", tc.a, tc.b, got, tc.sign)
		}
	}
}

func TestBundleRoundTrip(t *testing.T) {
	p := &Package{Name: "a", Version: "1.0.0", Dependencies: map[string]string{"b": "2.0.0"}, Source: "test"}
	p.add(&Resource{ResourceType: "ValueSet", ID: "v", URL: "http://v", Version: "1", JSON: []byte(`{"resourceType":"ValueSet"}`)})
	p.add(&Resource{ResourceType: "CodeSystem", ID: "c", JSON: []byte(`{"resourceType":"CodeSystem"}`)})
	var buf bytes.Buffer
	if err := EncodeBundle(&buf, []*Package{p}); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBundle(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID() != "a#1.0.0" || got[0].Source != "test" || len(got[0].Resources) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	if r := got[0].Resources[1]; string(r.JSON) != `{"resourceType":"CodeSystem"}` || r.Package() != got[0] {
		t.Errorf("second resource = %s", r.JSON)
	}
}

func TestDecodeBundleDamaged(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("not gzip"), gzipBytes(t, "wrong magic"), gzipBytes(t, bundleMagic+"\x7f{}")} {
		if _, err := DecodeBundle(data); err == nil {
			t.Errorf("DecodeBundle(%q) succeeded", data)
		}
	}
}

func TestEmbeddedPackages(t *testing.T) {
	pkgs, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"hl7.fhir.r4.core#4.0.1", "hl7.fhir.us.davinci-pas#2.0.1", "hl7.fhir.us.davinci-pas#2.2.1", "hl7.fhir.us.core#3.1.1", "hl7.fhir.us.core#6.1.0"} {
		name, version, _ := cutHash(id)
		if s.Package(name, version) == nil {
			t.Errorf("%s not embedded", id)
		}
	}
	if r := s.Resolve("http://hl7.org/fhir/StructureDefinition/Claim", nil); r == nil || r.Package().Name != "hl7.fhir.r4.core" {
		t.Errorf("Claim resolved to %+v", r)
	}
	pas := s.Package("hl7.fhir.us.davinci-pas", "2.0.1")
	if r := s.Resolve("http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient", pas); r == nil || r.Version != "3.1.1" {
		t.Errorf("US Core patient from PAS 2.0.1 resolved to %+v, want 3.1.1", r)
	}
}

func cutHash(id string) (string, string, bool) {
	for i := range id {
		if id[i] == '#' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

func gzipBytes(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}
