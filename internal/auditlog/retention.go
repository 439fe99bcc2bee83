package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// shredBatch bounds the rows changed per transaction, so retention never
// holds the write lock long enough to stall appends.
const shredBatch = 1000

// Shred destroys the wrapped data keys of entries recorded before cutoff
// (crypto-shredding): their bodies can no longer be decrypted by anyone,
// while entries, ciphertexts, hashes and checkpoints stay, so every proof
// and verification remains valid. It returns the number of entries
// shredded.
//
// SQLite's secure_delete is switched on for the connection doing the work,
// so the freed key bytes are overwritten in the database file, and the WAL
// is checkpointed and truncated at the end.
// NOTE: copies made before shredding (backups, file system snapshots,
// replicas) still hold the keys; retention must cover them separately.
func Shred(ctx context.Context, db *sql.DB, cutoff, now time.Time) (int64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("auditlog: shred: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return 0, fmt.Errorf("auditlog: shred: %w", err)
	}
	defer conn.ExecContext(context.Background(), `PRAGMA secure_delete = OFF`)

	var total int64
	for {
		res, err := conn.ExecContext(ctx, `UPDATE audit_entries SET wrapped_key = NULL, shredded_ns = ?
			WHERE idx IN (SELECT idx FROM audit_entries
				WHERE recorded_ns < ? AND wrapped_key IS NOT NULL ORDER BY idx LIMIT ?)`,
			now.UnixNano(), cutoff.UnixNano(), shredBatch)
		if err != nil {
			return total, fmt.Errorf("auditlog: shred: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("auditlog: shred: %w", err)
		}
		total += n
		if n < shredBatch {
			break
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil && !errors.Is(err, context.Canceled) {
		return total, fmt.Errorf("auditlog: shred: checkpoint the WAL: %w", err)
	}
	return total, nil
}

// Shred destroys the data keys of entries recorded before cutoff; see the
// package-level Shred.
func (l *Log) Shred(ctx context.Context, cutoff time.Time) (int64, error) {
	return Shred(ctx, l.db, cutoff, l.opts.Now())
}
