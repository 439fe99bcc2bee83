// Package revocation keeps the ids (jti) of revoked access tokens in the
// shared database, so that a token revoked through one gateway replica is
// rejected by every replica using the same database, across restarts.
//
// Each row lives until the token's expiry plus the verifier's clock skew.
// Expired rows are deleted on the next revocation, and lookups ignore them.
package revocation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// schema is written with SQLite's type names; storage.DB.CreateSchema
// rewrites them for PostgreSQL.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS token_revocations (
	jti        TEXT    NOT NULL PRIMARY KEY,
	expires_ns INTEGER NOT NULL
)`,
	`CREATE INDEX IF NOT EXISTS token_revocations_expiry ON token_revocations (expires_ns)`,
}

// Store implements token.Revocations over a SQL table, on SQLite or
// PostgreSQL. A revocation is durable and visible to every replica once
// Revoke returns, because each statement commits on its own.
type Store struct {
	db  *storage.DB
	now func() time.Time
	// stmts prepares the lookup once, since every token check runs it.
	stmts *storage.Statements
}

// New creates the table if needed. now returns the current time; nil means
// time.Now.
func New(ctx context.Context, db *storage.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := db.CreateSchema(ctx, schema); err != nil {
		return nil, fmt.Errorf("revocation: create schema: %w", err)
	}
	return &Store{db: db, now: now, stmts: storage.NewStatements(db)}, nil
}

// Revoke records jti until expires, after deleting the rows expired for
// longer than storage.ClockMargin. A jti expired for longer than that is
// not recorded, since its token can no longer pass any replica's exp
// check. Revoking a recorded jti again succeeds and keeps the first
// expiry, which is the same for every revocation of one token.
func (s *Store) Revoke(ctx context.Context, jti string, expires time.Time) error {
	if jti == "" {
		return errors.New("revocation: empty token id")
	}
	pruneBefore := s.now().Add(-storage.ClockMargin).UnixNano()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM token_revocations WHERE expires_ns <= $1`, pruneBefore); err != nil {
		return fmt.Errorf("revocation: prune: %w", err)
	}
	if expires.UnixNano() <= pruneBefore {
		return nil
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO token_revocations (jti, expires_ns) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`,
		jti, expires.UnixNano())
	if err != nil {
		return fmt.Errorf("revocation: record: %w", err)
	}
	return nil
}

// Revoked reports whether jti is recorded with an expiry still ahead.
func (s *Store) Revoked(ctx context.Context, jti string) (bool, error) {
	var found int
	err := s.stmts.QueryRowContext(ctx,
		`SELECT 1 FROM token_revocations WHERE jti = $1 AND expires_ns > $2`, jti, s.now().UnixNano()).Scan(&found)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("revocation: lookup: %w", err)
	}
	return true, nil
}

// Len returns the number of rows, expired or not, for tests and metrics.
func (s *Store) Len(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM token_revocations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("revocation: count: %w", err)
	}
	return n, nil
}
