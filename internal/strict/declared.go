package strict

import (
	"bytes"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// declaredVersion returns the index of the PAS version that the
// top-level meta.profile of body names, such as 2.0.1 in
// "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim|2.0.1".
// It returns -1 when no PAS profile names a configured version, when
// they name different versions, or when body cannot be read as far as
// meta.profile. The caller then tries every version, and the validator
// reports a malformed body.
func (c *Checker) declaredVersion(body []byte) int {
	profiles := topLevelProfiles(body)
	found := -1
	for _, p := range profiles {
		canonical, version, ok := strings.Cut(p, "|")
		if !ok || !strings.HasPrefix(canonical, pasBase) {
			continue
		}
		i := slices.Index(c.names, version)
		if i < 0 || found >= 0 && found != i {
			return -1
		}
		found = i
	}
	return found
}

// topLevelProfiles returns the strings of meta.profile of the top-level
// object of body. It reads no further than the profile array, and returns
// nil when it cannot read that far.
func topLevelProfiles(body []byte) []string {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	if !seekMember(dec, "meta") || dec.PeekKind() != '{' {
		return nil
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil
	}
	if !seekMember(dec, "profile") || dec.PeekKind() != '[' {
		return nil
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil
	}
	var profiles []string
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil
		}
		profiles = append(profiles, tok.String())
	}
	return profiles
}

// seekMember reads members of the object dec is in until the one called
// name, leaving dec before its value. It returns false at the end of the
// object or on malformed input.
func seekMember(dec *jsontext.Decoder, name string) bool {
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return false
		}
		if tok.String() == name {
			return true
		}
		if err := dec.SkipValue(); err != nil {
			return false
		}
	}
	return false
}
