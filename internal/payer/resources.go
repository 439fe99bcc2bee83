package payer

import (
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Shapes shared by the eligibility and member-match handlers, read with
// the JSON v2 rules (case-sensitive names, no duplicates).

type identifierJSON struct {
	Type   *codeableJSON `json:"type,omitzero"`
	System string        `json:"system,omitzero"`
	Value  string        `json:"value,omitzero"`
}

type codeableJSON struct {
	Coding []codingJSON `json:"coding,omitzero"`
	Text   string       `json:"text,omitzero"`
}

type codingJSON struct {
	System  string `json:"system,omitzero"`
	Code    string `json:"code,omitzero"`
	Display string `json:"display,omitzero"`
}

type referenceJSON struct {
	Reference  string          `json:"reference,omitzero"`
	Identifier *identifierJSON `json:"identifier,omitzero"`
	Display    string          `json:"display,omitzero"`
}

type periodJSON struct {
	Start string `json:"start,omitzero"`
	End   string `json:"end,omitzero"`
}

type patientJSON struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	Identifier   []identifierJSON `json:"identifier"`
	Name         []struct {
		Use    string   `json:"use"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Gender    string `json:"gender"`
	BirthDate string `json:"birthDate"`
}

type coverageJSON struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	Identifier   []identifierJSON `json:"identifier"`
	SubscriberID string           `json:"subscriberId"`
	Beneficiary  referenceJSON    `json:"beneficiary"`
}

// officialName returns the family and first given name of the official
// name, or of the first name when none is official.
func (p *patientJSON) officialName() (family, given string) {
	for i, n := range p.Name {
		if i == 0 || n.Use == "official" {
			family, given = n.Family, ""
			if len(n.Given) > 0 {
				given = n.Given[0]
			}
		}
		if n.Use == "official" {
			break
		}
	}
	return family, given
}

// memberIDs returns the values of identifiers in the member system.
func memberIDs(ids []identifierJSON, system string) []string {
	var out []string
	for _, id := range ids {
		if id.System == system && id.Value != "" {
			out = append(out, id.Value)
		}
	}
	return out
}

// localResources indexes the resources a request carries besides its
// main one: contained resources by "#id", Bundle entries by fullUrl and
// by "Type/id".
type localResources map[string]jsontext.Value

func (lr localResources) addContained(contained []jsontext.Value) {
	for _, raw := range contained {
		var h struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &h) == nil && h.ID != "" {
			lr["#"+h.ID] = raw
		}
	}
}

func (lr localResources) addEntry(fullURL string, raw jsontext.Value) {
	var h struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return
	}
	if fullURL != "" {
		lr[fullURL] = raw
	}
	if h.ID != "" {
		lr[h.ResourceType+"/"+h.ID] = raw
	}
}

// resolve returns the resource ref names, nil when it is not local.
func (lr localResources) resolve(ref string) jsontext.Value {
	if raw, ok := lr[ref]; ok {
		return raw
	}
	if i := strings.LastIndex(ref, "/_history/"); i > 0 {
		return lr[ref[:i]]
	}
	return nil
}
