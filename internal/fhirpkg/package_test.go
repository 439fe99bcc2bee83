package fhirpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// tgz builds a package archive from name/content pairs.
func tgz(t *testing.T, files map[string]string, extra ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range sortedKeys(files) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	for _, h := range extra {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const testManifest = `{"name":"example.fhir.test","version":"1.0.0","dependencies":{"hl7.fhir.r4.core":"4.0.1"}}`

func TestReadTGZResources(t *testing.T) {
	data := tgz(t, map[string]string{
		"package/package.json":               testManifest,
		"package/StructureDefinition-a.json": `{"resourceType":"StructureDefinition","id":"a","url":"http://example.org/a","version":"1.0.0"}`,
		"package/example/Patient-p.json":     `{"resourceType":"Patient","id":"p"}`,
		"package/.index.json":                `{"index-version":1}`,
		"package/other/ValueSet-x.json":      `{"resourceType":"ValueSet"}`,
		"package/openapi/x.json":             `{}`,
		"package/not-a-resource.json":        `{"hello":"world"}`,
	})
	p, err := ReadTGZ(bytes.NewReader(data), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != "example.fhir.test#1.0.0" || p.Dependencies["hl7.fhir.r4.core"] != "4.0.1" {
		t.Errorf("manifest = %s %v", p.ID(), p.Dependencies)
	}
	if len(p.Resources) != 1 {
		t.Fatalf("got %d resources, want only the StructureDefinition", len(p.Resources))
	}
	if r := p.Resources[0]; r.URL != "http://example.org/a" || r.Package() != p {
		t.Errorf("resource = %+v", r)
	}
}

func TestReadTGZRejects(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		extra []*tar.Header
		lim   Limits
		want  string
	}{
		{"no manifest", map[string]string{"package/a.json": `{}`}, nil, DefaultLimits, "package.json not found"},
		{"dot dot", map[string]string{"package/package.json": testManifest, "../evil.json": `{}`}, nil, DefaultLimits, "escapes the package"},
		{"inner dot dot", map[string]string{"package/package.json": testManifest, "package/../../evil.json": `{}`}, nil, DefaultLimits, "escapes the package"},
		{"absolute", map[string]string{"package/package.json": testManifest, "/etc/evil.json": `{}`}, nil, DefaultLimits, "escapes the package"},
		{"backslash", map[string]string{"package/package.json": testManifest, `package\..\evil.json`: `{}`}, nil, DefaultLimits, "escapes the package"},
		{"symlink", map[string]string{"package/package.json": testManifest},
			[]*tar.Header{{Name: "package/link.json", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, DefaultLimits, "not a regular file"},
		{"file too large", map[string]string{"package/package.json": testManifest, "package/a.json": strings.Repeat(" ", 100) + "{}"},
			nil, Limits{MaxFileBytes: 90}, "too large"},
		{"total too large", map[string]string{"package/package.json": testManifest, "package/a.json": `{"resourceType":"Basic"}`},
			nil, Limits{MaxTotalBytes: 100}, "too large"},
		{"too many entries", map[string]string{"package/package.json": testManifest, "package/a.json": `{}`, "package/b.json": `{}`},
			nil, Limits{MaxEntries: 2}, "more than 2 entries"},
		{"bad resource JSON", map[string]string{"package/package.json": testManifest, "package/a.json": `{"resourceType":`},
			nil, DefaultLimits, "invalid JSON"},
		{"manifest without version", map[string]string{"package/package.json": `{"name":"x"}`}, nil, DefaultLimits, "name and version are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTGZ(bytes.NewReader(tgz(t, tc.files, tc.extra...)), tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadTGZTooLargeIsErrTooLarge(t *testing.T) {
	data := tgz(t, map[string]string{"package/package.json": testManifest})
	_, err := ReadTGZ(bytes.NewReader(data), Limits{MaxFileBytes: 10})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

func TestReadTGZNotGzip(t *testing.T) {
	if _, err := ReadTGZ(strings.NewReader("plain text"), DefaultLimits); err == nil {
		t.Error("plain text accepted as a package")
	}
}

func TestLoadCorePackage(t *testing.T) {
	p, err := LoadFile(corpustest.File(t, "fhir-r4-core/hl7.fhir.r4.core-4.0.1.tgz"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != "hl7.fhir.r4.core#4.0.1" || p.License != "CC0-1.0" {
		t.Errorf("package = %s licence %q", p.ID(), p.License)
	}
	counts := map[string]int{}
	for _, r := range p.Resources {
		counts[r.ResourceType]++
	}
	// The counts the corpus notes give for this package.
	for typ, want := range map[string]int{"StructureDefinition": 658, "ValueSet": 1316, "CodeSystem": 1062} {
		if counts[typ] != want {
			t.Errorf("%s: %d, want %d", typ, counts[typ], want)
		}
	}
}

func TestAddResource(t *testing.T) {
	p := NewPackage("local", "0.0.1", nil)
	if err := p.AddResource([]byte(`{"resourceType":"ValueSet","url":"http://x/vs"}`)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddResource([]byte(`{"url":"http://x/vs"}`)); err == nil {
		t.Error("object without resourceType accepted")
	}
	if len(p.Resources) != 1 || p.Resources[0].Package() != p {
		t.Errorf("resources = %+v", p.Resources)
	}
}
