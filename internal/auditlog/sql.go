package auditlog

import (
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// The SQL of the audit log, written once for SQLite and PostgreSQL under
// the rules of internal/storage.
//
// Tables:
//
//   - audit_entries: one row per leaf. entry is the canonical encoding,
//     the leaf data. exchange_id, partner, phase, decision, status and
//     recorded_ns copy fields of it for queries, and verification checks
//     that they agree with it. request_ct and response_ct are the body
//     ciphertexts and wrapped_key the wrapped data key. Retention sets
//     all three to NULL and records the time in shredded_ns; entries it
//     shredded before it deleted ciphertexts keep theirs.
//   - audit_hashes: the tlog stored hashes, keyed by tlog.StoredHashIndex.
//   - audit_checkpoints: signed checkpoints in signing order, cosignatures
//     appended to note.
//   - audit_keks: key-encryption keys, each an age file to the recipients.
//     A writer wraps data keys under one until expires_ns, so every entry
//     under it has recorded_ns < expires_ns.
//   - audit_meta: the origin.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS audit_meta (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS audit_entries (
		idx          INTEGER PRIMARY KEY,
		exchange_id  TEXT    NOT NULL,
		partner      TEXT    NOT NULL,
		phase        TEXT    NOT NULL,
		decision     TEXT    NOT NULL,
		status       INTEGER NOT NULL,
		recorded_ns  INTEGER NOT NULL,
		entry        BLOB    NOT NULL,
		request_ct   BLOB,
		response_ct  BLOB,
		wrapped_key  BLOB,
		shredded_ns  INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS audit_entries_exchange ON audit_entries (exchange_id)`,
	`CREATE INDEX IF NOT EXISTS audit_entries_partner ON audit_entries (partner, idx)`,
	`CREATE INDEX IF NOT EXISTS audit_entries_recorded ON audit_entries (recorded_ns)`,
	`CREATE TABLE IF NOT EXISTS audit_hashes (
		id   INTEGER PRIMARY KEY,
		hash BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS audit_checkpoints (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		size       INTEGER NOT NULL,
		note       BLOB    NOT NULL,
		created_ns INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS audit_checkpoints_size ON audit_checkpoints (size)`,
	`CREATE TABLE IF NOT EXISTS audit_keks (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		wrapped    BLOB    NOT NULL,
		created_ns INTEGER NOT NULL,
		expires_ns INTEGER NOT NULL
	)`,
}

// schemaPostgres follows schema on PostgreSQL. Ciphertexts are random, so
// storing them EXTERNAL skips the compression PostgreSQL would otherwise
// try on every value above about 2 KiB before moving it out of line.
var schemaPostgres = []string{
	`ALTER TABLE audit_entries ALTER COLUMN request_ct SET STORAGE EXTERNAL`,
	`ALTER TABLE audit_entries ALTER COLUMN response_ct SET STORAGE EXTERNAL`,
}

const (
	sqlReadOrigin = `SELECT value FROM audit_meta WHERE name = 'origin'`

	sqlInsertOrigin = `INSERT INTO audit_meta (name, value) VALUES ('origin', $1)`

	// sqlIndexRange reads the lowest and highest entry index, NULL for an
	// empty log. The size is the highest plus one, added in Go
	// (countFromMaxID) because MAX(idx) + 1 overflows on a row an insider
	// put at the largest integer.
	sqlIndexRange = `SELECT MIN(idx), MAX(idx) FROM audit_entries`

	// sqlHashIDRange reads the lowest and highest stored hash id. Entries
	// and hashes inserted together keep the count, the highest plus one,
	// at tlog.StoredHashCount(size).
	sqlHashIDRange = `SELECT MIN(id), MAX(id) FROM audit_hashes`

	// sqlTreeState reads the highest entry index, the size and signing
	// time of the latest checkpoint, and the highest stored hash id (each
	// NULL without one) in one round trip.
	sqlTreeState = `SELECT (SELECT MAX(idx) FROM audit_entries),
		(SELECT size FROM audit_checkpoints ORDER BY id DESC LIMIT 1),
		(SELECT created_ns FROM audit_checkpoints ORDER BY id DESC LIMIT 1),
		(SELECT MAX(id) FROM audit_hashes)`

	// sqlLockAppendsPostgres serialises the append transactions of every
	// writer on one PostgreSQL log until the transaction ends. It also
	// makes the commit wait for the WAL flush, whatever synchronous_commit
	// the server or role defaults to (set_config with is_local true is SET
	// LOCAL). SQLite needs no statement, because its write transactions
	// begin with the write lock (storage's BEGIN IMMEDIATE).
	sqlLockAppendsPostgres = `SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'on', true)`

	// sqlLockAppendsSessionPostgres takes the same lock for a session, for
	// tests that hold appends back.
	sqlLockAppendsSessionPostgres   = `SELECT pg_advisory_lock($1)`
	sqlUnlockAppendsSessionPostgres = `SELECT pg_advisory_unlock($1)`

	sqlCurrentSchemaPostgres = `SELECT current_schema()`

	sqlInsertEntriesPrefix = `INSERT INTO audit_entries
		(idx, exchange_id, partner, phase, decision, status, recorded_ns, entry, request_ct, response_ct, wrapped_key) VALUES `
	entryColumnCount = 11

	sqlInsertHashesPrefix = `INSERT INTO audit_hashes (id, hash) VALUES `
	hashColumnCount       = 2

	sqlInsertCheckpoint = `INSERT INTO audit_checkpoints (size, note, created_ns) VALUES ($1, $2, $3)`

	sqlInsertKEK = `INSERT INTO audit_keks (wrapped, created_ns, expires_ns) VALUES ($1, $2, $3) RETURNING id`

	sqlReadKEK = `SELECT wrapped FROM audit_keks WHERE id = $1`

	sqlReadEntryEncoding = `SELECT entry FROM audit_entries WHERE idx = $1`

	sqlKEKFiles = `SELECT id, wrapped FROM audit_keks`

	rowColumnsSQL = `idx, exchange_id, partner, phase, decision, status, recorded_ns,
		entry, request_ct, response_ct, wrapped_key, shredded_ns`

	// sqlSelectEntries starts Reader.Scan's query. Scan appends the
	// conditions, each a column, an operator and a placeholder, then
	// sqlOrderEntries and a LIMIT.
	sqlSelectEntries = `SELECT ` + rowColumnsSQL + ` FROM audit_entries WHERE `

	sqlOrderEntries = ` ORDER BY idx`

	// sqlVerifyEntryRangePostgres reads entries [$1, $2) for verification.
	sqlVerifyEntryRangePostgres = `SELECT ` + verifyColumnsSQL + ` FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`

	// sqlVerifyEntryRangeSQLite reads the same as one packed column per
	// row, with the SHA-256 digests of the ciphertexts in their place. One
	// function running inside SQLite's step hashes the ciphertexts and
	// packs the row (storage.SQLitePackRowSHA256), which spares the driver
	// copying each ciphertext into Go and a mutex-guarded call per column.
	// The mask 0x300 names the ninth and tenth columns, request_ct and
	// response_ct.
	sqlVerifyEntryRangeSQLite = `SELECT ` + storage.SQLitePackRowSHA256 + `(768, ` + verifyColumnsSQL + `)
		FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`

	verifyColumnsSQL = `idx, exchange_id, partner, phase, decision, status, recorded_ns,
		entry, request_ct, response_ct, wrapped_key, shredded_ns`

	sqlHashRange = `SELECT id, hash FROM audit_hashes WHERE id >= $1 AND id < $2 ORDER BY id`

	// sqlPackedHashRangeSQLite reads the rows of sqlHashRange as one value
	// (storage.SQLitePackRows), NULL when there are none.
	sqlPackedHashRangeSQLite = `SELECT ` + storage.SQLitePackRows + `(id, hash) FROM audit_hashes WHERE id >= $1 AND id < $2`

	// sqlHashesIn is completed by hashesInQuery.
	sqlHashesIn = `SELECT id, hash FROM audit_hashes WHERE id IN (`

	// sqlCheckpoints reads at most MaxCheckpointBytes+1 bytes of a note,
	// enough to reject one that is too long without reading a row an
	// insider made huge.
	sqlCheckpoints = `SELECT id, size, substr(note, 1, 65537), created_ns FROM audit_checkpoints `

	sqlCheckpointsInOrder = sqlCheckpoints + `ORDER BY id`

	sqlLatestCheckpoint = sqlCheckpoints + `ORDER BY id DESC LIMIT 1`

	sqlCheckpointsBySize = sqlCheckpoints + `WHERE size = $1 ORDER BY id DESC`

	sqlUpdateCheckpointNote = `UPDATE audit_checkpoints SET note = $1 WHERE id = $2`

	// sqlShredNext lists the next entries to shred from index $1 on. It
	// runs as a plain read, outside the write lock, because from index 0
	// it passes every entry shredded before.
	sqlShredNext = `SELECT idx FROM audit_entries
		WHERE idx >= $1 AND recorded_ns < $2 AND wrapped_key IS NOT NULL ORDER BY idx LIMIT $3`

	// sqlShredRange shreds the entries of an index range that
	// sqlShredNext listed, found by the primary key.
	sqlShredRange = `UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = $1
		WHERE idx >= $2 AND idx <= $3 AND recorded_ns < $4 AND wrapped_key IS NOT NULL`

	// sqlDeleteExpiredKEKs deletes the key-encryption keys that expired by
	// the cutoff $1. Every entry under such a key was recorded before the
	// cutoff, so Shred has already destroyed its wrapped data key.
	sqlDeleteExpiredKEKs = `DELETE FROM audit_keks WHERE expires_ns <= $1`

	sqlSecureDeleteOnSQLite  = `PRAGMA secure_delete = ON`
	sqlSecureDeleteOffSQLite = `PRAGMA secure_delete = OFF`
	sqlTruncateWALSQLite     = `PRAGMA wal_checkpoint(TRUNCATE)`
)

// hashesInQuery returns sqlHashesIn completed for n ids.
func hashesInQuery(n int) string {
	return sqlHashesIn + storage.Placeholders(1, n) + `)`
}

// insertQuery returns a multi-row INSERT of rows rows of cols columns:
// prefix followed by the VALUES list for d.
func insertQuery(d storage.Dialect, prefix string, cols, rows int) string {
	return prefix + d.Values(rows, cols)
}
