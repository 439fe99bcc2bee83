package payer

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// maxMatchIDs caps the distinct member ids one $member-match or
// eligibility request may carry. A match by id checks only the family
// name and birth date, and eligibility checks nothing else, so without a
// cap one request could test thousands of guessed ids.
const maxMatchIDs = 10

type parametersJSON struct {
	ResourceType string `json:"resourceType"`
	Parameter    []struct {
		Name     string         `json:"name"`
		Resource jsontext.Value `json:"resource"`
	} `json:"parameter"`
}

type consentJSON struct {
	ResourceType string        `json:"resourceType"`
	Status       string        `json:"status"`
	Patient      referenceJSON `json:"patient"`
	Policy       []struct {
		URI string `json:"uri"`
	} `json:"policy"`
	Provision *struct {
		Type   string      `json:"type"`
		Period *periodJSON `json:"period"`
	} `json:"provision"`
}

type matchOutJSON struct {
	ResourceType string          `json:"resourceType"`
	Parameter    []matchOutParam `json:"parameter"`
}

type matchOutParam struct {
	Name            string         `json:"name"`
	ValueIdentifier identifierJSON `json:"valueIdentifier"`
}

// matchRequest is a parsed $member-match input.
type matchRequest struct {
	patient  patientJSON
	coverage coverageJSON
	consent  consentJSON
}

// handleMemberMatch serves POST /Patient/$member-match (Da Vinci HRex).
// The input Parameters carry MemberPatient, CoverageToMatch, an optional
// CoverageToLink and a Consent. A unique match returns 200 with the
// MemberIdentifier; no match and an ambiguous match both return 422 with
// the same OperationOutcome, so the answer never tells how many members
// share the demographics.
func (s *Service) handleMemberMatch(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	in, path, reason := parseMemberMatch(body)
	if reason != "" {
		fail(w, http.StatusBadRequest, outcome.CodeInvalid, reason, path)
		return
	}
	if reason := checkConsent(in.consent, &in.patient, s.now()); reason != "" {
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule, reason, "Parameters.parameter.where(name = 'Consent')")
		return
	}

	q := s.matchQuery(in)
	if distinct(q.MemberIDs) > maxMatchIDs {
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule,
			"the patient and coverage carry more than "+strconv.Itoa(maxMatchIDs)+" member identifiers; send the member's own",
			"Parameters.parameter.where(name = 'MemberPatient')")
		return
	}
	id, result, err := s.members.Match(r.Context(), q)
	if err != nil {
		s.log.Error("payer: $member-match failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the member match failed; retry later")
		return
	}
	s.log.Info("payer: $member-match", "result", result.String())
	if result != members.MatchUnique {
		fail(w, http.StatusUnprocessableEntity, outcome.CodeProcessing, "no unique member matches the patient and coverage given")
		return
	}
	out := matchOutJSON{ResourceType: "Parameters", Parameter: []matchOutParam{{
		Name: "MemberIdentifier",
		ValueIdentifier: identifierJSON{
			Type:   &codeableJSON{Coding: []codingJSON{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MB"}}},
			System: s.memberSystem,
			Value:  id,
		},
	}}}
	b, err := json.Marshal(out)
	if err != nil {
		panic("payer: encode member-match output: " + err.Error()) // strings cannot fail to encode
	}
	writeFHIR(w, b)
}

// parseMemberMatch reads the input Parameters. On failure it returns the
// path and a reason without request values.
func parseMemberMatch(body []byte) (*matchRequest, string, string) {
	var p parametersJSON
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, "", "the body must be a Parameters resource"
	}
	in := &matchRequest{}
	want := map[string]struct {
		into         any
		resourceType string
		required     bool
	}{
		"MemberPatient":   {&in.patient, "Patient", true},
		"CoverageToMatch": {&in.coverage, "Coverage", true},
		"CoverageToLink":  {&coverageJSON{}, "Coverage", false},
		"Consent":         {&in.consent, "Consent", true},
	}
	seen := map[string]bool{}
	for _, param := range p.Parameter {
		w, known := want[param.Name]
		at := "Parameters.parameter.where(name = '" + param.Name + "')"
		switch {
		case !known:
			return nil, "Parameters.parameter", "unknown parameter; use MemberPatient, CoverageToMatch, CoverageToLink and Consent"
		case seen[param.Name]:
			return nil, at, "the parameter appears more than once"
		case json.Unmarshal(param.Resource, w.into) != nil || resourceType(param.Resource) != w.resourceType:
			return nil, at + ".resource", "must be a " + w.resourceType
		}
		seen[param.Name] = true
	}
	for name, w := range want {
		if w.required && !seen[name] {
			return nil, "Parameters.parameter", "missing " + name
		}
	}
	return in, "", ""
}

// distinct returns the number of different non-empty values.
func distinct(values []string) int {
	seen := map[string]bool{}
	for _, v := range values {
		if v != "" {
			seen[v] = true
		}
	}
	return len(seen)
}

func resourceType(raw jsontext.Value) string {
	var h struct {
		ResourceType string `json:"resourceType"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.ResourceType
}

// checkConsent requires an active Consent of the member that permits
// disclosure under one of the HRex consent policies (regular or sensitive
// data) and whose provision.period includes now. The HRex Consent profile
// requires the period with both bounds, so a Consent without it, like one
// that has ended, permits nothing.
func checkConsent(c consentJSON, patient *patientJSON, now time.Time) string {
	if c.Status != "active" || c.Provision == nil || c.Provision.Type != "permit" {
		return "the Consent must be active and permit disclosure"
	}
	if !consentOf(c.Patient, patient) {
		return "the Consent must be the member's: Consent.patient must reference MemberPatient by its id or one of its identifiers"
	}
	if !inForce(c.Provision.Period, now) {
		return "the Consent is not in force: Consent.provision.period must include the current date"
	}
	for _, p := range c.Policy {
		if strings.HasSuffix(p.URI, "#regular") || strings.HasSuffix(p.URI, "#sensitive") {
			return ""
		}
	}
	return "the Consent must name the HRex regular or sensitive consent policy"
}

// consentOf reports whether ref names the patient: Patient/<id> with the
// patient's id, or one of the patient's identifiers (system and value).
func consentOf(ref referenceJSON, patient *patientJSON) bool {
	if ref.Reference != "" {
		return patient.ID != "" && ref.Reference == "Patient/"+patient.ID
	}
	if ref.Identifier == nil || ref.Identifier.System == "" || ref.Identifier.Value == "" {
		return false
	}
	for _, id := range patient.Identifier {
		if id.System == ref.Identifier.System && id.Value == ref.Identifier.Value {
			return true
		}
	}
	return false
}

// inForce reports whether now falls in the period, read at the precision
// of each bound: an end of 2026-03-01 covers that whole day (UTC).
func inForce(p *periodJSON, now time.Time) bool {
	if p == nil || p.Start == "" || p.End == "" {
		return false
	}
	start, _, err := dateRange(p.Start)
	if err != nil {
		return false
	}
	_, end, err := dateRange(p.End)
	if err != nil {
		return false
	}
	return !now.Before(start) && now.Before(end)
}

// matchQuery collects member ids and demographics from the input: member
// ids are member-system identifiers of the patient or coverage and the
// coverage's subscriberId.
func (s *Service) matchQuery(in *matchRequest) members.MatchQuery {
	family, given := in.patient.officialName()
	q := members.MatchQuery{Family: family, Given: given, BirthDate: in.patient.BirthDate, Gender: in.patient.Gender}
	q.MemberIDs = append(q.MemberIDs, memberIDs(in.patient.Identifier, s.memberSystem)...)
	q.MemberIDs = append(q.MemberIDs, memberIDs(in.coverage.Identifier, s.memberSystem)...)
	if in.coverage.SubscriberID != "" {
		q.MemberIDs = append(q.MemberIDs, in.coverage.SubscriberID)
	}
	return q
}
