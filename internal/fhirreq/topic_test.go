package fhirreq

import (
	"reflect"
	"testing"
)

func TestSubscriptionTopicCriteria(t *testing.T) {
	const topic = `"criteria":"` + PASSubscriptionTopic + `"`
	const filter = `"url":"` + FilterCriteriaURL + `"`
	tests := []struct {
		name, body string
		want       TopicCriteria
	}{
		{"topic without filter", `{"resourceType":"Subscription",` + topic + `}`,
			TopicCriteria{Topics: []string{PASSubscriptionTopic}}},
		{"topic with version", `{"criteria":"` + PASSubscriptionTopic + `|2.2.1"}`,
			TopicCriteria{Topics: []string{PASSubscriptionTopic + "|2.2.1"}}},
		{"search criteria is no topic", `{"criteria":"Observation?code=x"}`, TopicCriteria{}},
		{"filter on _criteria", `{` + topic + `,"_criteria":{"extension":[{` + filter + `,"valueString":"org-identifier=1"}]}}`,
			TopicCriteria{Topics: []string{PASSubscriptionTopic}, Filters: []string{"org-identifier=1"}}},
		{"case variants", `{"Criteria":"http://example.org/t","_CRITERIA":{"Extension":[{"URL":"` + FilterCriteriaURL + `","ValueString":"a=1"}]}}`,
			TopicCriteria{Topics: []string{"http://example.org/t"}, Filters: []string{"a=1"}}},
		{"filter url in another case", `{"_criteria":{"extension":[{"url":" HTTP://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/Backport-Filter-Criteria","valueString":"a=1"}]}}`,
			TopicCriteria{Filters: []string{"a=1"}}},
		{"filter at the top level", `{"extension":[{` + filter + `,"valueString":"Patient?_has:Claim:patient:status=active"}]}`,
			TopicCriteria{Filters: []string{"Patient?_has:Claim:patient:status=active"}}},
		{"other extensions ignored", `{"_criteria":{"extension":[{"url":"http://example.org/x","valueCode":"a"}]},"extension":[{"url":"http://example.org/y","valueString":"b"}]}`,
			TopicCriteria{}},
		{"filter without value", `{"_criteria":{"extension":[{` + filter + `}]}}`, TopicCriteria{}},
		{"filter in a contained resource", `{"contained":[{"resourceType":"Subscription","_criteria":{"extension":[{` + filter + `,"valueString":"a=1"}]}}]}`,
			TopicCriteria{}},
		{"filter as another type", `{"_criteria":{"extension":[{` + filter + `,"valueUri":"a=1"}]}}`, TopicCriteria{Malformed: true}},
		{"filter with two values", `{"_criteria":{"extension":[{` + filter + `,"valueString":"a=1","ValueString":"b=2"}]}}`,
			TopicCriteria{Malformed: true}},
		{"filter value as an object", `{"_criteria":{"extension":[{` + filter + `,"valueString":{"value":"a=1"}}]}}`, TopicCriteria{Malformed: true}},
		{"url as an array", `{"_criteria":{"extension":[{"url":["` + FilterCriteriaURL + `"],"valueString":"a=1"}]}}`, TopicCriteria{Malformed: true}},
		{"extension as an object", `{"_criteria":{"extension":{` + filter + `,"valueString":"a=1"}}}`, TopicCriteria{Malformed: true}},
		{"extension element as a string", `{"extension":["a=1"]}`, TopicCriteria{Malformed: true}},
		{"criteria as an array", `{"criteria":["http://example.org/t"]}`, TopicCriteria{CriteriaMalformed: true}},
		{"criteria as an object in a case variant", `{"criteria":"` + PASSubscriptionTopic + `","CRITERIA":{"value":"http://example.org/t"}}`,
			TopicCriteria{Topics: []string{PASSubscriptionTopic}, CriteriaMalformed: true}},
		{"criteria as null", `{"criteria":null}`, TopicCriteria{CriteriaMalformed: true}},
		{"_criteria as an array", `{"_criteria":[{"extension":[{` + filter + `,"valueString":"a=1"}]}]}`, TopicCriteria{Malformed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SubscriptionTopicCriteria([]byte(tc.body))
			if err != nil {
				t.Fatalf("SubscriptionTopicCriteria: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("criteria = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSubscriptionTopicCriteriaRejectsNonObject(t *testing.T) {
	for _, body := range []string{`[]`, `"x"`, `{"criteria":`} {
		if _, err := SubscriptionTopicCriteria([]byte(body)); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}
