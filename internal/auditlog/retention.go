package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// shredBatch bounds the rows changed per transaction, so retention never
// holds the write lock long enough to stall appends. Each row frees its
// ciphertexts, 5 to 15 KB for the entries of a typical PAS exchange,
// which SQLite's secure_delete overwrites, so a batch writes a few MB.
// With 20 KB of bodies per entry, a batch took 14 ms on SQLite on the
// 2-core machine of docs/benchmarks.md.
const shredBatch = 200

// Shred destroys the wrapped data keys of entries recorded before cutoff
// (crypto-shredding): their bodies can no longer be decrypted by anyone.
// It deletes their ciphertexts too, which no one can decrypt any more, so
// that the space they took serves new entries. Entries, hashes and
// checkpoints stay, so every proof and verification remains valid. It
// then deletes the key-encryption keys whose every entry was recorded
// before cutoff. It returns the number of entries shredded.
//
// On SQLite, secure_delete is switched on for the connection doing the
// work, so the freed key bytes are overwritten in the database file, and
// the WAL is checkpointed and truncated at the end.
// NOTE: on PostgreSQL the old row versions keep the keys until VACUUM
// reuses their space, and the write-ahead log keeps them until it is
// recycled. On both backends, copies made before shredding (backups, file
// system snapshots, replicas, WAL archives) still hold the keys, so retention
// must cover them separately.
func Shred(ctx context.Context, db *storage.DB, cutoff, now time.Time) (int64, error) {
	if err := checkLogSynced(db); err != nil {
		return 0, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("auditlog: shred: %w", err)
	}
	defer conn.Close()
	sqlite := db.Dialect == storage.SQLite
	if sqlite {
		if _, err := conn.ExecContext(ctx, sqlSecureDeleteOnSQLite); err != nil {
			return 0, fmt.Errorf("auditlog: shred: %w", err)
		}
		defer conn.ExecContext(context.Background(), sqlSecureDeleteOffSQLite)
	}

	total, err := shredKeys(ctx, conn, cutoff, now)
	if err != nil {
		return total, err
	}
	if _, err := conn.ExecContext(ctx, sqlDeleteExpiredKEKs, cutoff.UnixNano()); err != nil {
		return total, fmt.Errorf("auditlog: shred: delete key-encryption keys: %w", err)
	}
	if !sqlite {
		return total, nil
	}
	// A sync may have failed while the batches ran.
	if err := checkLogSynced(db); err != nil {
		return total, err
	}
	if _, err := conn.ExecContext(ctx, sqlTruncateWALSQLite); err != nil && !errors.Is(err, context.Canceled) {
		return total, fmt.Errorf("auditlog: shred: checkpoint the WAL: %w", err)
	}
	return total, nil
}

// checkLogSynced returns an error once a sync of db's write-ahead log has
// failed. Shred ends with a checkpoint of the log, which must not copy a
// log that may hold stale bytes into the database file.
func checkLogSynced(db *storage.DB) error {
	if err := db.SyncFailure(); err != nil {
		return fmt.Errorf("auditlog: shred: stopped, write-ahead log not checkpointed, because a write or fsync of the file failed (%w); restart once the disk is healthy", err)
	}
	return nil
}

// testHookShredBatch, when set by a test, is called after each batch.
var testHookShredBatch func()

// shredKeys clears the wrapped keys and ciphertexts of entries recorded
// before cutoff, shredBatch rows per statement. Each batch is listed by a
// read and then shredded by its index range, so the write lock is held
// for the update alone, not for the scan past entries shredded earlier.
func shredKeys(ctx context.Context, conn *sql.Conn, cutoff, now time.Time) (int64, error) {
	var total, from int64
	for {
		first, last, n, err := nextShredRange(ctx, conn, from, cutoff)
		if err != nil || n == 0 {
			return total, err
		}
		res, err := conn.ExecContext(ctx, sqlShredRange, now.UnixNano(), first, last, cutoff.UnixNano())
		if err != nil {
			return total, fmt.Errorf("auditlog: shred: %w", err)
		}
		done, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("auditlog: shred: %w", err)
		}
		total += done
		if testHookShredBatch != nil {
			testHookShredBatch()
		}
		if n < shredBatch {
			return total, nil
		}
		from = last + 1
	}
}

// nextShredRange returns the first and last index of the next shredBatch
// entries to shred from index from on, and how many there are.
func nextShredRange(ctx context.Context, conn *sql.Conn, from int64, cutoff time.Time) (first, last int64, n int, err error) {
	rows, err := conn.QueryContext(ctx, sqlShredNext, from, cutoff.UnixNano(), shredBatch)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("auditlog: shred: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return 0, 0, 0, fmt.Errorf("auditlog: shred: %w", err)
		}
		if n == 0 {
			first = idx
		}
		last = idx
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("auditlog: shred: %w", err)
	}
	return first, last, n, nil
}

// Shred destroys the data keys of entries recorded before cutoff, as the
// package-level Shred does.
func (l *Log) Shred(ctx context.Context, cutoff time.Time) (int64, error) {
	return Shred(ctx, l.db, cutoff, l.opts.Now())
}

// ShredOlderThan shreds the entries recorded more than age ago. It reads
// the clock once, for the cutoff and the shredding time both, so that a
// clock step between two readings cannot put a shredding time less than
// age after an entry's recording, which verification would report.
func (l *Log) ShredOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	now := l.opts.Now()
	return Shred(ctx, l.db, now.Add(-age), now)
}
