package members

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MatchQuery is the member data of a $member-match request.
type MatchQuery struct {
	// MemberIDs are candidate member ids from the request: identifiers
	// and subscriber ids of the patient and coverage.
	MemberIDs []string
	Family    string
	Given     string // first given name
	BirthDate string // YYYY-MM-DD
	Gender    string
}

// MatchOutcome is the result kind of Match.
type MatchOutcome int

const (
	MatchNone MatchOutcome = iota
	MatchUnique
	MatchAmbiguous
)

func (o MatchOutcome) String() string {
	switch o {
	case MatchUnique:
		return "unique"
	case MatchAmbiguous:
		return "ambiguous"
	}
	return "none"
}

// Match finds the one member q describes, by the rules of the package
// documentation. The member id is "" unless the outcome is MatchUnique.
func (s *Store) Match(ctx context.Context, q MatchQuery) (string, MatchOutcome, error) {
	if q.BirthDate == "" || Key(q.Family) == "" {
		return "", MatchNone, nil
	}
	byID, err := s.matchByID(ctx, q)
	if err != nil {
		return "", MatchNone, err
	}
	if len(byID) > 0 {
		return decide(byID)
	}
	if Key(q.Given) == "" || q.Gender == "" {
		return "", MatchNone, nil
	}
	rows, err := s.db.QueryContext(ctx, sqlMatchByDemographics, Key(q.Family), Key(q.Given), q.BirthDate, q.Gender)
	if err != nil {
		return "", MatchNone, fmt.Errorf("members: match: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", MatchNone, fmt.Errorf("members: match: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", MatchNone, fmt.Errorf("members: match: %w", err)
	}
	return decide(ids)
}

// matchByID returns the members named by q's ids that agree with its
// demographics.
func (s *Store) matchByID(ctx context.Context, q MatchQuery) (ids []string, err error) {
	seen := map[string]bool{}
	for _, id := range q.MemberIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		var memberID, familyKey, birthDate, gender string
		err := s.db.QueryRowContext(ctx, sqlMatchByID, id).Scan(&memberID, &familyKey, &birthDate, &gender)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("members: match: %w", err)
		}
		sameGender := q.Gender == "" || gender == "" || q.Gender == gender
		if familyKey == Key(q.Family) && birthDate == q.BirthDate && sameGender {
			ids = append(ids, memberID)
		}
	}
	return ids, nil
}

func decide(ids []string) (string, MatchOutcome, error) {
	switch len(ids) {
	case 0:
		return "", MatchNone, nil
	case 1:
		return ids[0], MatchUnique, nil
	}
	return "", MatchAmbiguous, nil
}
