// Package attackdata reads the policy attack suite, testdata/attacks.json of
// internal/policy: partner registrations and attack cases, each a plain
// HTTP request plus the scopes the client requests at the token endpoint,
// with the decision it must get. The policy tests replay the cases against
// the engine and the gateway tests replay them through the whole gateway.
package attackdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
)

// FileName is the suite's file name inside its directory.
const FileName = "attacks.json"

// File is the whole suite.
type File struct {
	PayerIDs []congruence.Identifier `json:"payer_ids"`
	MaxCount int                     `json:"max_count"`
	// SubscriptionTopics is policy.subscription_topics: the topics
	// allowed besides the PAS topic.
	SubscriptionTopics []string           `json:"subscription_topics"`
	Partners           map[string]Partner `json:"partners"`
	Cases              []Case             `json:"cases"`
}

// Partner is a partner registration.
type Partner struct {
	Organization congruence.Identifier `json:"organization"`
	Roles        map[string]string     `json:"roles"`
	Grants       []Grant               `json:"grants"`
	// Scopes are registered: the most the partner may be granted.
	Scopes []string `json:"scopes"`
	// OutboundFHIRBase is partners[].outbound.fhir_base, where the
	// partner's Subscription endpoints must be; empty for none.
	OutboundFHIRBase string `json:"outbound_fhir_base"`
}

// Grant is an explicit grant of a feature refused by default.
type Grant struct {
	Feature string `json:"feature"`
	Reason  string `json:"reason"`
}

// Case is one attack and the decision it must get.
type Case struct {
	Name    string            `json:"name"`
	Class   string            `json:"class"`
	Partner string            `json:"partner"`
	Scopes  string            `json:"scopes"` // requested at the token endpoint
	Method  string            `json:"method"`
	Target  string            `json:"target"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	// BodyFile is relative to the suite's directory; Replace lists
	// old/new pairs applied to its content.
	BodyFile          string                  `json:"body_file"`
	Replace           [][2]string             `json:"replace"`
	CertOrganizations []congruence.Identifier `json:"cert_organizations"`
	TokenClient       string                  `json:"token_client"`

	Allow          bool   `json:"allow"`
	Rule           string `json:"rule"`
	Status         int    `json:"status"`
	ReasonContains string `json:"reason_contains"`
	// Code is the OperationOutcome issue code of a refusal, checked when
	// set.
	Code string `json:"code"`
}

// Load reads the suite from dir, rejecting unknown members so that a typo
// in a case cannot silently drop a check.
func Load(dir string) (*File, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	return &f, nil
}

// RequestBody returns the case's request body: the inline body, or
// BodyFile under dir with the replacements applied. An inline JSON string
// is sent as its text, such as a form body for POST _search; any other
// inline value is sent as JSON. A case without a body returns nil.
func (c *Case) RequestBody(dir string) ([]byte, error) {
	if c.BodyFile == "" {
		if len(c.Body) == 0 || string(c.Body) == "null" {
			return nil, nil
		}
		if c.Body[0] == '"' {
			var text string
			if err := json.Unmarshal(c.Body, &text); err != nil {
				return nil, err
			}
			return []byte(text), nil
		}
		return c.Body, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c.BodyFile)))
	if err != nil {
		return nil, err
	}
	s := string(data)
	for _, r := range c.Replace {
		if !strings.Contains(s, r[0]) {
			return nil, errors.New("replace: " + fmt.Sprintf("%q", r[0]) + " not found in " + c.BodyFile)
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return []byte(s), nil
}
