package fhirjson

import (
	"context"
	"strings"
	"testing"
)

func TestCheckedObjectLimits(t *testing.T) {
	doc := []byte(`{"resourceType":"Bundle"}`) // 25 bytes
	long := []byte(`{"a":"` + strings.Repeat("x", 100) + `"}`)
	cases := []struct {
		name    string
		doc     []byte
		checked Limits // limits the document was checked under
		want    Limits // limits of the receiver
		ok      bool
	}{
		{"same limits", doc, DefaultLimits, DefaultLimits, true},
		{"stricter limits", doc, Limits{MaxBytes: 1024, MaxDepth: 32, MaxStringLength: 512}, DefaultLimits, true},
		{"document over the receiver's size", doc, DefaultLimits, Limits{MaxBytes: 10}, false},
		{"looser depth", long, Limits{MaxDepth: 200}, Limits{MaxDepth: 20}, false},
		{"looser depth, document shorter than the receiver's depth", doc, Limits{MaxDepth: 200}, Limits{MaxDepth: 64}, true},
		{"no string limit checked", long, Limits{}, Limits{MaxStringLength: 50}, false},
		{"looser string limit", long, Limits{MaxStringLength: 200}, Limits{MaxStringLength: 50}, false},
		{"stricter string limit", long, Limits{MaxStringLength: 40}, Limits{MaxStringLength: 50}, true},
		{"document shorter than the string limit", doc, Limits{}, Limits{MaxStringLength: 50}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := WithCheckedObject(context.Background(), tc.doc, tc.checked)
			got, ok := CheckedObject(ctx, tc.want)
			if ok != tc.ok {
				t.Fatalf("CheckedObject ok = %v, want %v", ok, tc.ok)
			}
			if ok && string(got) != string(tc.doc) {
				t.Errorf("CheckedObject = %q, want the marked document", got)
			}
		})
	}
}

func TestCheckedObjectUnmarked(t *testing.T) {
	if doc, ok := CheckedObject(context.Background(), DefaultLimits); ok || doc != nil {
		t.Errorf("CheckedObject of an unmarked context = %q, %v; want nil, false", doc, ok)
	}
}
