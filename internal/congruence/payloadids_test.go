package congruence

import (
	"slices"
	"testing"
)

func TestPayloadIdentifiers(t *testing.T) {
	body := []byte(`{"resourceType":"Patient","identifier":[{"system":"s1","value":"v1"},{"value":"no-system"}],` +
		`"extension":[{"url":"u","valueReference":{"extension":[{"url":"u2","valueIdentifier":{"system":"s2","value":"v2"}}]}}],` +
		`"link":[{"other":{"identifier":{"value":"v3","system":"s3"}}}],"quantity":{"system":"ucum","value":5},` +
		`"again":{"system":"s1","value":"v1"}}`)

	got, err := PayloadIdentifiers(body)
	if err != nil {
		t.Fatal(err)
	}

	want := []FoundIdentifier{
		{Pointer: "/identifier/0", Identifier: Identifier{"s1", "v1"}},
		{Pointer: "/identifier/1", Identifier: Identifier{"", "no-system"}, AnySystem: true},
		{Pointer: "/extension/0/valueReference/extension/0/valueIdentifier", Identifier: Identifier{"s2", "v2"}},
		{Pointer: "/link/0/other/identifier", Identifier: Identifier{"s3", "v3"}},
	}
	if len(got) != len(want) {
		t.Fatalf("PayloadIdentifiers = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("PayloadIdentifiers[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A Coverage carries member ids without a member id system in
// subscriberId and identifier, and a conditional reference carries them
// in its query.
func TestPayloadIdentifiersMemberIDForms(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"identifier":[{"system":"s1","value":"c1"}],` +
		`"subscriberId":"sub-1","beneficiary":{"reference":"Patient?identifier=s2|v2,v3"},"resourceType":"Coverage"},` +
		`"request":{"method":"POST","url":"Coverage","ifNoneExist":"identifier=s4%7Cv4"}},` +
		`{"resource":{"resourceType":"Observation","identifier":[{"system":"s5","value":"v5"}],` +
		`"subject":{"reference":"https://ehr.example/fhir/Patient?identifier=a\\|b|v\\,6"}}}]}`)

	got, err := PayloadIdentifiers(body)
	if err != nil {
		t.Fatal(err)
	}

	want := []FoundIdentifier{
		{Pointer: "/entry/0/resource/identifier/0", Identifier: Identifier{"s1", "c1"}},
		{Pointer: "/entry/0/resource/subscriberId", Identifier: Identifier{"", "sub-1"}, AnySystem: true},
		{Pointer: "/entry/0/resource/beneficiary/reference", Identifier: Identifier{"s2", "v2"}},
		{Pointer: "/entry/0/resource/beneficiary/reference", Identifier: Identifier{"", "v3"}, AnySystem: true},
		{Pointer: "/entry/0/resource/identifier/0", Identifier: Identifier{"s1", "c1"}, AnySystem: true},
		{Pointer: "/entry/0/request/ifNoneExist", Identifier: Identifier{"s4", "v4"}},
		{Pointer: "/entry/1/resource/identifier/0", Identifier: Identifier{"s5", "v5"}},
		{Pointer: "/entry/1/resource/subject/reference", Identifier: Identifier{"a|b", "v,6"}},
	}
	if len(got) != len(want) {
		t.Fatalf("PayloadIdentifiers = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("PayloadIdentifiers[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A conditional reference whose identifier parameter cannot be read is
// returned as unreadable, so that the caller rejects it.
func TestPayloadIdentifiersUnreadableConditional(t *testing.T) {
	for _, ref := range []string{"Patient?identifier=%zz", "Patient?identifier:of-type=s|MB|v", "Patient?identifier=a|b|c"} {
		got, err := PayloadIdentifiers([]byte(`{"resourceType":"Observation","subject":{"reference":"` + ref + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Unreadable {
			t.Errorf("PayloadIdentifiers(%q) = %+v, want one unreadable entry", ref, got)
		}
	}
}

func TestPayloadIdentifiersInvalidJSON(t *testing.T) {
	if _, err := PayloadIdentifiers([]byte(`{"identifier":[`)); err == nil {
		t.Error("PayloadIdentifiers accepted truncated JSON")
	}
}

func TestSystemKey(t *testing.T) {
	base := SystemKey("urn:oid:2.16.840.1.113883.3.9999")
	for _, variant := range []string{"URN:OID:2.16.840.1.113883.3.9999", "2.16.840.1.113883.3.9999", "urn:oid:2.16.840.1.113883.3.9999/", " urn:oid:2.16.840.1.113883.3.9999 ", "urn:oid:２.16.840.1.113883.3.9999"} {
		if got := SystemKey(variant); got != base {
			t.Errorf("SystemKey(%q) = %q, want %q", variant, got, base)
		}
	}
	if SystemKey("urn:oid:2.16.840.1.113883.3.9998") == base {
		t.Error("SystemKey maps two different OIDs to one key")
	}
}

// Criteria are read in every URL member, and with parameter names in any
// letter case, as a lenient server reads them.
func TestPayloadIdentifiersCriteriaVariants(t *testing.T) {
	body := []byte(`{"resourceType":"Observation","focus":[{"reference":"Patient?IDENTIFIER=s1|v1"}],` +
		`"extension":[{"url":"x","valueUri":"Coverage?Subscriber-Id=v2"}]}`)

	got, err := PayloadIdentifiers(body)
	if err != nil {
		t.Fatal(err)
	}

	want := []FoundIdentifier{
		{Pointer: "/focus/0/reference", Identifier: Identifier{"s1", "v1"}},
		{Pointer: "/extension/0/valueUri", Identifier: Identifier{"", "v2"}, AnySystem: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("PayloadIdentifiers = %+v, want %+v", got, want)
	}
}
