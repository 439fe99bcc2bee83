package fhirreq

import (
	"reflect"
	"testing"
)

func TestSubscriptionChannels(t *testing.T) {
	tests := []struct {
		name, body string
		want       []SubscriptionChannel
	}{
		{"rest-hook", `{"resourceType":"Subscription","channel":{"type":"rest-hook","endpoint":"https://a.example/$h","payload":"application/fhir+json"}}`,
			[]SubscriptionChannel{{Types: []string{"rest-hook"}, Endpoints: []string{"https://a.example/$h"}}}},
		{"no channel", `{"resourceType":"Subscription","status":"requested"}`, nil},
		{"case variants", `{"channel":{"type":"rest-hook","endpoint":"https://a.example/$h","ENDPOINT":"https://b.example/$h"},"Channel":{"Type":"email"}}`,
			[]SubscriptionChannel{
				{Types: []string{"rest-hook"}, Endpoints: []string{"https://a.example/$h", "https://b.example/$h"}},
				{Types: []string{"email"}},
			}},
		{"escaped member name", `{"ch\u0061nnel":{"endpoint":"https://b.example/$h"}}`,
			[]SubscriptionChannel{{Endpoints: []string{"https://b.example/$h"}}}},
		{"channel in a contained resource", `{"contained":[{"resourceType":"Subscription","channel":{"endpoint":"https://b.example/$h"}}]}`, nil},
		{"channel as an array", `{"channel":[{"type":"rest-hook","endpoint":"https://b.example/$h"}]}`,
			[]SubscriptionChannel{{Malformed: true}}},
		{"endpoint as an object", `{"channel":{"type":"rest-hook","endpoint":{"value":"https://b.example/$h"}}}`,
			[]SubscriptionChannel{{Types: []string{"rest-hook"}, Malformed: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SubscriptionChannels([]byte(tc.body))
			if err != nil {
				t.Fatalf("SubscriptionChannels: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("channels = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSubscriptionChannelsMalformedJSON(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"channel":{"endpoint":"x"}`, `{"channel":{},"channel":{}}`} {
		if _, err := SubscriptionChannels([]byte(body)); err == nil {
			t.Errorf("SubscriptionChannels(%q) returned no error", body)
		}
	}
}
