package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCanonicalGatehouse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []any
		dropped int
	}{
		{"boolean", `[{"type":"System.Boolean","value":true}]`, []any{true}, 0},
		{"decimal", `[{"type":"System.Decimal","value":1.0}]`, []any{1.0}, 0},
		{"ucum quantity", `[{"type":"System.Quantity","value":{"value":4.0,"unit":"mg"}}]`, []any{"4 'mg'"}, 0},
		{"calendar quantity", `[{"type":"System.Quantity","value":{"value":4,"unit":"day"}}]`, []any{"4 days"}, 0},
		{"one calendar unit", `[{"type":"System.Quantity","value":{"value":1,"unit":"year"}}]`, []any{"1 year"}, 0},
		{"primitive without value", `[{"type":"FHIR.string","value":null},{"type":"FHIR.string","value":"a"}]`, []any{"a"}, 1},
		{"empty", `[]`, []any{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped, err := canonicalGatehouse(json.RawMessage(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", dropped, tt.dropped)
			}
		})
	}
}

func TestItemMatches(t *testing.T) {
	tests := []struct {
		name string
		got  any
		want expectedItem
		ok   bool
	}{
		{"boolean", true, expectedItem{"boolean", "true"}, true},
		{"boolean mismatch", false, expectedItem{"boolean", "true"}, false},
		{"decimal digits", 1.0, expectedItem{"decimal", "1.0"}, true},
		{"date literal", "2015-02-04", expectedItem{"date", "@2015-02-04"}, true},
		{"time literal", "12:00:00", expectedItem{"time", "@T12:00:00"}, true},
		{"string is not a number", "1", expectedItem{"integer", "1"}, false},
		{"untyped number", -0.0, expectedItem{"", "-0.0"}, true},
		{"untyped dateTime", "2014-01-01T08:00:00.000+14:00", expectedItem{"", "@2014-01-01T08:00:00.000+14:00"}, true},
		{"quantity", "1 '1'", expectedItem{"Quantity", "1 '1'"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := itemMatches(tt.got, tt.want); got != tt.ok {
				t.Errorf("itemMatches(%#v, %+v) = %v, want %v", tt.got, tt.want, got, tt.ok)
			}
		})
	}
}
