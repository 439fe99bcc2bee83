package congruence

import "testing"

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
		{"/identifier/0", Identifier{"s1", "v1"}},
		{"/extension/0/valueReference/extension/0/valueIdentifier", Identifier{"s2", "v2"}},
		{"/link/0/other/identifier", Identifier{"s3", "v3"}},
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
