package token

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Fingerprint returns "sha256:" and the first 16 hex digits of the SHA-256
// of s. It identifies an assertion or token in records without revealing
// it. The 64 bits tell records apart but do not resist a search for
// collisions.
func Fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// secretFormParameters are the token request parameters RedactForm
// replaces.
var secretFormParameters = map[string]bool{
	"client_assertion": true,
	"client_secret":    true,
	"assertion":        true,
	"token":            true, // revocation and introspection requests
}

// secretJSONMembers are the token response members RedactJSON replaces.
var secretJSONMembers = map[string]bool{
	"access_token":  true,
	"refresh_token": true,
	"id_token":      true,
}

// RedactForm returns a copy of a form-encoded token, revocation or
// introspection request body in which the values of client_assertion,
// client_secret, assertion and token are replaced by their Fingerprint.
// Other parameters and their order are kept. A pair whose name cannot be
// decoded is replaced whole, since it might be a secret under an odd
// encoding.
func RedactForm(body []byte) []byte {
	pairs := strings.Split(string(body), "&")
	for i, pair := range pairs {
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			pairs[i] = "undecodable=" + Fingerprint(pair)
			continue
		}
		if !secretFormParameters[name] {
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			value = rawValue
		}
		pairs[i] = rawName + "=" + Fingerprint(value)
	}
	return []byte(strings.Join(pairs, "&"))
}

// RedactJSON returns a token response body with the values of
// access_token, refresh_token and id_token replaced by their Fingerprint.
// A body without them is returned unchanged. A body that is not a JSON
// object, or that has duplicate members, is replaced by
// {"redacted_body":"<fingerprint>"}, because it cannot be shown safely.
func RedactJSON(body []byte) []byte {
	var members map[string]jsontext.Value
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return redactedBody(body)
	}

	changed := false
	for name, value := range members {
		if !secretJSONMembers[name] {
			continue
		}
		var s string
		if value.Kind() != '"' || json.Unmarshal(value, &s) != nil {
			s = string(value)
		}
		members[name] = jsontext.Value(`"` + Fingerprint(s) + `"`)
		changed = true
	}
	if !changed {
		return body
	}

	out, err := json.Marshal(members, json.Deterministic(true))
	if err != nil {
		return redactedBody(body)
	}
	return out
}

func redactedBody(body []byte) []byte {
	return []byte(`{"redacted_body":"` + Fingerprint(string(body)) + `"}`)
}
