package payer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// errRaceLost means a concurrent submission changed what a save relied
// on, so the caller plans again.
var errRaceLost = errors.New("payer: a concurrent submission changed the authorization")

// store reads and writes the payer_ tables. Its methods return database
// errors wrapped with the operation that failed. Those messages name
// tables and columns but contain no request values, because every value
// travels as a query parameter.
type store struct {
	db *storage.DB
	// stmts prepares the SQL of the $submit path once: SQLite would parse
	// each statement on every submission.
	stmts *storage.Statements
}

// txQueries is the part of a transaction that the save steps use, met by
// *sql.Tx and storage.PreparedTx.
type txQueries interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// authorization is one payer_authorizations row.
type authorization struct {
	preAuthRef  string
	partner     string
	providerKey string
	patientKey  string
	currentID   string
	version     int
}

// replay returns the response stored for the same Claim key and request
// fingerprint, and whether there is one.
func (s *store) replay(ctx context.Context, key pas.Identifier, hash string) (string, bool, error) {
	var resp string
	err := s.stmts.QueryRowContext(ctx, sqlSubmissionByHash, key.System, key.Value, hash).Scan(&resp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("payer: look up submission: %w", err)
	}
	return resp, true, nil
}

// authorizationFor returns the authorization the partner's Claim
// identifier is bound to, or nil.
func (s *store) authorizationFor(ctx context.Context, partner string, id pas.Identifier) (*authorization, error) {
	var a authorization
	err := s.stmts.QueryRowContext(ctx, sqlAuthorizationByClaim, partner, id.System, id.Value).
		Scan(&a.preAuthRef, &a.partner, &a.providerKey, &a.patientKey, &a.currentID, &a.version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("payer: look up authorization: %w", err)
	}
	return &a, nil
}

// currentResponse returns the response Bundle of the authorization's
// current submission.
func (s *store) currentResponse(ctx context.Context, a *authorization) ([]byte, error) {
	var resp string
	if err := s.stmts.QueryRowContext(ctx, sqlResponseByID, a.currentID).Scan(&resp); err != nil {
		return nil, fmt.Errorf("payer: read current decision: %w", err)
	}
	return []byte(resp), nil
}

// submission is everything save writes for one accepted $submit.
type submission struct {
	id         string
	auth       *authorization // the authorization it belongs to
	isNew      bool           // auth is created by this submission
	key        pas.Identifier // the Claim key
	claimKeys  []pas.Identifier
	hash       string
	outcome    string
	response   string
	decisions  []itemDecision
	receivedAt time.Time
	patientRef string // ClaimResponse.patient.reference as written
	// pendThen and pendDelay are the rule table's later decision on the
	// pended items; pendThen is "" when an operator decides.
	pendThen  pas.ReviewAction
	pendDelay time.Duration
}

type itemDecision struct {
	sequence int
	coding   pas.Coding // the first productOrService coding, if any
	action   pas.ReviewAction
}

// save records a submission in one transaction. It returns errRaceLost
// when another submission bound the same identifier, stored the same
// request or advanced the authorization first.
func (s *store) save(ctx context.Context, sub *submission) (err error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("payer: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()

	now := sub.receivedAt.UTC().Format(time.RFC3339Nano)
	tx := s.stmts.In(sqlTx)
	if err := saveAuthorization(ctx, tx, sub, now); err != nil {
		return err
	}
	if err := bindClaimKeys(ctx, tx, sub); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, sqlInsertSubmission, sub.id, sub.auth.preAuthRef, sub.key.System, sub.key.Value,
		sub.hash, sub.outcome, sub.response, now); err != nil {
		return fmt.Errorf("%w: insert submission: %w", errRaceLost, err)
	}
	for _, d := range sub.decisions {
		if _, err := tx.ExecContext(ctx, sqlInsertDecision, sub.id, d.sequence, d.coding.System, d.coding.Code, string(d.action)); err != nil {
			return fmt.Errorf("payer: insert item decision: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, sqlInsertResponse, sub.id, sub.auth.preAuthRef, searchInstant(sub.receivedAt), sub.patientRef); err != nil {
		return fmt.Errorf("payer: index response: %w", err)
	}
	if err := queuePended(ctx, tx, sub); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("payer: commit: %w", err)
	}
	return nil
}

func saveAuthorization(ctx context.Context, tx txQueries, sub *submission, now string) error {
	a := sub.auth
	if sub.isNew {
		if _, err := tx.ExecContext(ctx, sqlInsertAuthorization, a.preAuthRef, a.partner, a.providerKey, a.patientKey, sub.id, now); err != nil {
			return fmt.Errorf("payer: insert authorization: %w", err)
		}
		return nil
	}
	res, err := tx.ExecContext(ctx, sqlAdvanceAuthorization, sub.id, now, a.preAuthRef, a.version)
	if err != nil {
		return fmt.Errorf("payer: update authorization: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errRaceLost
	}
	return nil
}

// bindClaimKeys binds every Claim identifier, under the authorization's
// partner, to the authorization. An
// identifier already bound to it is left alone. One bound to another
// authorization means a concurrent submission won.
func bindClaimKeys(ctx context.Context, tx txQueries, sub *submission) error {
	if sub.isNew {
		return bindNewClaimKeys(ctx, tx, sub)
	}
	for _, id := range sub.claimKeys {
		var owner string
		err := tx.QueryRowContext(ctx, sqlClaimKeyOwner, sub.auth.partner, id.System, id.Value).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, sqlInsertClaimKey, sub.auth.partner, id.System, id.Value, sub.auth.preAuthRef); err != nil {
				return fmt.Errorf("%w: bind claim identifier: %w", errRaceLost, err)
			}
		case err != nil:
			return fmt.Errorf("payer: look up claim identifier: %w", err)
		case owner != sub.auth.preAuthRef:
			return errRaceLost
		}
	}
	return nil
}

// bindNewClaimKeys is bindClaimKeys for an authorization this
// transaction created, to which no identifier can be bound yet. So it
// inserts without looking up the owner first, and the primary key
// rejects an identifier that another authorization holds.
func bindNewClaimKeys(ctx context.Context, tx txQueries, sub *submission) error {
	for i, id := range sub.claimKeys {
		// A Claim may list one identifier twice, and the second is
		// already bound.
		if slices.Contains(sub.claimKeys[:i], id) {
			continue
		}
		if _, err := tx.ExecContext(ctx, sqlInsertClaimKey, sub.auth.partner, id.System, id.Value, sub.auth.preAuthRef); err != nil {
			return fmt.Errorf("%w: bind claim identifier: %w", errRaceLost, err)
		}
	}
	return nil
}

// countAuthorizations returns the number of authorizations, for tests.
func (s *store) countAuthorizations(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, sqlCountAuthorizations).Scan(&n)
	return n, err
}
