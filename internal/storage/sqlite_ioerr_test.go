package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// codedError is an error with an SQLite result code, as the driver's are.
type codedError int

func (e codedError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e codedError) Code() int     { return int(e) }

// failingTx is a driver transaction whose commit fails with err.
type failingTx struct{ err error }

func (t failingTx) Commit() error   { return t.err }
func (t failingTx) Rollback() error { return nil }

var _ driver.Tx = failingTx{}

// An SQLite I/O error on a commit counts as a failed sync of the file:
// SQLite may have seen a failed write-back before SyncCommits could, and
// Linux reports one only once. A full disk or a busy lock does not.
func TestIOErrorOnCommitCountsAsFailedSync(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		stops bool
	}{
		{"SQLITE_IOERR", 10, true},
		{"SQLITE_IOERR_WRITE", 778, true},
		{"SQLITE_IOERR_FSYNC", 1034, true},
		{"SQLITE_FULL", 13, false},
		{"SQLITE_BUSY", 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cycles := checkpointOutcomes(t)
			_, deferred := openDeferred(t, filepath.Join(t.TempDir(), "f.db"))
			writeBlobs(t, deferred, 1)
			if err := deferred.SyncCommits(); err != nil {
				t.Fatal(err)
			}

			tx := &gatedTx{inner: failingTx{codedError(tc.code)}, conn: &gatedConn{gate: gateFor(deferred.file)}}
			if err := tx.Commit(); !errors.Is(err, codedError(tc.code)) {
				t.Fatalf("Commit = %v, want the driver's error", err)
			}
			syncErr := deferred.SyncCommits()
			if stopped := syncErr != nil; stopped != tc.stops {
				t.Fatalf("SyncCommits after the error = %v, want a failure: %v", syncErr, tc.stops)
			}
			if !tc.stops {
				return
			}
			if deferred.SyncFailure() == nil {
				t.Error("SyncFailure is nil after an I/O error")
			}
			if err := waitForFailedCheckpoint(t, cycles, deferred); !strings.Contains(err.Error(), "not copying the write-ahead log") {
				t.Errorf("checkpoint after the I/O error = %v, want it to copy nothing", err)
			}
		})
	}
}

// The driver's own errors carry their result code where noteIOError looks
// for it: a unique constraint failure is read as such, and not recorded.
func TestDriverErrorsCarryTheirCode(t *testing.T) {
	_, deferred := openDeferred(t, filepath.Join(t.TempDir(), "f.db"))
	writeBlobs(t, deferred, 1)
	_, err := deferred.Exec(`INSERT INTO blobs (id, b) VALUES (1, x'00')`)
	var coded interface{ Code() int }
	if !errors.As(err, &coded) || coded.Code()&0xff != 19 {
		t.Fatalf("duplicate insert: %v, want SQLITE_CONSTRAINT with its code", err)
	}
	if deferred.SyncFailure() != nil {
		t.Error("a constraint failure was recorded as an I/O error")
	}
}

// fakeConn is a driver connection whose statements fail with err, for the
// write paths that a real disk error is hard to reach here.
type fakeConn struct{ err error }

func (c fakeConn) Prepare(string) (driver.Stmt, error) { return fakeStmt(c), nil }
func (c fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return fakeStmt(c), nil
}
func (fakeConn) Close() error              { return nil }
func (fakeConn) Begin() (driver.Tx, error) { return failingTx{}, nil }
func (fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return failingTx{}, nil
}
func (c fakeConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, c.err
}
func (c fakeConn) QueryContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	if isWriteStatement(query) {
		return fakeRows(c), nil // the error comes with the rows, as SQLite commits then
	}
	return nil, c.err
}
func (fakeConn) Ping(context.Context) error         { return nil }
func (fakeConn) ResetSession(context.Context) error { return nil }
func (fakeConn) IsValid() bool                      { return true }

type fakeStmt fakeConn

func (fakeStmt) Close() error                                 { return nil }
func (fakeStmt) NumInput() int                                { return -1 }
func (s fakeStmt) Exec([]driver.Value) (driver.Result, error) { return nil, s.err }
func (s fakeStmt) Query([]driver.Value) (driver.Rows, error)  { return nil, s.err }
func (s fakeStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	return nil, s.err
}
func (s fakeStmt) QueryContext(context.Context, []driver.NamedValue) (driver.Rows, error) {
	return nil, s.err
}

type fakeRows fakeConn

func (fakeRows) Columns() []string           { return []string{"id"} }
func (r fakeRows) Close() error              { return r.err }
func (r fakeRows) Next([]driver.Value) error { return r.err }

// Each write path of a gated connection records a write I/O error of the
// driver, and none records a read or memory error.
func TestGatedWritePathsNoteIOErrors(t *testing.T) {
	ctx := context.Background()
	paths := []struct {
		name string
		run  func(c *gatedConn) error
	}{
		{"statement outside a transaction", func(c *gatedConn) error {
			_, err := c.ExecContext(ctx, "INSERT INTO t VALUES (1)", nil)
			return err
		}},
		{"COMMIT statement", func(c *gatedConn) error {
			_, err := c.ExecContext(ctx, "COMMIT", nil)
			return err
		}},
		{"checkpoint run as a statement", func(c *gatedConn) error {
			_, err := c.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)", nil)
			return err
		}},
		{"checkpoint read as rows", func(c *gatedConn) error {
			_, err := c.QueryContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)", nil)
			return err
		}},
		{"rows of a write", func(c *gatedConn) error {
			rows, err := c.QueryContext(ctx, "INSERT INTO t VALUES (1) RETURNING id", nil)
			if err != nil {
				return err
			}
			return rows.Next(make([]driver.Value, 1))
		}},
		{"closing the rows of a write", func(c *gatedConn) error {
			rows, err := c.QueryContext(ctx, "INSERT INTO t VALUES (1) RETURNING id", nil)
			if err != nil {
				return err
			}
			return rows.Close()
		}},
		{"prepared statement", func(c *gatedConn) error {
			s, err := c.PrepareContext(ctx, "UPDATE t SET a = 1")
			if err != nil {
				return err
			}
			_, err = s.(driver.StmtExecContext).ExecContext(ctx, nil)
			return err
		}},
	}
	codes := []struct {
		name     string
		code     int
		recorded bool
	}{
		{"SQLITE_IOERR_WRITE", 778, true},
		{"SQLITE_IOERR_READ", 266, false},
		{"SQLITE_IOERR_NOMEM", 3082, false},
	}
	for _, p := range paths {
		for _, c := range codes {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				gate := &writeGate{ch: make(chan struct{}, 1)}
				conn := &gatedConn{inner: fakeConn{codedError(c.code)}, gate: gate}
				if err := p.run(conn); !errors.Is(err, codedError(c.code)) {
					t.Fatalf("err = %v, want the driver's error", err)
				}
				if recorded := gate.syncFailed.Load() != nil; recorded != c.recorded {
					t.Errorf("recorded %v, want %v", recorded, c.recorded)
				}
			})
		}
	}
}
