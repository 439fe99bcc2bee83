package fhirreq

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestParseInteractions(t *testing.T) {
	tests := []struct {
		method, path string
		want         Request
	}{
		{"GET", "/fhir/metadata", Request{Kind: Capabilities}},
		{"POST", "/fhir/Claim/$submit", Request{Kind: OperationType, Type: "Claim", Operation: "submit"}},
		{"POST", "/fhir/Claim/$inquire", Request{Kind: OperationType, Type: "Claim", Operation: "inquire"}},
		{"GET", "/fhir/Patient/123/$everything", Request{Kind: OperationInstance, Type: "Patient", ID: "123", Operation: "everything"}},
		{"POST", "/fhir/$export", Request{Kind: OperationSystem, Operation: "export"}},
		{"GET", "/fhir/Claim/abc", Request{Kind: Read, Type: "Claim", ID: "abc"}},
		{"GET", "/fhir/Claim/abc/_history/2", Request{Kind: VRead, Type: "Claim", ID: "abc", VersionID: "2"}},
		{"GET", "/fhir/Claim/abc/_history", Request{Kind: HistoryInstance, Type: "Claim", ID: "abc"}},
		{"GET", "/fhir/Claim/_history", Request{Kind: HistoryType, Type: "Claim"}},
		{"GET", "/fhir/_history", Request{Kind: HistorySystem}},
		{"GET", "/fhir/Claim", Request{Kind: SearchType, Type: "Claim"}},
		{"GET", "/fhir", Request{Kind: SearchSystem}},
		{"POST", "/fhir", Request{Kind: BatchTransaction}},
		{"POST", "/fhir/Claim", Request{Kind: Create, Type: "Claim"}},
		{"PUT", "/fhir/Claim/x1", Request{Kind: Update, Type: "Claim", ID: "x1"}},
		{"PATCH", "/fhir/Claim/x1", Request{Kind: Patch, Type: "Claim", ID: "x1"}},
		{"DELETE", "/fhir/ClaimResponse/x1", Request{Kind: Delete, Type: "ClaimResponse", ID: "x1"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://gw"+tt.path+"?a=b", nil)
			got, err := Parse(r, "/fhir")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Query == nil || len(got.Query.Params) != 1 || got.Query.Params[0].Name() != "a" {
				t.Errorf("Query = %+v, want the one parameter a", got.Query)
			}
			tt.want.Method = tt.method
			got.Query = nil
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRejectsNonCanonical(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"dot-dot", "GET", "/fhir/Claim/../Patient/1", http.StatusBadRequest},
		{"single dot", "GET", "/fhir/./Claim/1", http.StatusBadRequest},
		{"encoded slash", "GET", "/fhir/Claim%2F1", http.StatusBadRequest},
		{"encoded dot", "GET", "/fhir/Claim/%2e%2e/Patient", http.StatusBadRequest},
		{"double slash", "GET", "/fhir//Claim/1", http.StatusBadRequest},
		{"trailing slash", "GET", "/fhir/Claim/", http.StatusBadRequest},
		{"matrix parameter", "GET", "/fhir/Claim;x=1/1", http.StatusBadRequest},
		{"type case variant", "POST", "/fhir/claim/$submit", http.StatusBadRequest},
		{"type upper case", "GET", "/fhir/CLAIM/1", http.StatusBadRequest},
		{"unknown type", "GET", "/fhir/Foo/1", http.StatusNotFound},
		{"unknown method", "PROPFIND", "/fhir/Claim/1", http.StatusMethodNotAllowed},
		{"put on type", "PUT", "/fhir/Claim", http.StatusMethodNotAllowed},
		{"delete operation", "DELETE", "/fhir/Claim/$submit", http.StatusMethodNotAllowed},
		{"bad id", "GET", "/fhir/Claim/a_b", http.StatusBadRequest},
		{"deep path", "GET", "/fhir/Claim/1/Patient/2", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://gw/", nil)
			u, err := url.Parse(tt.path) // unlike URL.Parse on a base, keeps dot segments
			if err != nil {
				t.Fatal(err)
			}
			r.Method, r.URL = tt.method, u
			_, err = Parse(r, "/fhir")
			fe, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse error = %v, want *Error with status %d", err, tt.status)
			}
			if fe.Status != tt.status {
				t.Errorf("status = %d, want %d (%s)", fe.Status, tt.status, fe.Reason)
			}
		})
	}
}

func TestParseRejectsMethodOverride(t *testing.T) {
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		t.Run(h, func(t *testing.T) {
			r := httptest.NewRequest("POST", "https://gw/fhir/Claim/$submit", nil)
			r.Header.Set(h, "DELETE")
			if _, err := Parse(r, "/fhir"); err == nil {
				t.Fatal("Parse accepted a method-override header")
			}
		})
	}
}

func TestParseOutsideBase(t *testing.T) {
	r := httptest.NewRequest("GET", "https://gw/fhirx/Claim", nil)
	if _, err := Parse(r, "/fhir"); err != ErrNotFHIR {
		t.Fatalf("err = %v, want ErrNotFHIR", err)
	}
}

func TestPatternRoundTrip(t *testing.T) {
	for _, s := range []string{"capabilities", "batch-transaction", "Claim/$submit", "Patient/[id]/$everything", "$export", "Claim.read", "Claim.search", "Claim.create", "search-system", "history-system"} {
		t.Run(s, func(t *testing.T) {
			pats, err := ParsePattern(s)
			if err != nil {
				t.Fatalf("ParsePattern: %v", err)
			}
			if len(pats) != 1 || pats[0].String() != s {
				t.Errorf("round trip = %v, want [%s]", pats, s)
			}
		})
	}
}

func TestPatternRejects(t *testing.T) {
	for _, s := range []string{"", "Claim", "claim/$submit", "Claim/$", "Claim.*", "*", "Claim/*/$submit", "Claim.write", "Foo.read", "Claim/$submit/x", "system/Claim.read", "Search-System", "search-type", "history-type", "Claim.search-system"} {
		t.Run(s, func(t *testing.T) {
			if _, err := ParsePattern(s); err == nil {
				t.Errorf("ParsePattern(%q) accepted", s)
			}
		})
	}
}

func TestSystemPatternsMatch(t *testing.T) {
	tests := []struct {
		pattern string
		method  string
		path    string
		want    bool
	}{
		{"search-system", "GET", "/fhir?_type=Claim", true},
		{"search-system", "POST", "/fhir/_search", true},
		{"search-system", "GET", "/fhir/Claim?patient=1", false},
		{"search-system", "GET", "/fhir/_history", false},
		{"history-system", "GET", "/fhir/_history", true},
		{"history-system", "GET", "/fhir/Claim/_history", false},
		{"history-system", "GET", "/fhir?_type=Claim", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.method+" "+tt.path, func(t *testing.T) {
			pats, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if tt.method == "POST" {
				body = []byte("_type=Claim")
			}
			r := httptest.NewRequest(tt.method, "https://gw"+tt.path, bytes.NewReader(body))
			if tt.method == "POST" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req, err := ParseWithBody(r, "/fhir", body)
			if err != nil {
				t.Fatal(err)
			}
			if got := pats[0].Matches(req); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPatternMatchesOnlyItsInteraction(t *testing.T) {
	pats, _ := ParsePattern("Claim/$submit")
	p := pats[0]
	cases := map[string]bool{
		"POST /fhir/Claim/$submit":         true,
		"POST /fhir/Claim/$inquire":        false,
		"POST /fhir/ClaimResponse/$submit": false,
		"POST /fhir/Claim/1/$submit":       false,
		"POST /fhir/$submit":               false,
	}
	for line, want := range cases {
		t.Run(line, func(t *testing.T) {
			var method, path string
			for i := range line {
				if line[i] == ' ' {
					method, path = line[:i], line[i+1:]
					break
				}
			}
			req, err := Parse(httptest.NewRequest(method, "https://gw"+path, nil), "/fhir")
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Matches(req); got != want {
				t.Errorf("Matches = %v, want %v", got, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/fhir/Claim/$submit", "/fhir/Claim/1/_history/2", "/fhir/%2e%2e", "/fhir//x", "/fhir/metadata"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r := httptest.NewRequest("GET", "https://gw/", nil)
		u, err := url.Parse(path)
		if err != nil {
			return
		}
		r.URL, r.Method = u, method
		req, err := Parse(r, "/fhir")
		if err != nil {
			return
		}
		// Anything accepted must be canonical: no dot segments or encodings.
		for _, s := range []string{req.Type, req.ID, req.Operation, req.VersionID} {
			if s == "." || s == ".." {
				t.Fatalf("accepted dot segment in %q", path)
			}
		}
		if req.Type != "" && !IsResourceType(req.Type) {
			t.Fatalf("accepted unknown type %q", req.Type)
		}
	})
}
