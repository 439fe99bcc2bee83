package members

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// ErrNotMember means a request bundle's patient cannot be stored as a
// member because it has no identifier, family name or birth date.
var ErrNotMember = errors.New("members: the patient has no identifier, family name or birth date")

// AddRequestPatient stores the patient of a PAS request bundle (one
// Patient entry) as a member, so that the built-in payer takes requests
// for that patient. Development mode, the demo and the load generator's
// own gateway call it with the bundles their partners send, because no
// `gatehouse payer load` precedes them. A patient already stored is kept
// as it is.
//
// The member's coverage is the bundle's dated Coverages. A request's
// Coverage often has no period, so without one the member gets a single
// open-ended coverage from the birth date, under the Coverage's plan text,
// or "unspecified".
func (s *Store) AddRequestPatient(ctx context.Context, bundle []byte) error {
	m, covs, err := RequestMember(bundle)
	if err != nil {
		return err
	}
	err = s.Add(ctx, m, covs)
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}

// RequestMember derives the member and coverage that AddRequestPatient
// stores for a PAS request bundle, without storing them.
func RequestMember(bundle []byte) (Member, []Coverage, error) {
	b, err := readBundle(bytes.NewReader(bundle), map[string]int{})
	if err != nil {
		return Member{}, nil, err
	}
	if len(b.patients) != 1 {
		return Member{}, nil, fmt.Errorf("members: the request has %d Patient entries, expected exactly one", len(b.patients))
	}
	m, reason := memberOf(b.patients[0])
	if reason != "" {
		return Member{}, nil, ErrNotMember
	}
	return m, requestCoverages(b, m), nil
}

func requestCoverages(b *bundleData, m Member) []Coverage {
	var covs []Coverage
	plan := ""
	for _, c := range b.coverages {
		if plan == "" {
			plan = c.plan
		}
		if c.start != "" && c.status != "cancelled" && c.status != "entered-in-error" {
			covs = append(covs, Coverage{Plan: c.plan, Payor: c.payor, Start: c.start, End: c.end})
		}
	}
	if len(covs) == 0 {
		if plan == "" {
			plan = "unspecified"
		}
		covs = []Coverage{{Plan: plan, Payor: plan, Start: m.BirthDate}}
	}
	for i := range covs {
		covs[i].ID = fmt.Sprintf("%s-%d", m.ID, i+1)
		covs[i].MemberID = m.ID
	}
	return covs
}
