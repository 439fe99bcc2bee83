// Package replay keeps the ids of client assertions already used, in the
// shared database, so that an assertion is accepted once across restarts and
// across every gateway replica using the same database.
package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// The SQL of this package, written once for SQLite and PostgreSQL under the
// rules of internal/storage. token_replay has one row per assertion id
// used, until expires_ns.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS token_replay (
		client_id  TEXT    NOT NULL,
		jti        TEXT    NOT NULL,
		expires_ns INTEGER NOT NULL,
		PRIMARY KEY (client_id, jti)
	)`,
	`CREATE INDEX IF NOT EXISTS token_replay_expiry ON token_replay (expires_ns)`,
}

const (
	sqlPrune  = `DELETE FROM token_replay WHERE expires_ns < $1`
	sqlRecord = `INSERT INTO token_replay (client_id, jti, expires_ns) VALUES ($1, $2, $3)`
)

// Cache implements token.ReplayCache over a SQL table. The primary key makes
// the check and the insert one atomic step, on SQLite and on PostgreSQL,
// where a concurrent insert of the same id waits for the first to commit
// and then fails.
type Cache struct {
	db  *storage.DB
	now func() time.Time
}

// New creates the table if needed.
func New(ctx context.Context, db *storage.DB, now func() time.Time) (*Cache, error) {
	if now == nil {
		now = time.Now
	}
	if err := db.CreateSchema(ctx, schema); err != nil {
		return nil, fmt.Errorf("replay: create schema: %w", err)
	}
	return &Cache{db: db, now: now}, nil
}

// Use records (clientID, jti) until expires, returning an error wrapping
// token.ErrReplay if it is already recorded. Rows expired for longer than
// storage.ClockMargin are deleted first, so an id may be reused only after
// its assertion could no longer be accepted by any replica.
func (c *Cache) Use(ctx context.Context, clientID, jti string, expires time.Time) error {
	pruneBefore := c.now().Add(-storage.ClockMargin).UnixNano()
	if _, err := c.db.ExecContext(ctx, sqlPrune, pruneBefore); err != nil {
		return fmt.Errorf("replay: prune: %w", err)
	}
	_, err := c.db.ExecContext(ctx, sqlRecord, clientID, jti, expires.UnixNano())
	if err != nil {
		if storage.IsUniqueViolation(err) {
			return token.ErrReplay
		}
		return fmt.Errorf("replay: record: %w", err)
	}
	return nil
}
