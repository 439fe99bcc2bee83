package pas

import (
	stdjson "encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	homecare221 = "../demo/bundles/pas-2.2.1-HomecareAuthorizationBundleExample.json"
	update221   = "../demo/bundles/pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json"
)

// mutate decodes a Bundle file, applies fn and re-encodes it.
func mutate(t *testing.T, file string, fn func(b map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := stdjson.Unmarshal(readFile(t, file), &b); err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := stdjson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entries(b map[string]any) []any { return b["entry"].([]any) }

func resource(b map[string]any, i int) map[string]any {
	return entries(b)[i].(map[string]any)["resource"].(map[string]any)
}

func claim(b map[string]any) map[string]any { return resource(b, 0) }

func item(b map[string]any, i int) map[string]any {
	return claim(b)["item"].([]any)[i].(map[string]any)
}

func TestParseRequestRejects(t *testing.T) {
	// The Homecare 2.2.1 Bundle: entry 0 Claim, 1 requestor Organization,
	// 2 insurer, 3 Coverage, 4 Patient.
	cases := []struct {
		name     string
		mutate   func(b map[string]any)
		path     string
		sentinel error
	}{
		{"not a Bundle", func(b map[string]any) { b["resourceType"] = "Parameters" }, "Bundle.resourceType", ErrInvalid},
		{"transaction Bundle", func(b map[string]any) { b["type"] = "transaction" }, "Bundle.type", ErrInvalid},
		{"Bundle without identifier", func(b map[string]any) { delete(b, "identifier") }, "Bundle.identifier", ErrInvalid},
		{"Bundle identifier as a string", func(b map[string]any) { b["identifier"] = "A12345" }, "Bundle.identifier", ErrInvalid},
		{"Claim type as a string", func(b map[string]any) { claim(b)["type"] = "professional" }, "Bundle.entry[0].resource.type", ErrInvalid},
		{"item category as a list", func(b map[string]any) { item(b, 0)["category"] = []any{} }, "Bundle.entry[0].resource.item[0].category", ErrInvalid},
		{"Bundle without timestamp", func(b map[string]any) { delete(b, "timestamp") }, "Bundle.timestamp", ErrInvalid},
		{"entry without fullUrl", func(b map[string]any) { delete(entries(b)[2].(map[string]any), "fullUrl") }, "Bundle.entry[2].fullUrl", ErrInvalid},
		{"duplicate fullUrl", func(b map[string]any) {
			entries(b)[2].(map[string]any)["fullUrl"] = entries(b)[1].(map[string]any)["fullUrl"]
		}, "Bundle.entry[2].fullUrl", ErrInvalid},
		{"entry with request part", func(b map[string]any) {
			entries(b)[1].(map[string]any)["request"] = map[string]any{"method": "POST", "url": "Organization"}
		}, "Bundle.entry[1]", ErrInvalid},
		{"first entry not a Claim", func(b map[string]any) {
			e := entries(b)
			e[0], e[4] = e[4], e[0]
		}, "Bundle.entry[0].resource", ErrInvalid},
		{"inquiry Bundle profile", func(b map[string]any) {
			b["meta"] = map[string]any{"profile": []any{ProfileInquiryRequestBundle + "|2.2.1"}}
		}, "Bundle.meta.profile", ErrInvalid},
		{"inquiry Claim profile", func(b map[string]any) {
			delete(b, "meta")
			claim(b)["meta"] = map[string]any{"profile": []any{ProfileClaimInquiry}}
		}, "Bundle.entry[0].resource.meta.profile", ErrInvalid},
		{"use claim", func(b map[string]any) { claim(b)["use"] = "claim" }, "Bundle.entry[0].resource.use", ErrBusinessRule},
		{"use missing", func(b map[string]any) { delete(claim(b), "use") }, "Bundle.entry[0].resource.use", ErrInvalid},
		{"Claim without identifier", func(b map[string]any) { delete(claim(b), "identifier") }, "Bundle.entry[0].resource.identifier", ErrInvalid},
		{"identifier without system", func(b map[string]any) {
			claim(b)["identifier"] = []any{map[string]any{"value": "111099"}}
		}, "Bundle.entry[0].resource.identifier", ErrInvalid},
		{"Claim without type", func(b map[string]any) { delete(claim(b), "type") }, "Bundle.entry[0].resource.type", ErrInvalid},
		{"patient unresolved", func(b map[string]any) {
			claim(b)["patient"] = map[string]any{"reference": "Patient/absent"}
		}, "Bundle.entry[0].resource.patient", ErrInvalid},
		{"patient points at an Organization", func(b map[string]any) {
			claim(b)["patient"] = map[string]any{"reference": "Organization/InsurerExample"}
		}, "Bundle.entry[0].resource.patient", ErrInvalid},
		{"patient by display only", func(b map[string]any) {
			claim(b)["patient"] = map[string]any{"display": "someone"}
		}, "Bundle.entry[0].resource.patient.reference", ErrInvalid},
		{"insurer missing", func(b map[string]any) { delete(claim(b), "insurer") }, "Bundle.entry[0].resource.insurer", ErrInvalid},
		{"provider without identifier", func(b map[string]any) { delete(resource(b, 1), "identifier") }, "Bundle.entry[1].resource.identifier", ErrInvalid},
		{"patient without identifier", func(b map[string]any) { delete(resource(b, 4), "identifier") }, "Bundle.entry[4].resource.identifier", ErrInvalid},
		{"no insurance", func(b map[string]any) { delete(claim(b), "insurance") }, "Bundle.entry[0].resource.insurance", ErrInvalid},
		{"no items", func(b map[string]any) { delete(claim(b), "item") }, "Bundle.entry[0].resource.item", ErrInvalid},
		{"duplicate sequence", func(b map[string]any) { item(b, 1)["sequence"] = 1 }, "Bundle.entry[0].resource.item[1].sequence", ErrInvalid},
		{"sequence zero", func(b map[string]any) { item(b, 0)["sequence"] = 0 }, "Bundle.entry[0].resource.item[0].sequence", ErrInvalid},
		{"sequence as a string", func(b map[string]any) { item(b, 0)["sequence"] = "1" }, "Bundle.entry[0].resource.item[0].sequence", ErrInvalid},
		{"item without productOrService", func(b map[string]any) { delete(item(b, 0), "productOrService") }, "Bundle.entry[0].resource.item[0].productOrService", ErrInvalid},
		{"dangling reference in an item extension", func(b map[string]any) {
			ext := item(b, 0)["extension"].([]any)
			item(b, 0)["extension"] = append(ext, map[string]any{
				"url":            base + "extension-requestedService",
				"valueReference": map[string]any{"reference": "ServiceRequest/absent"},
			})
		}, "Bundle.entry[0].resource.item[0].extension[2].valueReference", ErrInvalid},
		{"local reference without contained resource", func(b map[string]any) {
			claim(b)["referral"] = map[string]any{"reference": "#absent"}
		}, "Bundle.entry[0].resource.referral", ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(mutate(t, homecare221, tc.mutate))
			var be *BundleError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, expected a *BundleError", err)
			}
			if be.Path != tc.path {
				t.Errorf("path %q (%v), expected %q", be.Path, be, tc.path)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
			for _, secret := range []string{"111099", "12345678901", "SubscriberExample", "absent", "someone"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q echoes document content %q", err, secret)
				}
			}
		})
	}
}

func TestParseRequestIgnoresCaseVariantMembers(t *testing.T) {
	// A differently-cased twin must not override the real element.
	body := mutate(t, homecare221, func(b map[string]any) { claim(b)["Use"] = "claim" })
	if _, err := ParseRequest(body); err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
}

func TestParseRequestUpdateNeedsPriorClaim(t *testing.T) {
	// The 2.2.1 update carries its prior Claim as the last entry.
	body := mutate(t, update221, func(b map[string]any) {
		e := entries(b)
		b["entry"] = e[:len(e)-1]
	})
	_, err := ParseRequest(body)
	var be *BundleError
	if !errors.As(err, &be) || be.Path != "Bundle.entry[0].resource.related[0].claim" {
		t.Fatalf("got %v, expected an error at Claim.related[0].claim", err)
	}
}

func TestParseRequestReadsPrior(t *testing.T) {
	req, err := ParseRequest(readFile(t, update221))
	if err != nil {
		t.Fatal(err)
	}
	want := Identifier{System: "http://example.org/PATIENT_EVENT_TRACE_NUMBER", Value: "111099"}
	if len(req.Prior) != 1 || req.Prior[0] != want {
		t.Errorf("Prior = %v, expected [%v]", req.Prior, want)
	}
}

func TestParseInquiryRejectsSubmitBundle(t *testing.T) {
	_, err := ParseInquiry(readFile(t, homecare221))
	var be *BundleError
	if !errors.As(err, &be) || be.Path != "Bundle.meta.profile" {
		t.Fatalf("got %v, expected an error at Bundle.meta.profile", err)
	}
}

func TestParseInquiryAllowsNoItems(t *testing.T) {
	body := mutate(t, homecare221, func(b map[string]any) {
		delete(b, "meta")
		delete(claim(b), "meta")
		delete(claim(b), "item")
		delete(claim(b), "insurance")
	})
	req, err := ParseInquiry(body)
	if err != nil {
		t.Fatalf("ParseInquiry: %v", err)
	}
	if req.Kind != KindInquiry || len(req.Items) != 0 {
		t.Errorf("Kind %v with %d items, expected an inquiry without items", req.Kind, len(req.Items))
	}
}

func TestResolve(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle","type":"collection","entry":[
		{"fullUrl":"http://a/fhir/Claim/c1","resource":{"resourceType":"Claim","id":"c1"}},
		{"fullUrl":"http://a/fhir/Patient/p1","resource":{"resourceType":"Patient","id":"p1"}},
		{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":{"resourceType":"Claim","id":"u"}},
		{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002","resource":{"resourceType":"Patient","id":"p2"}},
		{"fullUrl":"http://b/fhir/Patient/p1","resource":{"resourceType":"Patient","id":"p1"}},
		{"fullUrl":"Patient/p3","resource":{"resourceType":"Patient","id":"p3"}},
		{"fullUrl":"http://a/fhir/Patient/p3","resource":{"resourceType":"Patient","id":"p3"}}]}`)
	_, ix, err := decodeBundle(body)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		from int
		ref  string
		want int // entry index, -1 for unresolved
	}{
		{"relative against RESTful base", 0, "Patient/p1", 1},
		{"relative with history", 0, "Patient/p1/_history/2", 1},
		{"absolute equal to fullUrl", 0, "http://a/fhir/Patient/p1", 1},
		{"urn equal to fullUrl", 0, "urn:uuid:00000000-0000-4000-8000-000000000002", 3},
		{"relative missing under base", 0, "Patient/p2", -1},
		{"relative unique under urn", 2, "Patient/p2", 3},
		{"relative ambiguous under urn", 2, "Patient/p1", -1},
		{"relative under base, not the relative fullUrl", 0, "Patient/p3", 6},
		{"absolute elsewhere", 0, "https://elsewhere/fhir/Patient/p1", -1},
		{"type only", 0, "Patient", -1},
		{"lower-case type", 0, "patient/p1", -1},
		{"empty", 0, "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ix.resolve(tc.from, tc.ref)
			switch {
			case tc.want < 0 && ok:
				t.Errorf("resolved to entry %d, expected no match", got.Index)
			case tc.want >= 0 && !ok:
				t.Errorf("unresolved, expected entry %d", tc.want)
			case tc.want >= 0 && got.Index != tc.want:
				t.Errorf("resolved to entry %d, expected %d", got.Index, tc.want)
			}
		})
	}
}

func TestPointerPathHidesOddNames(t *testing.T) {
	body := []byte(`{"a":{"JOHN SMITH":[{"reference":"x"}]}}`)
	refs, err := references(body)
	if err != nil || len(refs) != 1 {
		t.Fatalf("references = %v, %v", refs, err)
	}
	if got := pointerPath("R", refs[0].at); got != "R.a.?[0]" {
		t.Errorf("path %q, expected %q", got, "R.a.?[0]")
	}
}
