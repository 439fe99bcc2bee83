package payer

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// eligibilityRequestJSON contains the CoverageEligibilityRequest elements
// the service reads.
type eligibilityRequestJSON struct {
	ResourceType   string           `json:"resourceType"`
	ID             string           `json:"id"`
	Contained      []jsontext.Value `json:"contained"`
	Identifier     []identifierJSON `json:"identifier"`
	Status         string           `json:"status"`
	Purpose        []string         `json:"purpose"`
	Patient        *referenceJSON   `json:"patient"`
	ServicedDate   string           `json:"servicedDate"`
	ServicedPeriod *periodJSON      `json:"servicedPeriod"`
	Created        string           `json:"created"`
	Insurer        jsontext.Value   `json:"insurer"`
	Insurance      []struct {
		Coverage referenceJSON `json:"coverage"`
	} `json:"insurance"`
}

type eligibilityResponseJSON struct {
	ResourceType string                 `json:"resourceType"`
	ID           string                 `json:"id"`
	Contained    []jsontext.Value       `json:"contained,omitzero"`
	Status       string                 `json:"status"`
	Purpose      []string               `json:"purpose"`
	Patient      *referenceJSON         `json:"patient"`
	ServicedDate string                 `json:"servicedDate"`
	Created      string                 `json:"created"`
	Request      referenceJSON          `json:"request"`
	Outcome      string                 `json:"outcome"`
	Disposition  string                 `json:"disposition"`
	Insurer      jsontext.Value         `json:"insurer"`
	Insurance    []eligibilityInsurance `json:"insurance,omitzero"`
}

type eligibilityInsurance struct {
	Coverage      referenceJSON `json:"coverage"`
	Inforce       bool          `json:"inforce"`
	BenefitPeriod periodJSON    `json:"benefitPeriod"`
}

var eligibilityPurposes = map[string]bool{"auth-requirements": true, "benefits": true, "discovery": true, "validation": true}

// errNoMember means an eligibility request names no member this payer
// stores.
var errNoMember = errors.New("payer: no member matches the request")

// errForeignMemberID means the patient of an eligibility request carries
// a member id of another member than the one the request matched.
var errForeignMemberID = errors.New("payer: the patient carries another member's id")

// errTooManyIDs means an eligibility request carries more than
// maxMatchIDs distinct member ids. An id with a family name and birth
// date finds a member, so without a cap one request could test thousands
// of guessed ids against one person's demographics.
var errTooManyIDs = errors.New("payer: too many member ids in the request")

// handleEligibility serves POST /CoverageEligibilityRequest/$submit. The
// body is a CoverageEligibilityRequest, or a collection Bundle whose first
// entry is one, with the Patient and Coverage it references contained or
// in the Bundle. The member is matched by member id and demographics (see
// package doc).
func (s *Service) handleEligibility(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, local, path, reason := parseEligibility(body)
	if reason != "" {
		fail(w, http.StatusBadRequest, outcome.CodeInvalid, reason, path)
		return
	}
	resp, err := s.eligibility(r.Context(), req, local)
	switch {
	case errors.Is(err, errTooManyIDs):
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule,
			"the patient and coverages carry more than "+strconv.Itoa(maxMatchIDs)+" member identifiers; send the member's own", "CoverageEligibilityRequest.patient")
	case errors.Is(err, errForeignMemberID):
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule,
			"the patient carries a member id of this payer that is not the matched member's; send only the member's own member id", "CoverageEligibilityRequest.patient")
	case errors.Is(err, errNoMember):
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule, "no single member of this payer matches the patient and coverage of the request; send the Patient with its name and birth date, contained or in the Bundle", "CoverageEligibilityRequest.patient")
	case err != nil:
		s.log.Error("payer: eligibility failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the eligibility request failed; retry later")
	default:
		writeFHIR(w, resp)
	}
}

// parseEligibility reads the request and the resources it carries. On
// failure it returns the element path and a reason without request
// values.
func parseEligibility(body []byte) (*eligibilityRequestJSON, localResources, string, string) {
	local := localResources{}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string         `json:"fullUrl"`
			Resource jsontext.Value `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, nil, "", "the body is not a CoverageEligibilityRequest"
	}
	main := jsontext.Value(body)
	if head.ResourceType == "Bundle" {
		if len(head.Entry) == 0 {
			return nil, nil, "Bundle.entry", "the Bundle has no entries"
		}
		main = head.Entry[0].Resource
		for _, e := range head.Entry[1:] {
			local.addEntry(e.FullURL, e.Resource)
		}
	}
	var req eligibilityRequestJSON
	if err := json.Unmarshal(main, &req); err != nil || req.ResourceType != "CoverageEligibilityRequest" {
		return nil, nil, "", "the body must be a CoverageEligibilityRequest or a Bundle starting with one"
	}
	local.addContained(req.Contained)
	if path, reason := checkEligibility(&req); reason != "" {
		return nil, nil, path, reason
	}
	return &req, local, "", ""
}

func checkEligibility(req *eligibilityRequestJSON) (string, string) {
	const at = "CoverageEligibilityRequest."
	switch {
	case req.Status != "active":
		return at + "status", "must be active"
	case len(req.Purpose) == 0:
		return at + "purpose", "missing"
	case req.Patient == nil:
		return at + "patient", "missing"
	case req.Created == "":
		return at + "created", "missing"
	case len(req.Insurer) == 0:
		return at + "insurer", "missing"
	}
	for _, p := range req.Purpose {
		if !eligibilityPurposes[p] {
			return at + "purpose", "use auth-requirements, benefits, discovery or validation"
		}
	}
	if req.ServicedDate != "" {
		if _, err := time.Parse("2006-01-02", req.ServicedDate); err != nil {
			return at + "servicedDate", "must be a full date (YYYY-MM-DD)"
		}
	}
	return "", ""
}

// eligibility finds the member and reports each coverage as in force or
// not on the serviced date (today when the request gives none).
func (s *Service) eligibility(ctx context.Context, req *eligibilityRequestJSON, local localResources) ([]byte, error) {
	memberID, err := s.eligibilityMember(ctx, req, local)
	if err != nil {
		return nil, err
	}
	covs, err := s.members.Coverages(ctx, memberID)
	if err != nil {
		return nil, err
	}

	now := s.now()
	day := servicedDay(req, now)
	resp := eligibilityResponseJSON{
		ResourceType: "CoverageEligibilityResponse",
		ID:           s.newID(),
		Contained:    containedReferenced(req),
		Status:       "active",
		Purpose:      req.Purpose,
		Patient:      req.Patient,
		ServicedDate: day,
		Created:      now.UTC().Format(time.RFC3339),
		Request:      requestReference(req),
		Outcome:      "complete",
		Disposition:  "No coverage in force on the serviced date",
		Insurer:      req.Insurer,
	}
	for _, c := range covs {
		in := c.InForce(day)
		if in {
			resp.Disposition = "Coverage in force on the serviced date"
		}
		resp.Insurance = append(resp.Insurance, eligibilityInsurance{
			Coverage:      referenceJSON{Reference: "Coverage/" + c.ID, Display: c.Plan},
			Inforce:       in,
			BenefitPeriod: periodJSON{Start: c.Start, End: c.End},
		})
	}
	return json.Marshal(resp)
}

// containedReferenced returns the request's contained resources that the
// response's patient and insurer refer to, which it copies from the
// request, and those that the copied ones refer to in turn. Without them
// those references would point at nothing, and the response would fail
// ref-1. The others stay out, or the response would fail dom-3.
func containedReferenced(req *eligibilityRequestJSON) []jsontext.Value {
	local := localResources{}
	local.addContained(req.Contained)
	var insurer referenceJSON
	if len(req.Insurer) > 0 {
		// A malformed insurer is copied as it is, and refers to nothing.
		_ = json.Unmarshal(req.Insurer, &insurer)
	}
	queue := []string{insurer.Reference}
	if req.Patient != nil {
		queue = append(queue, req.Patient.Reference)
	}
	copied := map[string]bool{}
	var out []jsontext.Value
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		raw := local[ref]
		if len(ref) < 2 || ref[0] != '#' || raw == nil || copied[ref] {
			continue
		}
		copied[ref] = true
		out = append(out, raw)
		queue = append(queue, localReferences(raw)...)
	}
	return out
}

// localReferences returns the values of the "reference" members in raw
// that start with "#". A malformed resource yields those read before the
// error, which is enough: it refers to nothing that must be copied.
func localReferences(raw jsontext.Value) []string {
	var refs []string
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	isReference := false
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return refs
		}
		kind, length := dec.StackIndex(dec.StackDepth())
		isName := kind == '{' && length%2 == 1
		switch {
		case tok.Kind() != '"':
			isReference = false
		case isName:
			isReference = tok.String() == "reference"
		default:
			if isReference && strings.HasPrefix(tok.String(), "#") {
				refs = append(refs, tok.String())
			}
			isReference = false
		}
	}
}

// eligibilityMember returns the member the request describes, matched as
// $member-match matches (members.Store.Match): by a member id with the
// patient's family name and birth date, or by the full demographics. The
// ids come from the patient reference's identifier, the referenced
// Patient's member-system identifiers and the referenced Coverages'
// subscriberId and member-system identifiers. The demographics come from
// the referenced Patient. A member id alone finds no one, so the response
// reveals nothing about an id to a partner that does not know whose it is.
func (s *Service) eligibilityMember(ctx context.Context, req *eligibilityRequestJSON, local localResources) (string, error) {
	var q members.MatchQuery
	var patientIDs []identifierJSON
	if req.Patient.Identifier != nil {
		patientIDs = append(patientIDs, *req.Patient.Identifier)
		if req.Patient.Identifier.System == s.memberSystem {
			q.MemberIDs = append(q.MemberIDs, req.Patient.Identifier.Value)
		}
	}
	var p patientJSON
	if raw := local.resolve(req.Patient.Reference); raw != nil && json.Unmarshal(raw, &p) == nil {
		patientIDs = append(patientIDs, p.Identifier...)
		q.MemberIDs = append(q.MemberIDs, memberIDs(p.Identifier, s.memberSystem)...)
		q.Family, q.Given = p.officialName()
		q.BirthDate, q.Gender = p.BirthDate, p.Gender
	}
	for _, ins := range req.Insurance {
		var c coverageJSON
		if raw := local.resolve(ins.Coverage.Reference); raw != nil && json.Unmarshal(raw, &c) == nil {
			q.MemberIDs = append(q.MemberIDs, c.SubscriberID)
			q.MemberIDs = append(q.MemberIDs, memberIDs(c.Identifier, s.memberSystem)...)
		}
	}
	if distinct(q.MemberIDs) > maxMatchIDs {
		return "", errTooManyIDs
	}
	id, result, err := s.members.Match(ctx, q)
	if err != nil {
		return "", err
	}
	if result != members.MatchUnique {
		return "", errNoMember
	}
	if s.foreignMemberID(patientIDs, id) {
		return "", errForeignMemberID
	}
	return id, nil
}

// foreignMemberID reports whether ids, the patient's identifiers, include
// a member id other than memberID, in the member id system or in a
// variant of it that congruence.SystemKey folds to the same key. The
// gateway links every identifier of an accepted request's patient to the
// partner, so a request that matched one member by another id or by
// demographics would otherwise link a second member's id.
func (s *Service) foreignMemberID(ids []identifierJSON, memberID string) bool {
	key := congruence.SystemKey(s.memberSystem)
	for _, id := range ids {
		if id.Value != "" && id.Value != memberID && congruence.SystemKey(id.System) == key {
			return true
		}
	}
	return false
}

func servicedDay(req *eligibilityRequestJSON, now time.Time) string {
	switch {
	case req.ServicedDate != "":
		return req.ServicedDate
	case req.ServicedPeriod != nil && len(req.ServicedPeriod.Start) >= 10:
		return req.ServicedPeriod.Start[:10]
	}
	return now.UTC().Format("2006-01-02")
}

// requestReference points the response at the request: by id when it has
// one, else by its first identifier.
func requestReference(req *eligibilityRequestJSON) referenceJSON {
	switch {
	case req.ID != "":
		return referenceJSON{Reference: "CoverageEligibilityRequest/" + req.ID}
	case len(req.Identifier) > 0:
		id := req.Identifier[0]
		return referenceJSON{Identifier: &identifierJSON{System: id.System, Value: id.Value}}
	}
	return referenceJSON{Display: "the submitted CoverageEligibilityRequest"}
}
