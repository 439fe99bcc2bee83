// Package members stores the payer's members and their coverage for the
// built-in payer service: eligibility, $member-match and the Synthea
// loader. It stores in payer_members and payer_coverages and never logs.
//
// # Members and coverage
//
// A member has a member id (Member.ID), derived from the identifier it
// was loaded under as "M" followed by the first 10 hex digits of
// SHA-256("system|value"), so loading the same data again yields the
// same ids. Demographics are kept as given and as match keys: lower-case
// letters only, so "O'Brien" and "OBRIEN" share a key.
//
// A coverage has a plan, a payor name and a period of whole dates; an
// empty End means open-ended. It is in force on a date d when
// Start <= d and (End == "" or d <= End); a coverage whose End has
// passed has lapsed.
//
// # Matching
//
// Match is deterministic and never guesses:
//
//  1. The candidates are the members the query's ids name that also have
//     its birth date and family name key (and gender, when both sides
//     have one).
//  2. When there are none, the candidates are the members with the same
//     family and first given name keys, birth date and gender. All four
//     are required. This applies whether the ids are unknown or name
//     members with other demographics. Treating both cases alike keeps
//     the response from revealing whether an id belongs to some member.
//
// One candidate is a match. None is MatchNone and several MatchAmbiguous,
// and neither names a member.
package members

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Member is one payer_members row.
type Member struct {
	ID string
	// SourceSystem and SourceValue are the identifier the member was
	// loaded under, such as Synthea's patient id.
	SourceSystem, SourceValue string
	Family, Given             string // the first given name
	BirthDate                 string // YYYY-MM-DD
	Gender                    string // FHIR administrative gender, "" when unknown
	DeceasedDate              string // YYYY-MM-DD, "" when alive
}

// Coverage is one payer_coverages row.
type Coverage struct {
	ID       string
	MemberID string
	Plan     string // such as private, medicare, medicaid
	Payor    string
	Start    string // YYYY-MM-DD
	End      string // YYYY-MM-DD, "" when open-ended
}

// InForce reports whether c covers the date d (YYYY-MM-DD).
func (c Coverage) InForce(d string) bool {
	return c.Start <= d && (c.End == "" || d <= c.End)
}

// MemberID derives the member id for a source identifier.
func MemberID(system, value string) string {
	sum := sha256.Sum256([]byte(system + "|" + value))
	return "M" + strings.ToUpper(hex.EncodeToString(sum[:5]))
}

// Key returns the match key of a name: its letters in lower case.
func Key(name string) string {
	var b strings.Builder
	for _, r := range name {
		if unicode.IsLetter(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// ErrExists means a member with the same id is already stored.
var ErrExists = errors.New("members: member already stored")

// Store reads and writes members and coverage.
type Store struct {
	db *storage.DB
}

// NewStore returns a Store over db. Call Migrate before use.
func NewStore(db *storage.DB) *Store { return &Store{db: db} }

// Migrate creates the tables if they do not exist.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.CreateSchema(ctx, schema); err != nil {
		return fmt.Errorf("members: migrate: %w", err)
	}
	return nil
}

// Add stores a member with its coverage in one transaction. It returns
// ErrExists when the member id is taken.
func (s *Store) Add(ctx context.Context, m Member, covs []Coverage) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("members: begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, sqlMemberExists, m.ID).Scan(&n); err != nil {
		return fmt.Errorf("members: look up member: %w", err)
	}
	if n > 0 {
		return ErrExists
	}
	if _, err := tx.ExecContext(ctx, sqlInsertMember, m.ID, m.SourceSystem, m.SourceValue, m.Family, m.Given,
		Key(m.Family), Key(m.Given), m.BirthDate, m.Gender, m.DeceasedDate); err != nil {
		// On PostgreSQL the check above does not see a concurrent load's
		// uncommitted row, and this insert fails once that load commits.
		if storage.IsUniqueViolation(err) {
			return ErrExists
		}
		return fmt.Errorf("members: insert member: %w", err)
	}
	for _, c := range covs {
		if _, err := tx.ExecContext(ctx, sqlInsertCoverage, c.ID, m.ID, c.Plan, c.Payor, c.Start, c.End); err != nil {
			return fmt.Errorf("members: insert coverage: %w", err)
		}
	}
	return tx.Commit()
}

// Member returns a member, or nil when none has the id.
func (s *Store) Member(ctx context.Context, id string) (*Member, error) {
	var m Member
	err := s.db.QueryRowContext(ctx, sqlMemberByID, id).Scan(&m.ID, &m.SourceSystem, &m.SourceValue, &m.Family,
		&m.Given, &m.BirthDate, &m.Gender, &m.DeceasedDate)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("members: read member: %w", err)
	}
	return &m, nil
}

// Coverages returns a member's coverage, latest start first.
func (s *Store) Coverages(ctx context.Context, memberID string) ([]Coverage, error) {
	rows, err := s.db.QueryContext(ctx, sqlCoveragesOf, memberID)
	if err != nil {
		return nil, fmt.Errorf("members: read coverage: %w", err)
	}
	defer rows.Close()
	var out []Coverage
	for rows.Next() {
		var c Coverage
		if err := rows.Scan(&c.ID, &c.MemberID, &c.Plan, &c.Payor, &c.Start, &c.End); err != nil {
			return nil, fmt.Errorf("members: read coverage: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Count returns the number of members stored.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, sqlCountMembers).Scan(&n)
	return n, err
}

// Any reports whether at least one member is stored, without counting
// them all.
func (s *Store) Any(ctx context.Context) (bool, error) {
	var found bool
	err := s.db.QueryRowContext(ctx, sqlAnyMember).Scan(&found)
	return found, err
}
