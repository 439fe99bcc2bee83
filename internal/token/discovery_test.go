package token

import (
	"slices"
	"testing"

	"github.com/go-json-experiment/json"
)

func TestSmartConfiguration(t *testing.T) {
	scopes := []string{"system/Claim.read", "system/Coverage.read"}
	doc := SmartConfiguration("https://gatehouse.test/token", "https://gatehouse.test/revoke", scopes)

	var got map[string]any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	want := map[string][]string{
		"token_endpoint_auth_methods_supported":            {"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": {"ES256", "ES384", "RS384", "PS384"},
		"grant_types_supported":                            {"client_credentials"},
		"scopes_supported":                                 scopes,
		"capabilities":                                     {"client-confidential-asymmetric", "permission-v1", "permission-v2"},
	}
	if got["token_endpoint"] != "https://gatehouse.test/token" {
		t.Errorf("token_endpoint = %v", got["token_endpoint"])
	}
	if got["revocation_endpoint"] != "https://gatehouse.test/revoke" {
		t.Errorf("revocation_endpoint = %v", got["revocation_endpoint"])
	}
	for key, values := range want {
		if !slices.Equal(stringList(got[key]), values) {
			t.Errorf("%s = %v, want %v", key, got[key], values)
		}
	}
	if len(got) != len(want)+2 {
		t.Errorf("document has %d members, want %d: %s", len(got), len(want)+2, doc)
	}
}

func TestSmartConfigurationNoScopes(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal(SmartConfiguration("https://gatehouse.test/token", "", nil), &got); err != nil {
		t.Fatal(err)
	}
	if list, ok := got["scopes_supported"].([]any); !ok || len(list) != 0 {
		t.Errorf("scopes_supported = %#v, want an empty array", got["scopes_supported"])
	}
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, _ := item.(string)
		out = append(out, s)
	}
	return out
}
