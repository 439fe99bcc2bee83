package fhirreq

import "testing"

func TestParseSort(t *testing.T) {
	tests := []struct {
		value            string
		ok               bool
		chained, has     bool
		descendingSecond bool
	}{
		{value: "created", ok: true},
		{value: "-created,status", ok: true},
		{value: "created,-status", ok: true, descendingSecond: true},
		{value: "patient.name", ok: true, chained: true},
		{value: "-patient:Patient.birthdate", ok: true, chained: true},
		{value: "_has:Observation:subject:code", ok: true, has: true},
		{value: "status:text"},
		{value: "patient.name:exact"},
		{value: ""},
		{value: "created,,status"},
		{value: "-"},
		{value: "--created"},
		{value: "created "},
		{value: "_has:"},
		{value: "_has:Observation:subject.code"},
		{value: "a.b.c.d.e"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			keys, err := ParseSort(tt.value)
			if !tt.ok {
				if err == nil {
					t.Fatalf("accepted, keys %+v", keys)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got := keys[0].Chained(); got != tt.chained {
				t.Errorf("Chained = %v, want %v", got, tt.chained)
			}
			if got := keys[0].Has(); got != tt.has {
				t.Errorf("Has = %v, want %v", got, tt.has)
			}
			if len(keys) > 1 && keys[1].Descending != tt.descendingSecond {
				t.Errorf("second key Descending = %v, want %v", keys[1].Descending, tt.descendingSecond)
			}
		})
	}
}

// A malformed _sort is rejected when the query is parsed, so it never
// reaches the policy or the upstream.
func TestParseQueryChecksSort(t *testing.T) {
	if _, err := ParseQuery("_sort=status:text"); err == nil {
		t.Error("ParseQuery accepted a _sort key with a modifier")
	}
	if _, err := ParseQuery("_sort=-created"); err != nil {
		t.Errorf("ParseQuery rejected a plain descending key: %v", err)
	}
}
