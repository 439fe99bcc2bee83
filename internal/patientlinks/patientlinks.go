// Package patientlinks records which patients each partner has named in
// inbound requests the upstream accepted, so that the outbound pipeline can require every
// patient an outbound payload names to be one the destination partner
// sent before. It keeps the links in the shared database, so that every
// gateway replica using that database reads the same links.
//
// A link is the partner id, an identifier system in clear and a SHA-256
// of "system|value". The identifier value, a member id or MRN, is PHI, so
// the table never contains it.
//
// Each link lives for the store's retention after the latest inbound
// request that named it. Remember deletes expired links at most once a
// minute per Store, and Known ignores them.
package patientlinks

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// DefaultRetention is how long a link lives after the latest inbound
// request that named it.
//
// NOTE: a pended prior authorization may be decided, and notified, long
// after the request. The default of 400 days covers a yearly
// authorization period with margin. It is an estimate, not a rule of PAS.
const DefaultRetention = 400 * 24 * time.Hour

// MaxIdentifiers caps the identifiers one call of Remember or Known
// reads, so that a crafted body with thousands of identifiers cannot
// turn one request into thousands of statements. Both read the first
// MaxIdentifiers and ignore the rest, which can only leave a patient
// unknown, never make one known.
const MaxIdentifiers = 16

// pruneInterval is the least time between two deletions of expired links.
const pruneInterval = time.Minute

// schema is written with SQLite's type names; storage.DB.CreateSchema
// rewrites them for PostgreSQL.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS partner_patients (
	partner    TEXT    NOT NULL,
	system     TEXT    NOT NULL,
	value_hash BLOB    NOT NULL,
	expires_ns INTEGER NOT NULL,
	PRIMARY KEY (partner, system, value_hash)
)`,
	`CREATE INDEX IF NOT EXISTS partner_patients_expiry ON partner_patients (expires_ns)`,
}

// Store keeps the links in a SQL table, on SQLite or PostgreSQL. It is
// safe for concurrent use. A link is durable and visible to every replica
// once Remember returns.
type Store struct {
	db        *storage.DB
	now       func() time.Time
	retention time.Duration
	stmts     *storage.Statements

	mu        sync.Mutex
	lastPrune time.Time
}

// New creates the table if needed. retention is how long a link lives
// after the latest request that named it, and 0 means DefaultRetention.
// now returns the current time, and nil means time.Now.
func New(ctx context.Context, db *storage.DB, retention time.Duration, now func() time.Time) (*Store, error) {
	if retention < 0 {
		return nil, errors.New("patientlinks: negative retention")
	}
	if retention == 0 {
		retention = DefaultRetention
	}
	if now == nil {
		now = time.Now
	}
	if err := db.CreateSchema(ctx, schema); err != nil {
		return nil, fmt.Errorf("patientlinks: create schema: %w", err)
	}
	return &Store{db: db, now: now, retention: retention, stmts: storage.NewStatements(db)}, nil
}

// hashValue returns the SHA-256 of "system|value". The system is stored in
// clear next to it, so the separator need not be unambiguous.
//
// NOTE: member ids have little entropy, so an unkeyed hash can be reversed
// by trying every id of a known format. A keyed hash would need a key that
// every replica shares.
func hashValue(id congruence.Identifier) []byte {
	sum := sha256.Sum256([]byte(id.System + "|" + id.Value))
	return sum[:]
}

// usable returns the first MaxIdentifiers identifiers of ids with both
// system and value.
func usable(ids []congruence.Identifier) []congruence.Identifier {
	out := make([]congruence.Identifier, 0, min(len(ids), MaxIdentifiers))
	for _, id := range ids {
		if len(out) == MaxIdentifiers {
			break
		}
		if id.System != "" && id.Value != "" {
			out = append(out, id)
		}
	}
	return out
}

// Remember links each identifier of ids with both system and value to
// partner until now plus the retention, extending a link that exists.
func (s *Store) Remember(ctx context.Context, partner string, ids []congruence.Identifier) error {
	if partner == "" {
		return errors.New("patientlinks: empty partner id")
	}
	ids = usable(ids)
	if err := s.prune(ctx); err != nil {
		return err
	}
	expires := s.now().Add(s.retention).UnixNano()
	for _, id := range ids {
		_, err := s.stmts.ExecContext(ctx,
			`INSERT INTO partner_patients (partner, system, value_hash, expires_ns) VALUES ($1, $2, $3, $4)
ON CONFLICT (partner, system, value_hash) DO UPDATE SET expires_ns = excluded.expires_ns
WHERE partner_patients.expires_ns < excluded.expires_ns`,
			partner, id.System, hashValue(id), expires)
		if err != nil {
			return fmt.Errorf("patientlinks: record: %w", err)
		}
	}
	return nil
}

// prune deletes the expired links, at most once per pruneInterval per
// Store.
func (s *Store) prune(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	due := now.Sub(s.lastPrune) >= pruneInterval
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM partner_patients WHERE expires_ns <= $1`, now.UnixNano()); err != nil {
		return fmt.Errorf("patientlinks: prune: %w", err)
	}
	return nil
}

// Known reports whether at least one identifier of ids is linked to
// partner by a link that has not expired. Identifiers without both system
// and value never match.
func (s *Store) Known(ctx context.Context, partner string, ids []congruence.Identifier) (bool, error) {
	ids = usable(ids)
	now := s.now().UnixNano()
	for _, id := range ids {
		var found int
		err := s.stmts.QueryRowContext(ctx,
			`SELECT 1 FROM partner_patients WHERE partner = $1 AND system = $2 AND value_hash = $3 AND expires_ns > $4`,
			partner, id.System, hashValue(id), now).Scan(&found)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return false, fmt.Errorf("patientlinks: lookup: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// Len returns the number of links, expired or not, for tests and metrics.
func (s *Store) Len(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM partner_patients`).Scan(&n); err != nil {
		return 0, fmt.Errorf("patientlinks: count: %w", err)
	}
	return n, nil
}
