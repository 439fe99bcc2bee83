package payer

import (
	"context"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// coversPatient reports whether the patient of a $submit is a member of
// this payer, matched as eligibility matches (members.Store.Match): a
// member id with the Patient's family name and birth date, or its full
// demographics. The member ids come from the Patient's identifiers and
// from the subscriberId and identifiers of the Claim's Coverages, in
// Options.MemberSystem. A patient that also carries another member's id
// is not covered, because the gateway links every identifier of an
// accepted request's patient to the partner. More than maxMatchIDs
// distinct member ids is not covered either, as in eligibility. With no
// member stored, no patient is covered.
func (s *Service) coversPatient(ctx context.Context, req *pas.Request) (bool, error) {
	var q members.MatchQuery
	var p patientJSON
	if req.Patient.Entry != nil && json.Unmarshal(req.Patient.Entry.Resource, &p) != nil {
		return false, nil
	}
	q.MemberIDs = memberIDs(p.Identifier, s.memberSystem)
	q.Family, q.Given = p.officialName()
	q.BirthDate, q.Gender = p.BirthDate, p.Gender
	for _, cov := range req.Coverage {
		var c coverageJSON
		if cov.Entry == nil || json.Unmarshal(cov.Entry.Resource, &c) != nil {
			continue
		}
		q.MemberIDs = append(q.MemberIDs, c.SubscriberID)
		q.MemberIDs = append(q.MemberIDs, memberIDs(c.Identifier, s.memberSystem)...)
	}
	if distinct(q.MemberIDs) > maxMatchIDs {
		return false, nil
	}

	id, result, err := s.members.Match(ctx, q)
	if err != nil || result != members.MatchUnique {
		return false, err
	}
	return !s.foreignMemberID(p.Identifier, id), nil
}
