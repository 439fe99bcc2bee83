package pas

import (
	"testing"

	"github.com/go-json-experiment/json"
)

// TestHeaderScannerMatchesUnmarshal checks that headerScanner.header, where it
// returns a header, returns what json.Unmarshal decodes, and that it
// leaves to json.Unmarshal the cases it does not read itself.
func TestHeaderScannerMatchesUnmarshal(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
	}{
		{`{}`, true},
		{`{"resourceType":"Claim"}`, true},
		{`{"id":"x","resourceType":"Claim","a":[1,{"b":2}]}`, true},
		{`{"a":{"resourceType":"X","id":"y"},"resourceType":"Claim","meta":{},"id":"7"}`, true},
		{`{"ResourceType":"Claim","ID":"1"}`, true},
		{`{"resourceType":"Cl\u0061im","id":"a\"b"}`, true},
		{`{"resourceType":null}`, false},
		{`{"resourceType":5}`, false},
		{`{"resourceType":"Claim","id":{}}`, false},
		{`{"resource\u0054ype":"Claim"}`, false},
		{`[]`, false},
		{`"Claim"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var scan headerScanner
			got, ok := scan.header([]byte(tt.in))
			if ok != tt.wantOK {
				t.Fatalf("header ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			var want headerJSON
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if got != want {
				t.Errorf("header = %+v, json.Unmarshal = %+v", got, want)
			}
		})
	}
}
