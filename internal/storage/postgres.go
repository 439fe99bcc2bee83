package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// MaxPostgresConns caps the connections one DB opens to PostgreSQL. Each
// gateway replica opens one DB, so a server with the default
// max_connections of 100 serves about four replicas with room for
// administration.
const MaxPostgresConns = 20

// ClockMargin is the maximum difference between the clocks of replicas
// sharing one database. Rows with an expiry (used assertion ids, revoked
// token ids) are deleted only this long after it, so that a replica whose
// clock lags still finds them while it would accept the token.
const ClockMargin = 5 * time.Minute

// schemaLockKey is the advisory lock key CreateSchema takes on PostgreSQL:
// the first 8 bytes of "gatehous" read as a big-endian integer.
const schemaLockKey int64 = 0x6761746568_6f7573

// openPostgres connects to the PostgreSQL database at rawURL.
func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	redacted := "(invalid URL)"
	if u, err := url.Parse(rawURL); err == nil {
		redacted = redactPostgresURL(u)
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgconn's parse errors quote the URL with the password masked.
		return nil, fmt.Errorf("storage: invalid PostgreSQL URL %s: %w", redacted, err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxPostgresConns)
	db.SetMaxIdleConns(MaxPostgresConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: connect to %s: %w", redacted, err)
	}
	return &DB{DB: db, Dialect: PostgreSQL, Target: redacted}, nil
}

// SQLState returns the SQLSTATE code of the PostgreSQL error in err's
// chain, such as "28P01" for a failed password authentication, or "" when
// there is none.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// pgUniqueViolation is the SQLSTATE of unique_violation.
const pgUniqueViolation = "23505"

// IsUniqueViolation reports whether err is an insert or update that failed
// on a PRIMARY KEY or UNIQUE constraint, on either backend.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	return isSQLiteUniqueViolation(err)
}
