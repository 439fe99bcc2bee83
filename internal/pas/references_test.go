package pas

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// referencesByPointer is the plain form of references: it builds the
// pointer of every string and keeps those of "reference" members.
func referencesByPointer(resource jsontext.Value) ([]reference, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(resource))
	var refs []reference
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return refs, nil
		}
		if err != nil {
			return nil, err
		}
		if tok.Kind() != '"' {
			continue
		}
		kind, n := dec.StackIndex(dec.StackDepth())
		ptr := dec.StackPointer()
		if kind == '{' && n%2 == 0 && ptr.LastToken() == "reference" {
			refs = append(refs, reference{at: ptr.Parent(), value: tok.String()})
		}
	}
}

func TestReferencesMatchPointerScan(t *testing.T) {
	tests := map[string][]byte{
		"reference holding an object": []byte(`{"subject":{"reference":{"reference":"Patient/1"}},"x":"reference"}`),
		"reference holding an array":  []byte(`{"a":{"reference":["Patient/1"],"b":"c"},"reference":"Patient/2"}`),
		"escaped member name":         []byte(`{"a":{"refer\u0065nce":"Patient/3"}}`),
		"string in an array":          []byte(`{"reference":1,"list":["reference","Patient/4"]}`),
	}
	dir := filepath.Join(corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-2.2.1.tgz"), "package", "example")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	for _, f := range files {
		tests[filepath.Base(f)] = readFile(t, f)
	}

	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := references(body)
			want, wantErr := referencesByPointer(body)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("err = %v, the pointer scan's err = %v", err, wantErr)
			}
			if !slices.EqualFunc(got, want, func(a, b reference) bool { return a.at == b.at && a.value == b.value }) {
				t.Errorf("references = %v, the pointer scan found %v", got, want)
			}
		})
	}
}
