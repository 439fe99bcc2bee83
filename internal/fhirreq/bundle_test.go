package fhirreq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const transaction = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Observation","status":"final"},
  "request":{"method":"POST","url":"Observation","ifNoneExist":"identifier=x|1"}},
 {"request":{"method":"GET","url":"Claim?patient=123&_include=Claim:patient:Patient"}},
 {"request":{"method":"DELETE","url":"Coverage?identifier=x|1"}},
 {"request":{"method":"GET","url":"Patient/1/$everything"}},
 {"resource":{"resourceType":"Parameters","parameter":[{"name":"b","resource":{"resourceType":"Bundle","type":"collection"}}]},
  "request":{"method":"POST","url":"Claim/$submit"}}
]}`

func TestParseBundleEntries(t *testing.T) {
	b, err := ParseBundle([]byte(transaction))
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != "transaction" || len(b.Entries) != 5 {
		t.Fatalf("type %q, %d entries", b.Type, len(b.Entries))
	}
	tests := []struct {
		kind        Kind
		typ         string
		conditional bool
		ifNoneExist bool
		nested      bool
	}{
		{Create, "Observation", false, true, false},
		{SearchType, "Claim", false, false, false},
		{Delete, "Coverage", true, false, false},
		{OperationInstance, "Patient", false, false, false},
		{OperationType, "Claim", false, false, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := b.Entries[i]
			if e.Request == nil || e.Request.Kind != tt.kind || e.Request.Type != tt.typ {
				t.Fatalf("request = %+v", e.Request)
			}
			if e.Request.Conditional != tt.conditional || (e.Request.IfNoneExist != nil) != tt.ifNoneExist || e.NestedBundle != tt.nested {
				t.Errorf("entry = %+v", e)
			}
		})
	}
	if len(b.Entries[1].Request.Query.Includes) != 1 {
		t.Error("entry query not parsed")
	}
}

func TestParseBundleKeepsStrings(t *testing.T) {
	body := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"fullUrl":"urn:uuid:a","resource":{"resourceType":"Observation","id":"o1"},
	  "request":{"method":"POST","url":"Observation","ifNoneExist":"identifier=sys|1"}},
	 {"fullUrl":"urn:uuid:\u0062","request":{"method":"GET","url":"Claim\/c2?patient=Patient\/p2"}},
	 {"request":{"method":"GET","url":"Claim/c3"}}
	]}`
	b, err := ParseBundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != "batch" {
		t.Errorf("Type = %q, want batch", b.Type)
	}
	want := []struct{ fullURL, typ, id, resourceID string }{
		{"urn:uuid:a", "Observation", "", "o1"},
		{"urn:uuid:b", "Claim", "c2", ""},
		{"", "Claim", "c3", ""},
	}
	for i, w := range want {
		e := b.Entries[i]
		if e.FullURL != w.fullURL || e.Request.Type != w.typ || e.Request.ID != w.id || e.ResourceID != w.resourceID {
			t.Errorf("entry %d: fullUrl %q, type %q, id %q, resource id %q; want %+v", i, e.FullURL, e.Request.Type, e.Request.ID, e.ResourceID, w)
		}
	}
	if q := b.Entries[1].Request.Query; len(q.Params) != 1 || q.Params[0].Value != "Patient/p2" {
		t.Errorf("escaped url query = %+v", q.Params)
	}
	if c := b.Entries[0].Request.IfNoneExist; c == nil || len(c.Params) != 1 || c.Params[0].Value != "sys|1" {
		t.Errorf("ifNoneExist = %+v", c)
	}
}

func TestParseBundleNestedDetection(t *testing.T) {
	tests := []struct {
		name, resource string
		nested         bool
	}{
		{"plain", `{"resourceType":"Claim","id":"1"}`, false},
		{"mentions Bundle in text", `{"resourceType":"Claim","text":{"div":"Bundle"}}`, false},
		{"is a Bundle", `{"resourceType":"Bundle","type":"collection"}`, true},
		{"contained", `{"resourceType":"Claim","contained":[{"resourceType":"Bundle"}]}`, true},
		{"escaped", `{"resourceType":"Claim","contained":[{"resourceType":"\u0042undle"}]}`, true},
		{"escaped name", `{"resourceType":"Claim","contained":[{"resource\u0054ype":"Bundle"}]}`, true},
		{"Bundle as a value elsewhere", `{"resourceType":"Claim","note":"Bundle","x":{"y":"Bundle"}}`, false},
		{"escapes other than \\u", `{"resourceType":"Claim","text":{"div":"a\nb\/c\"d"}}`, false},
		{"escaped top-level type", `{"resourceType":"\u0042undle","type":"collection"}`, true},
		{"escaped value of another member", `{"resourceType":"Claim","note":"\u0042undle"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":` + tt.resource + `}]}`
			b, err := ParseBundle([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if b.Entries[0].NestedBundle != tt.nested {
				t.Errorf("NestedBundle = %v, want %v", b.Entries[0].NestedBundle, tt.nested)
			}
		})
	}
}

func TestParseBundleRejects(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", `{`},
		{"not a Bundle", `{"resourceType":"Claim"}`},
		{"duplicate member", `{"resourceType":"Bundle","type":"batch","type":"transaction"}`},
		{"duplicate in entry", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"Claim","url":"Patient"}}]}`},
		{"case variant member", `{"resourceType":"Bundle","Entry":[]}`},
		{"case variant entry member", `{"resourceType":"Bundle","entry":[{"Request":{"method":"DELETE","url":"Claim/1"}}]}`},
		{"case variant request member", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"Claim","URL":"Patient"}}]}`},
		{"modifier extension", `{"resourceType":"Bundle","entry":[{"modifierExtension":[{"url":"x"}],"request":{"method":"GET","url":"Claim"}}]}`},
		{"request modifier extension", `{"resourceType":"Bundle","entry":[{"request":{"modifierExtension":[{"url":"x"}],"method":"GET","url":"Claim"}}]}`},
		{"text on a Bundle", `{"resourceType":"Bundle","text":{"div":"x"}}`},
		{"entry without resourceType", `{"resourceType":"Bundle","entry":[{"resource":{"id":"1"}}]}`},
		{"absolute url", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"https://evil/fhir/Claim"}}]}`},
		{"rooted url", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"/Claim"}}]}`},
		{"dot segment", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"Claim/../Patient/1"}}]}`},
		{"semicolon in url", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"Claim?a=1;b=2"}}]}`},
		{"unknown method", `{"resourceType":"Bundle","entry":[{"request":{"method":"HEAD","url":"Claim"}}]}`},
		{"lower-case type", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET","url":"claim/1"}}]}`},
		{"invalid UTF-8", "{\"resourceType\":\"Bundle\",\"type\":\"\xff\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := ParseBundle([]byte(tt.body)); err == nil {
				t.Errorf("ParseBundle accepted: %+v", b)
			}
		})
	}
}

func TestParseBundleErrorNamesEntryOnly(t *testing.T) {
	_, err := ParseBundle([]byte(`{"resourceType":"Bundle","entry":[{},{"request":{"method":"GET","url":"Claim?secret=a;b"}}]}`))
	if err == nil || !strings.Contains(err.Error(), "Bundle.entry[1].request") || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v", err)
	}
}

// TestParseBundleDemoBundles reads the shipped PAS request Bundles: each is
// a collection with no entry requests and no nested Bundle.
func TestParseBundleDemoBundles(t *testing.T) {
	files, _ := filepath.Glob("../demo/bundles/*.json")
	if len(files) == 0 {
		t.Fatal("no demo bundles found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseBundle(body)
			if err != nil {
				t.Fatal(err)
			}
			if b.Type != "collection" || b.Entries[0].ResourceType != "Claim" {
				t.Errorf("type %q, first entry %q", b.Type, b.Entries[0].ResourceType)
			}
			for _, e := range b.Entries {
				if e.Request != nil || e.NestedBundle {
					t.Errorf("%s: request %v, nested %v", e.Path(), e.Request, e.NestedBundle)
				}
			}
		})
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte(transaction))
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":""}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"fullUrl":"urn:uuid:\u0061","resource":{"resourceType":"Claim","contained":[{"resourceType":"\u0042undle"}]},"request":{"method":"POST","url":"Claim\/x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		before := bytes.Clone(body)
		b, err := ParseBundle(body)
		if !bytes.Equal(body, before) {
			t.Fatal("ParseBundle changed its input")
		}
		if err != nil {
			return
		}
		want := referenceEntries(t, body)
		if len(want) != len(b.Entries) {
			t.Fatalf("%d entries, the reference decoder reads %d", len(b.Entries), len(want))
		}
		for i, e := range b.Entries {
			if e.Request != nil && e.Request.Query == nil {
				t.Fatal("entry request without a Query")
			}
			if e.ResourceType == "Bundle" && !e.NestedBundle {
				t.Fatal("a Bundle entry was not flagged as nested")
			}
			w := want[i]
			if e.FullURL != w.FullURL || e.ResourceType != w.resourceType || e.NestedBundle != w.nested {
				t.Fatalf("entry %d: fullUrl %q, type %q, nested %v; the reference decoder reads %q, %q, %v",
					i, e.FullURL, e.ResourceType, e.NestedBundle, w.FullURL, w.resourceType, w.nested)
			}
			if e.Request != nil && e.Request.Method != w.Request.Method {
				t.Fatalf("entry %d: method %q, the reference decoder reads %q", i, e.Request.Method, w.Request.Method)
			}
		}
	})
}

// referenceEntry is an entry as encoding/json reads it, for comparison with
// ParseBundle's own decoder.
type referenceEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`

	resourceType string
	nested       bool
}

func referenceEntries(t *testing.T, body []byte) []referenceEntry {
	t.Helper()
	var b struct {
		Entry []referenceEntry `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("ParseBundle accepted what encoding/json rejects: %v", err)
	}
	for i := range b.Entry {
		e := &b.Entry[i]
		if len(e.Resource) == 0 || string(e.Resource) == "null" {
			continue
		}
		var v any
		if err := json.Unmarshal(e.Resource, &v); err != nil {
			t.Fatal(err)
		}
		if m, ok := v.(map[string]any); ok {
			e.resourceType, _ = m["resourceType"].(string)
		}
		e.nested = holdsBundle(v)
	}
	return b.Entry
}

// holdsBundle reports whether v has a "resourceType": "Bundle" member at
// any depth.
func holdsBundle(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if v["resourceType"] == "Bundle" {
			return true
		}
		for _, x := range v {
			if holdsBundle(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if holdsBundle(x) {
				return true
			}
		}
	}
	return false
}

// TestParseBundleConcurrent parses different Bundles at once, so that the
// pooled decoders and scratch space are shared between goroutines (run it
// with -race), and checks that no result contains another Bundle's entries.
func TestParseBundleConcurrent(t *testing.T) {
	const workers, rounds = 4, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			body := fmt.Sprintf(`{"resourceType":"Bundle","type":"batch","entry":[`+
				`{"fullUrl":"urn:uuid:w%d","request":{"method":"GET","url":"Claim/w%d?patient=p%d"}}]}`, w, w, w)
			for range rounds {
				b, err := ParseBundle([]byte(body))
				if err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf("w%d", w)
				if len(b.Entries) != 1 || b.Entries[0].FullURL != "urn:uuid:"+want || b.Entries[0].Request.ID != want ||
					b.Entries[0].Request.Query.Params[0].Value != "p"+want[1:] {
					errs <- fmt.Errorf("worker %d read %+v", w, b.Entries)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A history Bundle's entry.request names what happened, with an absolute
// URL that ParseBundle rejects as an interaction. ParseBundleContent reads
// its entries and still applies the strict decoding rules.
func TestParseBundleContent(t *testing.T) {
	history := `{"resourceType":"Bundle","type":"history","entry":[{"fullUrl":"urn:uuid:1",` +
		`"resource":{"resourceType":"Parameters"},"request":{"method":"GET","url":"https://example.org/fhir/Subscription/1/$status"}}]}`
	if _, err := ParseBundle([]byte(history)); err == nil {
		t.Fatal("ParseBundle accepted an absolute entry.request.url")
	}
	b, err := ParseBundleContent([]byte(history))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(b.Entries))
	}
	if typ := b.Entries[0].ResourceType; typ != "Parameters" {
		t.Errorf("entry resourceType = %q, want Parameters", typ)
	}
	if b.Entries[0].Request != nil {
		t.Errorf("entry request = %+v, want nil", b.Entries[0].Request)
	}
	duplicate := `{"resourceType":"Bundle","type":"history","entry":[],"entry":[]}`
	if _, err := ParseBundleContent([]byte(duplicate)); err == nil {
		t.Error("ParseBundleContent accepted a duplicate member")
	}
}
