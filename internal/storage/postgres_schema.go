package storage

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
)

// Schema statements that lock their table on PostgreSQL even when they
// change nothing: CREATE INDEX IF NOT EXISTS takes a SHARE lock before it
// finds the index, and SET STORAGE an ACCESS EXCLUSIVE lock. A replica
// starting beside others that append would queue behind their writes
// while holding the locks of earlier statements, and PostgreSQL aborts one
// side of the cycle as a deadlock. So CreateSchema skips them once their
// object is in place.
var (
	createIndexStmt = regexp.MustCompile(`^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+) ON `)
	setStorageStmt  = regexp.MustCompile(`^ALTER TABLE (\w+) ALTER COLUMN (\w+) SET STORAGE (PLAIN|EXTERNAL|EXTENDED|MAIN)$`)
)

// storageCodes maps SET STORAGE names to pg_attribute.attstorage.
var storageCodes = map[string]string{"PLAIN": "p", "EXTERNAL": "e", "EXTENDED": "x", "MAIN": "m"}

// pgSchemaDone reports whether stmt, a schema statement, has nothing left
// to do in tx's PostgreSQL schema. Statements it does not know are never
// done, so they always run.
func pgSchemaDone(ctx context.Context, tx *sql.Tx, stmt string) (bool, error) {
	stmt = strings.TrimSpace(stmt)
	if m := createIndexStmt.FindStringSubmatch(stmt); m != nil {
		var exists bool
		err := tx.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, m[1]).Scan(&exists)
		return exists, err
	}
	if m := setStorageStmt.FindStringSubmatch(stmt); m != nil {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attname = $2 AND attstorage = $3`,
			m[1], m[2], storageCodes[m[3]]).Scan(&n)
		return n == 1, err
	}
	return false, nil
}
