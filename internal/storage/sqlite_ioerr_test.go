package storage

import (
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
			cycles := make(chan error, 64)
			testHookCheckpointed = func(err error) {
				select {
				case cycles <- err:
				default:
				}
			}
			t.Cleanup(func() { testHookCheckpointed = nil })
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
