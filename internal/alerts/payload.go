package alerts

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// patientNames returns the patients an exchange names, each prefixed with
// its kind ("id:" for a logical id, "identifier:" for system|value) so that
// an id and an identifier value never collide. They are PHI: the caller
// hashes them at once. b is the request Bundle already parsed, or nil.
func patientNames(e *record.Entry, req *fhirreq.Request, b *fhirreq.Bundle) []string {
	if req == nil {
		return nil
	}
	var names []string
	if req.Type == "Patient" && req.ID != "" {
		names = append(names, "id:"+req.ID)
	}
	if req.Query != nil {
		for _, p := range req.Query.Params {
			names = append(names, patientParam(req.Type, p)...)
		}
	}
	if req.Type == "Claim" && (req.Operation == "submit" || req.Operation == "inquire") {
		if n := pasPatient(e.RequestBody, b); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// patientParam returns the patients one search parameter names.
func patientParam(resourceType string, p fhirreq.Param) []string {
	name, mod := p.Name(), p.Modifier()
	if p.Chained() {
		// patient.identifier=system|value and subject:Patient.identifier=...
		if (name == "patient" || name == "beneficiary" || name == "subject") && p.Links[1].Name == "identifier" {
			return prefixed("identifier:", fhirreq.SplitValues(p.Value))
		}
		return nil
	}
	switch {
	case name == "patient" || name == "beneficiary":
		return references(fhirreq.SplitValues(p.Value))
	case name == "subject" && mod == "Patient":
		return references(fhirreq.SplitValues(p.Value))
	case name == "subject":
		var out []string
		for _, v := range fhirreq.SplitValues(p.Value) {
			if strings.HasPrefix(v, "Patient/") || strings.Contains(v, "/Patient/") {
				out = append(out, references([]string{v})...)
			}
		}
		return out
	case resourceType == "Patient" && name == "_id":
		return prefixed("id:", fhirreq.SplitValues(p.Value))
	case resourceType == "Patient" && name == "identifier":
		return prefixed("identifier:", fhirreq.SplitValues(p.Value))
	}
	return nil
}

// references reduces reference values (123, Patient/123 or an absolute URL
// ending in Patient/123) to logical ids.
func references(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if i := strings.LastIndex(v, "Patient/"); i >= 0 {
			v = v[i+len("Patient/"):]
		}
		if v != "" {
			out = append(out, "id:"+v)
		}
	}
	return out
}

func prefixed(prefix string, values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v != "" {
			out = append(out, prefix+v)
		}
	}
	return out
}

// pasPatient returns the patient of a PAS Bundle: the first identifier of
// the Patient that Claim.patient references. A Bundle whose patient does
// not resolve names no patient. It reads the patient alone, not the whole
// request, because the monitor runs on every allowed $submit. When the
// gateway passed the Bundle its policy engine parsed, b, the body is not
// decoded again.
func pasPatient(body []byte, b *fhirreq.Bundle) string {
	var patient *pas.Party
	var err error
	switch {
	case b != nil:
		patient, err = pas.PatientOfBundle(b)
	case len(body) == 0:
		return ""
	default:
		patient, err = pas.PatientOf(body)
	}
	if err != nil {
		return ""
	}
	if k := patient.Key(); k != "" {
		return "identifier:" + k
	}
	return ""
}

// hashPatient returns the keyed hash of a patient name.
func hashPatient(salt []byte, name string) patientKey {
	mac := hmac.New(sha256.New, salt)
	mac.Write([]byte(name))
	var k patientKey
	copy(k[:], mac.Sum(nil))
	return k
}

// canaries is the compiled canary list: token form ("system|value") and
// value alone, each mapped to the index in the configured list.
type canaries struct {
	tokens map[string]int
	values map[string]int
	// raw lists the values as bytes for mayContain. It is nil when a
	// value contains a character JSON writes with a short escape (quote,
	// backslash, slash, control characters) or U+FFFD, which the lenient
	// decoder writes for invalid UTF-8.
	raw [][]byte
}

// maxRawCanaries bounds the values mayContain searches for one by one;
// with more, every body is decoded.
const maxRawCanaries = 32

func compileCanaries(list []string) (*canaries, error) {
	c := &canaries{tokens: map[string]int{}, values: map[string]int{}}
	for i, s := range list {
		system, value, ok := strings.Cut(s, "|")
		if !ok || system == "" || value == "" {
			return nil, errors.New("alerts: a canary member is not in system|value form")
		}
		c.tokens[s] = i
		if _, dup := c.values[value]; !dup {
			c.values[value] = i
		}
	}
	if len(c.values) <= maxRawCanaries {
		for v := range c.values {
			if !rawComparable(v) {
				c.raw = nil
				break
			}
			c.raw = append(c.raw, []byte(v))
		}
	}
	return c, nil
}

// rawComparable reports whether v decodes only from its own bytes or a
// \u escape inside a JSON string.
func rawComparable(v string) bool {
	for _, r := range v {
		if r < 0x20 || r == '"' || r == '\\' || r == '/' || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// mayContain reports whether a JSON string of body can hold a canary
// value, which both forms matchBody finds contain. In a body without \u
// escapes, a value raw contains (see rawComparable) decodes from its own
// bytes only, so if no value is among the bytes, no string holds one. It
// returns true when it cannot tell.
func (c *canaries) mayContain(body []byte) bool {
	if c.raw == nil || bytes.Contains(body, []byte(`\u`)) {
		return true
	}
	for _, v := range c.raw {
		if bytes.Contains(body, v) {
			return true
		}
	}
	return false
}

func (c *canaries) empty() bool { return c == nil || len(c.tokens) == 0 }

// matchToken reports the canary a search token names: system|value, or a
// value with no system ("value" or "|value"), which FHIR matches in any
// system.
func (c *canaries) matchToken(v string) (int, bool) {
	if i, ok := c.tokens[v]; ok {
		return i, true
	}
	if system, value, ok := strings.Cut(v, "|"); ok {
		if system != "" {
			return 0, false
		}
		v = value
	}
	i, ok := c.values[v]
	return i, ok
}

// matchQuery finds a canary in the query of a request: the parsed
// parameters when the request was parsed, otherwise the raw query of the
// recorded request-target, read leniently.
func (c *canaries) matchQuery(e *record.Entry, req *fhirreq.Request) (int, bool) {
	var values []string
	if req != nil && req.Query != nil {
		for _, p := range req.Query.Params {
			values = append(values, fhirreq.SplitValues(p.Value)...)
		}
	} else if _, raw, ok := strings.Cut(e.Target, "?"); ok {
		q, _ := url.ParseQuery(raw)
		for _, vs := range q {
			for _, v := range vs {
				values = append(values, fhirreq.SplitValues(v)...)
			}
		}
	}
	for _, v := range values {
		if i, ok := c.matchToken(v); ok {
			return i, true
		}
	}
	return 0, false
}

// matchBody finds a canary in a JSON body: an object whose system and value
// members are a canary's, or a string in a canary's token form. A body
// that is not JSON is read up to its first syntax error.
func (c *canaries) matchBody(body []byte) (int, bool) {
	if len(body) == 0 || !c.mayContain(body) {
		return 0, false
	}
	type frame struct {
		system, value string
		key           string // the member name whose value comes next
		object        bool
	}
	// Duplicate names and invalid UTF-8 are let through: refused bodies are
	// scanned too, and a scan must not stop where such a body breaks a rule.
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	stack := []frame{{}}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return 0, false // io.EOF, or the first syntax error
		}
		top := &stack[len(stack)-1]
		// Inside an object, a string in key position is a member name.
		if top.object && top.key == "" && tok.Kind() == '"' {
			top.key = tok.String()
			continue
		}
		member := top.key
		top.key = ""
		switch tok.Kind() {
		case '{':
			stack = append(stack, frame{object: true})
		case '[':
			stack = append(stack, frame{})
		case '}':
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if i, ok := c.tokens[f.system+"|"+f.value]; ok && f.value != "" {
				return i, true
			}
		case ']':
			stack = stack[:len(stack)-1]
		case '"':
			s := tok.String()
			switch member {
			case "system":
				top.system = s
			case "value":
				top.value = s
			}
			if i, ok := c.tokens[s]; ok {
				return i, true
			}
		}
		if len(stack) == 0 {
			return 0, false
		}
	}
}
