package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openNoBusyWait opens a SQLite file whose connections never wait in
// SQLite's busy handler: a lock conflict fails at once with SQLITE_BUSY.
func openNoBusyWait(t *testing.T, path string) *DB {
	t.Helper()
	old := sqliteBusyTimeoutMS
	sqliteBusyTimeoutMS = 0
	t.Cleanup(func() { sqliteBusyTimeoutMS = old })
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(8)
	if _, err := db.ExecContext(context.Background(), `CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// Concurrent writers of one process, on pooled connections, queue on the
// gate: none meets the write lock held, so with no busy timeout none
// fails. Without the gate, BEGIN IMMEDIATE, an autocommit INSERT or an
// INSERT ... RETURNING meets another connection's lock and fails with
// SQLITE_BUSY.
func TestWriteGateQueuesWritersOfOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	db := openNoBusyWait(t, path)
	// A second handle on the same file shares its gate.
	db2 := openNoBusyWait(t, path)
	ctx := context.Background()

	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := db
			if w%2 == 1 {
				h = db2
			}
			for r := range rounds {
				errs <- writeOnce(ctx, h, (w+r)%3, fmt.Sprintf("%d-%d", w, r))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a write met the lock: %v", err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != workers*rounds {
		t.Fatalf("%d rows, want %d", n, workers*rounds)
	}
}

// writeOnce inserts v in one of the three ways a write reaches the file:
// kind 0 is a transaction, 1 an autocommit INSERT, and 2 INSERT ... RETURNING.
func writeOnce(ctx context.Context, db *DB, kind int, v string) error {
	switch kind {
	case 0:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, v); err != nil {
			return err
		}
		return tx.Commit()
	case 1:
		_, err := db.ExecContext(ctx, `INSERT INTO t (v) VALUES ($1)`, v)
		return err
	default:
		var id int64
		return db.QueryRowContext(ctx, `INSERT INTO t (v) VALUES ($1) RETURNING id`, v).Scan(&id)
	}
}

// A writer waiting for the gate gives up when its context ends, and
// readers do not wait for it.
func TestWriteGateContextAndReaders(t *testing.T) {
	db := openNoBusyWait(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `INSERT INTO t (v) VALUES ('held')`); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.ExecContext(short, `INSERT INTO t (v) VALUES ('late')`); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write while the gate is held: %v, want the context's deadline", err)
	}

	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatalf("read while a writer holds the gate: %v", err)
	}
	if n != 0 {
		t.Fatalf("read while a writer holds the gate: %d rows, want 0", n)
	}
	snap, err := db.BeginTx(ctx, SnapshotTx)
	if err != nil {
		t.Fatalf("snapshot transaction while a writer holds the gate: %v", err)
	}
	snap.Rollback()
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := writeOnce(ctx, db, 0, "after"); err != nil {
		t.Fatalf("write after the holder committed: %v", err)
	}
}

func TestWriteStatementKinds(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO t VALUES (1) RETURNING id": true,
		"\n\t update t SET v = 1 RETURNING id":  true,
		"DELETE FROM t RETURNING id":            true,
		"SELECT id FROM t":                      false,
		"PRAGMA busy_timeout":                   false,
	} {
		if got := isWriteStatement(q); got != want {
			t.Errorf("isWriteStatement(%q) = %v, want %v", q, got, want)
		}
	}
}

// A transaction begun with a BEGIN statement holds the gate until its
// COMMIT or ROLLBACK statement, so a writer of the process waits for it
// on the gate rather than taking the gate and then meeting the lock.
func TestWriteGateStatementTransactions(t *testing.T) {
	db := openNoBusyWait(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- writeOnce(ctx, db, 0, "queued") }()
	if _, err := conn.ExecContext(ctx, `INSERT INTO t (v) VALUES ('first')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("writer queued behind a BEGIN statement: %v", err)
	}

	for q, want := range map[string]bool{
		"rollback to sp1":            true,
		"ROLLBACK TRANSACTION TO sp": true,
		"ROLLBACK":                   false,
	} {
		if got := isRollbackTo(q); got != want {
			t.Errorf("isRollbackTo(%q) = %v, want %v", q, got, want)
		}
	}
}

// watchedContext counts calls of Done, which the SQLite driver makes to
// decide whether to start a goroutine that interrupts the statement. A
// writer waiting for the gate while the WAL keeper checkpoints also reads
// Done, as it should, so calls from the gate's own wait are not counted.
type watchedContext struct {
	context.Context
	doneCalls atomic.Int32
}

func (c *watchedContext) Done() <-chan struct{} {
	if !calledFrom("(*writeGate).acquire") {
		c.doneCalls.Add(1)
	}
	return c.Context.Done()
}

// calledFrom reports whether the caller of the function that calls it is
// the function whose name ends in name.
func calledFrom(name string) bool {
	pc, _, _, ok := runtime.Caller(2)
	if !ok {
		return false
	}
	f := runtime.FuncForPC(pc)
	return f != nil && strings.HasSuffix(f.Name(), name)
}

// The gate hands the SQLite driver contexts that cannot end, so the driver
// starts no goroutine per statement, transaction or commit; a context that
// has already ended still stops the statement before it starts.
func TestGateStripsCancellation(t *testing.T) {
	db := openNoBusyWait(t, filepath.Join(t.TempDir(), "g.db"))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := &watchedContext{Context: cancellable}
	err = conn.Raw(func(dc any) error {
		c := dc.(*gatedConn)
		if _, err := c.ExecContext(watched, `INSERT INTO t (v) VALUES ('a')`, nil); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		rows, err := c.QueryContext(watched, `SELECT v FROM t`, nil)
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		rows.Close()
		tx, err := c.BeginTx(watched, driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if _, err := c.ExecContext(watched, `INSERT INTO t (v) VALUES ('b')`, nil); err != nil {
			return fmt.Errorf("exec in transaction: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}

		cancel()
		if _, err := c.ExecContext(watched, `INSERT INTO t (v) VALUES ('late')`, nil); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("exec after cancel: %v, want context.Canceled", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := watched.doneCalls.Load(); n != 0 {
		t.Errorf("the driver read Done of the caller's context %d times, want 0", n)
	}

	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("rows = %d, want 2 (the statement after cancel must not run)", n)
	}
}
