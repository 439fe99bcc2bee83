package fhirreq

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestParseQueryModel(t *testing.T) {
	q, err := ParseQuery("subject:Patient.name:exact=Smith&code=http://loinc.org|1234-5,5678-9" +
		"&_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target" +
		"&_has:Observation:patient:code=1234&_count=50&_summary=data&_format=json" +
		"&_elements=id,status&_sort=-date&date=ge2020-01-01T00:00:00%2B05:00&name=Jos%C3%A9%20Smith")
	if err != nil {
		t.Fatalf("ParseQuery: %v", err)
	}
	wantParams := []Param{
		{Links: []Link{{"subject", "Patient"}, {"name", "exact"}}, Value: "Smith"},
		{Links: []Link{{"code", ""}}, Value: "http://loinc.org|1234-5,5678-9"},
		{Links: []Link{{"_sort", ""}}, Value: "-date"},
		{Links: []Link{{"date", ""}}, Value: "ge2020-01-01T00:00:00+05:00"},
		{Links: []Link{{"name", ""}}, Value: "José Smith"},
	}
	if !reflect.DeepEqual(q.Params, wantParams) {
		t.Errorf("Params = %+v\nwant %+v", q.Params, wantParams)
	}
	wantIncludes := []Include{
		{Source: "Observation", Param: "subject", Target: "Patient"},
		{Reverse: true, Iterate: true, Source: "Provenance", Param: "target"},
	}
	if !reflect.DeepEqual(q.Includes, wantIncludes) {
		t.Errorf("Includes = %+v", q.Includes)
	}
	if len(q.Has) != 1 || q.Has[0].Type != "Observation" || q.Has[0].Ref != "patient" || q.Has[0].Param.Name != "code" || q.Has[0].Value != "1234" {
		t.Errorf("Has = %+v", q.Has)
	}
	if q.Count != 50 || q.Summary != "data" || q.Format != "json" || !reflect.DeepEqual(q.Elements, []string{"id", "status"}) {
		t.Errorf("controls: count %d summary %q format %q elements %v", q.Count, q.Summary, q.Format, q.Elements)
	}
	if !q.Params[0].Chained() || q.Params[1].Plain() || !q.Params[4].Plain() {
		t.Error("Chained or Plain misreports a parameter")
	}
}

func TestParseQueryNestedHas(t *testing.T) {
	q, err := ParseQuery("_has:Observation:patient:_has:AuditEvent:entity:agent=x")
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Has[0].Types(); !reflect.DeepEqual(got, []string{"Observation", "AuditEvent"}) {
		t.Errorf("Types = %v", got)
	}
	if last := q.Has[0].Next; last.Param.Name != "agent" || last.Value != "x" {
		t.Errorf("last link = %+v", last)
	}
}

func TestParseQueryRejects(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"semicolon separator", "a=1;b=2"},
		{"semicolon in value", "a=1;2"},
		{"literal plus", "name=John+Smith"},
		{"encoded ampersand", "name=a%26b=c"},
		{"encoded ampersand lower case", "name=a%26_count=1000"},
		{"encoded equals", "name%3Dx=1"},
		{"encoded semicolon", "a=1%3Bb=2"},
		{"double encoding", "name=%2526"},
		{"encoded name", "na%6De=x"},
		{"invalid escape", "name=%zz"},
		{"control character", "name=a%0Ab"},
		{"NUL", "name=a%00"},
		{"invalid UTF-8", "name=%C3"},
		{"empty parameter", "a=1&&b=2"},
		{"trailing ampersand", "a=1&"},
		{"no equals", "a"},
		{"empty value", "a="},
		{"empty name", "=1"},
		{"duplicate _count", "_count=10&_count=1000"},
		{"_count across case", "_count=10&_COUNT=1000"},
		{"negative _count", "_count=-1"},
		{"signed _count", "_count=%2B10"},
		{"leading zero _count", "_count=010"},
		{"huge _count", "_count=1000000000"},
		{"_count modifier", "_count:x=1"},
		{"duplicate _summary", "_summary=true&_summary=false"},
		{"bad _summary", "_summary=all"},
		{"duplicate _format", "_format=json&_format=xml"},
		{"duplicate _elements", "_elements=id&_elements=status"},
		{"unknown underscore", "_offset=10"},
		{"HAPI paging", "_getpages=abc"},
		{"recurse modifier", "_include:recurse=Observation:subject"},
		{"include unknown type", "_include=Foo:subject"},
		{"include no param", "_include=Observation"},
		{"include extra part", "_include=Observation:subject:Patient:x"},
		{"include chain", "_include.x=Observation:subject"},
		{"has too short", "_has:Observation:patient=1"},
		{"has unknown type", "_has:Foo:patient:code=1"},
		{"has chain in param", "_has:Observation:patient:subject.name=1"},
		{"has too deep", strings.Repeat("_has:Observation:subject:", 5) + "code=1"},
		{"bad type list", "_type=Claim,claim"},
		{"bad elements", "_elements=id,,status"},
		{"chain too long", "a.b.c.d.e=1"},
		{"empty modifier", "name:=x"},
		{"space in name", "na%20me=x"},
		{"fragment", "a=1#x"},
		{"too many parameters", strings.Repeat("a=1&", MaxParams) + "a=1"},
		{"too long", "a=" + strings.Repeat("x", MaxQueryBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.raw)
			if err == nil {
				t.Fatalf("ParseQuery accepted: %+v", q)
			}
			fe, ok := err.(*Error)
			if !ok || fe.Status != http.StatusBadRequest {
				t.Errorf("err = %v, want *Error with status 400", err)
			}
		})
	}
}

func TestQueryErrorsQuoteNoValue(t *testing.T) {
	_, err := ParseQuery("secretname=PHI%0Avalue")
	if err == nil || strings.Contains(err.Error(), "PHI") || strings.Contains(err.Error(), "secretname") {
		t.Errorf("err = %v: must not quote the query", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, raw := range []string{
		"",
		"subject:Patient.name:exact=Smith&code=a,b",
		"_include:iterate=Observation:subject:Patient&_revinclude=*&_has:Observation:patient:code:text=x%20y",
		"_count=0&_summary=count&_format=application/fhir%2Bjson&_elements=id&_type=Claim,Coverage",
		"date=ge2020-01-01T00:00:00%2B05:00&name=Jos%C3%A9&path=a\\,b",
	} {
		t.Run(raw, func(t *testing.T) {
			q, err := ParseQuery(raw)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseQuery(q.Encode())
			if err != nil {
				t.Fatalf("Encode output %q does not parse: %v", q.Encode(), err)
			}
			if !reflect.DeepEqual(q, again) {
				t.Errorf("round trip changed the query:\n%+v\n%+v", q, again)
			}
		})
	}
}

func TestParseConditional(t *testing.T) {
	tests := []struct {
		name, method, target string
		header               string
		kind                 Kind
		conditional          bool
		ifNoneExist          bool
	}{
		{"conditional update", "PUT", "/fhir/Coverage?identifier=x|1", "", Update, true, false},
		{"conditional delete", "DELETE", "/fhir/Coverage?identifier=x|1", "", Delete, true, false},
		{"conditional patch", "PATCH", "/fhir/Coverage?identifier=x|1", "", Patch, true, false},
		{"conditional create", "POST", "/fhir/Observation", "identifier=x|1", Create, false, true},
		{"conditional create with ?", "POST", "/fhir/Observation", "?identifier=x|1", Create, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://gw"+tt.target, nil)
			if tt.header != "" {
				r.Header.Set("If-None-Exist", tt.header)
			}
			req, err := Parse(r, "/fhir")
			if err != nil {
				t.Fatal(err)
			}
			if req.Kind != tt.kind || req.Conditional != tt.conditional || (req.IfNoneExist != nil) != tt.ifNoneExist || req.ID != "" {
				t.Errorf("got %+v", req)
			}
		})
	}
}

func TestParseConditionalRejects(t *testing.T) {
	tests := []struct {
		name, method, target string
		headers              []string
	}{
		{"If-None-Exist on read", "GET", "/fhir/Claim/1", []string{"identifier=x"}},
		{"If-None-Exist twice", "POST", "/fhir/Claim", []string{"identifier=x", "identifier=y"}},
		{"If-None-Exist empty", "POST", "/fhir/Claim", []string{"?"}},
		{"If-None-Exist smuggling", "POST", "/fhir/Claim", []string{"identifier=x;_count=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://gw"+tt.target, nil)
			for _, h := range tt.headers {
				r.Header.Add("If-None-Exist", h)
			}
			if req, err := Parse(r, "/fhir"); err == nil {
				t.Errorf("Parse accepted: %+v", req)
			}
		})
	}
}

func TestParseSearchPost(t *testing.T) {
	r := httptest.NewRequest("POST", "https://gw/fhir/Claim/_search?_count=10", nil)
	if _, err := Parse(r, "/fhir"); err == nil {
		t.Fatal("Parse accepted POST _search without its body")
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req, err := ParseWithBody(r, "/fhir", []byte("patient=123&_include=Claim:patient:Patient"))
	if err != nil {
		t.Fatal(err)
	}
	if req.Kind != SearchType || req.Query.Count != 10 || len(req.Query.Params) != 1 || len(req.Query.Includes) != 1 {
		t.Errorf("got %+v, query %+v", req, req.Query)
	}

	dup, _ := http.NewRequest("POST", "https://gw/fhir/Claim/_search?_count=10", nil)
	dup.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := ParseWithBody(dup, "/fhir", []byte("_count=1000")); err == nil {
		t.Error("_count in both the URL and the body was accepted")
	}
	json, _ := http.NewRequest("POST", "https://gw/fhir/Claim/_search", nil)
	json.Header.Set("Content-Type", "application/fhir+json")
	if _, err := ParseWithBody(json, "/fhir", []byte(`{"a":1}`)); err == nil {
		t.Error("a JSON _search body was accepted")
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"subject:Patient.name=x", "_include:iterate=Observation:subject:Patient", "_has:Observation:patient:code=1",
		"_count=10&_summary=count", "a=1;b=2", "name=%26", "date=ge2020%2B05:00", "_type=Claim,Coverage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			return
		}
		for _, p := range q.Params {
			if len(p.Links) == 0 || strings.ContainsAny(p.Value, "&;%\x00\n") {
				t.Fatalf("accepted an unsafe parameter from %q", raw)
			}
		}
		again, err := ParseQuery(q.Encode())
		if err != nil {
			t.Fatalf("Encode output of %q does not parse: %v", raw, err)
		}
		if !reflect.DeepEqual(q, again) {
			t.Fatalf("round trip of %q changed the query", raw)
		}
	})
}
