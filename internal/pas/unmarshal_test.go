package pas

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// insideOf reports whether v's bytes are part of in's backing array.
func insideOf(in []byte, v jsontext.Value) bool {
	if len(v) == 0 || len(in) == 0 {
		return false
	}
	first := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	return at >= first && at+uintptr(len(v)) <= first+uintptr(len(in))
}

func TestUnmarshalAliasingMatchesUnmarshal(t *testing.T) {
	in := []byte(" { \"a\" : null , \"b\": [1, {\"x\":\"\\u0041\"}] ,\"c\":\"s\", \"d\": {\"e\": {}},\n\"f\":[ ]}\n")
	type doc struct {
		A jsontext.Value   `json:"a"`
		B []jsontext.Value `json:"b"`
		C jsontext.Value   `json:"c"`
		D struct {
			E jsontext.Value `json:"e"`
		} `json:"d"`
		F jsontext.Value `json:"f"`
	}
	var want, got doc
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalAliasing(in, &got); err != nil {
		t.Fatal(err)
	}

	pairs := []struct {
		name      string
		want, got jsontext.Value
	}{
		{"a", want.A, got.A},
		{"b[0]", want.B[0], got.B[0]},
		{"b[1]", want.B[1], got.B[1]},
		{"c", want.C, got.C},
		{"d.e", want.D.E, got.D.E},
		{"f", want.F, got.F},
	}
	if len(got.B) != len(want.B) {
		t.Fatalf("b has %d values, want %d", len(got.B), len(want.B))
	}
	for _, p := range pairs {
		if !bytes.Equal(p.got, p.want) {
			t.Errorf("%s = %s, want %s", p.name, p.got, p.want)
		}
		if !insideOf(in, p.got) {
			t.Errorf("%s is a copy, want a subslice of the input", p.name)
		}
		if cap(p.got) != len(p.got) {
			t.Errorf("%s has capacity %d beyond its length %d, so an append would overwrite the input", p.name, cap(p.got), len(p.got))
		}
	}
}

func TestUnmarshalAliasingReportsErrors(t *testing.T) {
	var v struct {
		A jsontext.Value `json:"a"`
	}
	// A duplicate name inside an aliased value must fail as well, because
	// references relies on decodeBundle to have rejected them.
	for _, in := range []string{`{"a":`, `{"a":[1,}`, `{"a":1,"a":2}`, `{"a":{"x":1,"x":2}}`, `{"a":[{"x":1,"x":2}]}`} {
		if err := unmarshalAliasing([]byte(in), &v); err == nil {
			t.Errorf("unmarshalAliasing(%s) succeeded, want an error", in)
		}
	}
}

// ParseRequest keeps the raw elements it copies into responses as
// subslices of the body, so the Bundle's resources are not held twice.
func TestParseRequestSharesBody(t *testing.T) {
	body := readFile(t, homecare221)
	original := bytes.Clone(body)
	req, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}

	for i, e := range req.Entries {
		if !insideOf(body, e.Resource) {
			t.Errorf("Entries[%d].Resource is a copy, want a subslice of the body", i)
		}
	}
	if !insideOf(body, req.BundleIdentifier) {
		t.Error("BundleIdentifier is a copy, want a subslice of the body")
	}
	if !insideOf(body, req.Patient.Reference) {
		t.Error("Patient.Reference is a copy, want a subslice of the body")
	}
	if len(req.Items) == 0 || !insideOf(body, req.Items[0].productOrServiceRaw) {
		t.Error("the first item's productOrService is a copy, want a subslice of the body")
	}

	// Appending to a shared value must allocate, not overwrite the body.
	_ = append(req.Claim.Resource, "garbage"...)
	_ = append(req.BundleIdentifier, "garbage"...)
	if !bytes.Equal(body, original) {
		t.Error("appending to a parsed value changed the body")
	}
}

// references scans resources without checking member names again, which
// is sound only because decoding the Bundle rejects duplicates inside
// every entry's resource.
func TestParseRequestRejectsDuplicateInResource(t *testing.T) {
	body := readFile(t, homecare221)
	claimType := []byte(`"resourceType":"Claim"`)
	if bytes.Count(body, claimType) != 1 {
		t.Fatal("the example Bundle no longer has one Claim this test can edit")
	}
	body = bytes.Replace(body, claimType, []byte(`"resourceType":"Claim","use":"claim"`), 1)
	if _, err := ParseRequest(body); err == nil {
		t.Error("ParseRequest accepted a Claim with a duplicate use member")
	}
}
