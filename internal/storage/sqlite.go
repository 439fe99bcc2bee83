package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openSQLite opens (creating if needed) the SQLite file at path with the
// settings every Gatehouse component relies on. These are write-ahead
// logging, full fsync on commit so a committed exchange record survives a
// power loss, a busy timeout instead of immediate lock errors, and foreign
// keys on. Write transactions take the write lock when they begin, after
// the file's in-process gate (see writeGate).
func openSQLite(ctx context.Context, path string) (*DB, error) {
	return openSQLiteSync(ctx, path, "FULL")
}

// DeferCommitSync returns a second handle on db's SQLite file whose
// commits write the write-ahead log but do not fsync it (synchronous
// NORMAL). A process crash loses none of them. A power loss can undo such
// a commit only until the next full commit or SyncCommits on the file,
// because fsync flushes every page of the log written before it,
// whichever handle wrote it. A component whose writes become visible only
// after a full commit on the same file keeps its guarantees and saves an
// fsync per write. The
// built-in payer service is one: its responses reach a partner only after
// the exchange record's response entry commits. Writers of both handles
// queue on the file's one gate. On PostgreSQL DeferCommitSync returns db
// itself, and the caller must not close it twice.
func (db *DB) DeferCommitSync(ctx context.Context) (*DB, error) {
	if db.Dialect != SQLite {
		return db, nil
	}
	return openSQLiteSync(ctx, db.Target, "NORMAL")
}

// MissingDirError reports that the directory a file must be created in
// does not exist, such as the directory of a SQLite database. It matches
// fs.ErrNotExist, so callers that only check for a missing file still do.
type MissingDirError struct {
	Dir string
}

func (e *MissingDirError) Error() string { return "directory " + e.Dir + " does not exist" }

func (e *MissingDirError) Unwrap() error { return fs.ErrNotExist }

// openSQLiteSync opens path with the given synchronous setting.
func openSQLiteSync(ctx context.Context, path, synchronous string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("storage: %s: %w", abs, &MissingDirError{Dir: filepath.Dir(abs)})
	}
	if err := initSQLite(ctx, abs); err != nil {
		return nil, err
	}
	q := url.Values{}
	busy := fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS)
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + synchronous + ")", busy, "foreign_keys(ON)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	connector, err := sqlite.NewConnector("file:" + abs + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", abs, err)
	}
	// Handles on one file share its gate and keeper, and SQLite keeps the
	// log beside the file a symbolic link points to.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	// Writers of this process queue on the file's gate (sqlite_gate.go).
	gate := gateFor(real)
	db := sql.OpenDB(gatedConnector{Connector: connector, gate: gate})
	db.SetMaxIdleConns(maxIdleSQLiteConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", abs, err)
	}
	// Owner-only: the file holds request and response bodies.
	if err := os.Chmod(abs, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	// The keeper's connection checkpoints only, and takes the gate itself.
	if _, err := keepWAL(real, gate, func() (*sql.DB, error) {
		c, err := sqlite.NewConnector("file:" + abs + "?_pragma=" + url.QueryEscape("synchronous(FULL)"))
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(c), nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", abs, err)
	}
	h := &DB{DB: db, Dialect: SQLite, Target: abs, file: real}
	if synchronous != "FULL" {
		h.log = &walLog{path: real + "-wal", gate: gate}
	}
	return h, nil
}

// maxIdleSQLiteConns is how many unused connections a SQLite handle keeps
// open. With database/sql's default of 2, each burst of exchanges closed
// the connections above 2, and the next burst opened them again, with
// files to open, the schema to read and every statement to prepare. Under
// strace the gateway opened about 12 connections a second at 370
// exchanges/s. Each open connection holds two
// file descriptors and a page cache of up to 2 MiB (SQLite's default
// cache_size). A file opened with DeferCommitSync has two handles, so up
// to 32 idle connections and 64 MiB of cache, until connMaxIdleTime
// closes them.
const maxIdleSQLiteConns = 16

// sqliteBusyTimeoutMS is the maximum wait, in milliseconds, of a
// connection in SQLite's busy handler for a write lock that another
// process holds. It matches writeGateTimeout, the maximum wait for the
// in-process gate. Tests set it to 0 to make any wait there fail at once.
var sqliteBusyTimeoutMS = int(writeGateTimeout / time.Millisecond)

// sqlitePageSize is the page size of new SQLite files: SQLite's default.
// A commit writes every page it changed to the write-ahead log, and an
// exchange's commits change a page in each of about a dozen b-trees (the
// record's indexes, the payer service's keys). With 16 KiB pages the log
// grew by about 220 KiB per commit, and writing, checksumming, syncing
// and checkpointing those bytes took about a fifth of the gateway's CPU. A
// body larger than a page goes to overflow pages, which costs a scan a
// little; BenchmarkVerify runs as fast on 4 KiB pages as it did on 16.
const sqlitePageSize = 4096

// initSQLite gives a new (missing or empty) SQLite file at abs its page
// size and write-ahead logging. SQLite fixes the page size when it writes
// the first page, which setting WAL mode does. The driver applies DSN
// pragmas in alphabetical order (journal_mode before page_size), so the
// new file is set up on a connection of its own first. An existing file
// keeps the page size it was created with.
func initSQLite(ctx context.Context, abs string) error {
	if st, err := os.Stat(abs); err == nil && st.Size() > 0 {
		return nil
	}
	// Owner-only from the start: the file will hold bodies.
	f, err := os.OpenFile(abs, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", abs, err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+abs)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", abs, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", abs, err)
	}
	defer conn.Close()
	for _, stmt := range []string{fmt.Sprintf("PRAGMA page_size = %d", sqlitePageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("storage: create %s: %w", abs, err)
		}
	}
	return nil
}

// isSQLiteUniqueViolation reports a failed PRIMARY KEY or UNIQUE
// constraint.
func isSQLiteUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
