// Package storage opens the database that holds Gatehouse's shared state:
// the audit log, the token replay cache, the kill-switch cuts and the
// built-in payer service's tables. It supports two backends, chosen by the
// database URL:
//
//	sqlite:///var/lib/gatehouse/gatehouse.db   a SQLite file (modernc.org/sqlite, pure Go)
//	/var/lib/gatehouse/gatehouse.db            the same, as a plain path
//	postgres://gatehouse@db.internal/gatehouse?sslmode=verify-full
//	                                           PostgreSQL (github.com/jackc/pgx/v5, stdlib driver)
//
// A SQLite file serves the gateways of one machine. PostgreSQL lets several
// gateway replicas share one audit log, one replay cache and one set of
// cuts. A PostgreSQL URL is a libpq connection URL as pgx parses it. Keep
// the password out of it: pgx reads PGPASSWORD and ~/.pgpass. A
// search_path query parameter selects the schema the tables live in.
//
// # Portable SQL
//
// Each package keeps its SQL in one file and writes it once for both
// backends, under these rules:
//
//   - Placeholders are $1, $2, ... Both drivers bind $n to the nth
//     argument (modernc.org/sqlite matches $NNN by number), so a number
//     may repeat and appear in any order. Placeholders numbers a list of
//     them for queries built at run time. Dialect.Values writes the rows
//     of a multi-row INSERT, with anonymous ? placeholders on SQLite.
//   - Schemas use SQLite's type names. Dialect.Schema rewrites them for
//     PostgreSQL: INTEGER becomes BIGINT, so integers are 64-bit on both,
//     BLOB becomes BYTEA, and "INTEGER PRIMARY KEY AUTOINCREMENT" becomes
//     a BIGINT identity column.
//   - New row ids come from INSERT ... RETURNING, which both accept, because the
//     pgx driver does not implement LastInsertId.
//   - An upsert is INSERT ... ON CONFLICT (columns) DO NOTHING or DO
//     UPDATE, which both accept. IsUniqueViolation recognises an insert
//     that failed on a primary key or unique constraint on either.
//   - A read that must see one consistent state across several queries
//     runs in a transaction begun with SnapshotTx.
//
// Writers differ: a SQLite transaction takes the database's write lock
// when it begins (BEGIN IMMEDIATE), so write transactions run one at a
// time, while PostgreSQL runs them concurrently at READ COMMITTED. On
// SQLite, every write through a DB first takes a Go lock per file (see
// writeGate), so the writers of one process queue there instead of
// polling in SQLite's busy handler. Readers never take it. Code that must
// serialise writes across replicas takes its own lock on PostgreSQL (the
// audit log takes an advisory lock).
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Dialect names a database backend and the SQL differences that matter to
// Gatehouse.
type Dialect string

const (
	// SQLite is the embedded database, one file on local storage.
	SQLite Dialect = "sqlite"
	// PostgreSQL is a PostgreSQL server or a service compatible with it.
	// The SQL needs version 10 or later, for identity columns. The tests
	// have run on version 15, Debian 12's package that .ci/postgres.sh
	// installs.
	PostgreSQL Dialect = "postgres"
)

// DB is an open database. It embeds the database/sql handle, so callers
// run queries on it directly.
type DB struct {
	*sql.DB
	// Dialect is the backend the handle is connected to.
	Dialect Dialect
	// Target names the database for messages: the SQLite file's absolute
	// path, or the PostgreSQL URL with any password replaced by "xxxxx".
	Target string
	// file is the SQLite file with symbolic links resolved, which keys
	// its gate and keeper.
	file string
	// log is the write-ahead log a handle from DeferCommitSync syncs.
	log *walLog
	// released is set by the first Close, so that a second one does not
	// release the file's walKeeper twice.
	released atomic.Bool
}

// connMaxIdleTime closes pooled connections, SQLite's and PostgreSQL's,
// unused this long, so that a quiet gateway gives back what a busy hour
// opened.
const connMaxIdleTime = 5 * time.Minute

// Close closes the handle. The last SQLite handle of this process on a
// file checkpoints the write-ahead log into the database file first.
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.Dialect == SQLite && db.released.CompareAndSwap(false, true) {
		if db.log != nil {
			db.log.close()
		}
		if kerr := releaseWAL(db.file); err == nil {
			err = kerr
		}
	}
	return err
}

// Open opens the database at rawURL (see the package documentation for
// the forms). A SQLite file is created if missing, but its directory must
// exist. Open pings the database before it returns.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	dialect, target, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch dialect {
	case SQLite:
		return openSQLite(ctx, target)
	default:
		return openPostgres(ctx, target)
	}
}

// ParseURL returns the backend rawURL selects and what to open: a file path
// for SQLite (relative paths are kept relative) or the URL for PostgreSQL.
// It checks the form only and connects to nothing.
func ParseURL(rawURL string) (Dialect, string, error) {
	switch {
	case rawURL == "":
		return "", "", errors.New("storage: the database URL is empty: use a file path, sqlite:///path or postgres://host/database")
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return "", "", fmt.Errorf("storage: invalid PostgreSQL URL: %w", redactURLError(err))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return "", "", fmt.Errorf("storage: PostgreSQL URL %s names no host", redactPostgresURL(u))
		}
		if err := checkPgxReading(rawURL); err != nil {
			return "", "", err
		}
		return PostgreSQL, rawURL, nil
	case strings.HasPrefix(rawURL, "sqlite:"):
		// sqlite:///abs/path, sqlite://rel/path and sqlite:rel/path.
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return "", "", fmt.Errorf("storage: invalid SQLite URL %q: use sqlite:///absolute/path or sqlite://relative/path, with no query", rawURL)
		}
		return SQLite, path, nil
	case strings.Contains(rawURL, "://"):
		scheme, _, _ := strings.Cut(rawURL, "://")
		return "", "", fmt.Errorf("storage: unsupported database URL scheme %q: use sqlite or postgres", scheme)
	case isKeywordValue(rawURL):
		// Taken as a file path, it would open a new SQLite file in place
		// of the PostgreSQL database meant. It is not quoted: it may hold
		// a password.
		return "", "", errors.New("storage: the database URL is a PostgreSQL keyword/value string (host=... dbname=...), which is not supported: use postgres://user@host:5432/database?sslmode=verify-full")
	}
	return SQLite, rawURL, nil
}

// checkPgxReading rejects the PostgreSQL URLs that pgx v5.13 reads
// differently from net/url, which Redacted and the posture checks use.
// pgx parses no fragment, so a "#" and what follows stay in the database
// name or a query value, and a later sslmode=disable after the "#" still
// counts. pgx also ends the user information at the first "@" before the
// path, even after a "?", so "postgres://localhost?x@db.example/g"
// connects to db.example. The errors do not quote the URL, which may hold
// a password.
func checkPgxReading(rawURL string) error {
	if strings.Contains(rawURL, "#") {
		return errors.New(`storage: the PostgreSQL URL contains "#", which the driver reads as part of the database name or a query value, not as a fragment: percent-encode it as %23`)
	}
	_, rest, _ := strings.Cut(rawURL, "://")
	beforePath, _, _ := strings.Cut(rest, "/")
	if at := strings.IndexByte(beforePath, '@'); at >= 0 && strings.Contains(beforePath[:at], "?") {
		return errors.New(`storage: the PostgreSQL URL contains "@" in a query before the path, which the driver reads as the end of the user name, so it connects to another host than the URL appears to name: percent-encode the "@" as %40`)
	}
	return nil
}

// isKeywordValue reports whether s is a libpq keyword/value connection
// string, which names a connection keyword followed by "=" at its start or
// after white space. The keyword may come anywhere, because the pairs come
// in any order, and pgx takes run-time parameters such as search_path
// there too.
func isKeywordValue(s string) bool {
	for _, match := range keywordPattern.FindAllStringSubmatch(s, -1) {
		if libpqKeywords[match[1]] {
			return true
		}
	}
	return false
}

// keywordPattern matches "keyword=" at the start of a string or after
// white space, with optional spaces around "=".
var keywordPattern = regexp.MustCompile(`(?:^|\s)([a-z_]+)\s*=`)

// libpqKeywords are the keywords that set up the connection in pgx v5.13
// (pgconn.ParseConfig reads them rather than send them to the server as
// run-time parameters, and takes dbname for database), and the libpq
// keywords hostaddr, options and application_name.
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "database": true, "user": true,
	"password": true, "passfile": true, "connect_timeout": true, "sslmode": true, "sslkey": true,
	"sslcert": true, "sslcertmode": true, "sslrootcert": true, "sslnegotiation": true, "sslpassword": true,
	"sslsni": true, "krbspn": true, "krbsrvname": true, "target_session_attrs": true, "service": true,
	"servicefile": true, "min_protocol_version": true, "max_protocol_version": true,
	"channel_binding": true, "require_auth": true, "options": true, "application_name": true,
}

// redactURLError drops the URL that url.Parse quotes in its errors, since
// it may contain a password.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Redacted returns rawURL in a form safe for logs: a PostgreSQL URL with
// its password, in the user information or the query, replaced by
// "xxxxx", or the SQLite path as given.
func Redacted(rawURL string) string {
	dialect, target, err := ParseURL(rawURL)
	if err != nil {
		return "(invalid database URL)"
	}
	if dialect == SQLite {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "(invalid database URL)"
	}
	return redactPostgresURL(u)
}

// secretURLParameters are the query parameters of a PostgreSQL URL that
// carry a secret: libpq and pgx accept the password, and the passphrase
// of the client key, there as well as in the user information.
var secretURLParameters = []string{"password", "sslpassword"}

// redactPostgresURL returns u with its password replaced by "xxxxx",
// wherever the URL carries it.
func redactPostgresURL(u *url.URL) string {
	q := u.Query()
	masked := false
	for _, name := range secretURLParameters {
		if q.Has(name) {
			q.Set(name, "xxxxx")
			masked = true
		}
	}
	if masked {
		c := *u
		c.RawQuery = q.Encode()
		u = &c
	}
	return u.Redacted()
}

// SnapshotTx is the option set for a read transaction that reads one
// consistent state of the database: READ ONLY and REPEATABLE READ on
// PostgreSQL, which takes its snapshot at the first query. A SQLite read
// transaction in WAL mode is already a snapshot. The SQLite driver ignores
// both options, so there a write in it is not refused.
var SnapshotTx = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}

// scanMmapSize is how much of a SQLite file a scan connection maps.
const scanMmapSize = 1 << 30

// BeginScan begins a SnapshotTx on a connection of its own, for a long
// read of many rows, and returns it with the function that ends the
// transaction and releases the connection. On SQLite the connection maps
// up to 1 GiB of the database file into memory while the scan runs (PRAGMA
// mmap_size), which spares a read system call per page. It was one of the
// changes that raised the audit log's BenchmarkVerify on SQLite from about
// 58,000 to 145,000 entries/s (bench/results/auditlog.txt).
// NOTE: on a mapped file an I/O error raises SIGBUS instead of returning an
// error. Goroutines that read through the transaction should run with
// runtime/debug.SetPanicOnFault, which turns the fault into a panic they
// can recover.
func (db *DB) BeginScan(ctx context.Context) (*sql.Tx, func(), error) {
	s, err := db.beginScan(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.Tx, s.end, nil
}

func (db *DB) beginScan(ctx context.Context) (*Scan, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	mapped := false
	if db.Dialect == SQLite {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", scanMmapSize)); err != nil {
			conn.Close()
			return nil, err
		}
		mapped = true
	}
	tx, err := conn.BeginTx(ctx, SnapshotTx)
	end := func() {
		if tx != nil {
			tx.Rollback()
		}
		if mapped {
			// Pooled connections, which writers use, never map the file.
			conn.ExecContext(context.Background(), "PRAGMA mmap_size = 0")
		}
		conn.Close()
	}
	if err != nil {
		tx = nil
		end()
		return nil, err
	}
	return &Scan{Tx: tx, conn: conn, end: end}, nil
}

// Snapshot names the database state a scan transaction reads, so that
// other scan transactions can read the same state with BeginScanAt. On
// PostgreSQL it is the id pg_export_snapshot returns. SQLite cannot share
// a snapshot between connections, so there it is empty.
type Snapshot string

// ExportSnapshot returns the Snapshot of tx, a transaction from BeginScan.
// On PostgreSQL the snapshot stays importable until tx ends.
func (db *DB) ExportSnapshot(ctx context.Context, tx *sql.Tx) (Snapshot, error) {
	if db.Dialect != PostgreSQL {
		return "", nil
	}
	var id string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		return "", fmt.Errorf("storage: export snapshot: %w", err)
	}
	if !isSnapshotID(id) {
		return "", fmt.Errorf("storage: export snapshot: unexpected id %q", id)
	}
	return Snapshot(id), nil
}

// BeginScanAt begins a scan transaction as BeginScan does, on a connection
// of its own. On PostgreSQL the transaction reads snapshot s (SET
// TRANSACTION SNAPSHOT), so it reads exactly the rows the exporting
// transaction reads. On SQLite it reads the state committed when it first
// reads, which is the exporter's state or a later one. So callers that
// need the exporter's state must read only rows no later commit can change.
func (db *DB) BeginScanAt(ctx context.Context, s Snapshot) (*Scan, error) {
	scan, err := db.beginScan(ctx)
	if err != nil || db.Dialect != PostgreSQL {
		return scan, err
	}
	if !isSnapshotID(string(s)) {
		scan.End()
		return nil, fmt.Errorf("storage: invalid snapshot id %q", s)
	}
	// SET TRANSACTION SNAPSHOT takes no parameters, so the id is checked
	// above to contain only hexadecimal digits and dashes.
	if _, err := scan.Tx.ExecContext(ctx, `SET TRANSACTION SNAPSHOT '`+string(s)+`'`); err != nil {
		scan.End()
		return nil, fmt.Errorf("storage: import snapshot: %w", err)
	}
	return scan, nil
}

// isSnapshotID reports whether id has the form of a PostgreSQL snapshot
// id, such as "00000003-0000001B-1": hexadecimal digits and dashes.
func isSnapshotID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if c != '-' && (c < '0' || c > '9') && (c < 'A' || c > 'F') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Placeholders returns n placeholders numbered from first, separated by
// commas: Placeholders(3, 2) is "$3,$4".
func Placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// Values returns the VALUES list of a multi-row INSERT of rows rows of
// cols columns: "($1,$2),($3,$4)" on PostgreSQL and "(?,?),(?,?)" on
// SQLite. SQLite resolves each $n name by a linear search, so a statement
// with thousands of them parses and binds in quadratic time, while
// anonymous ? placeholders bind by position.
func (d Dialect) Values(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * cols * 6)
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		if d == SQLite {
			b.WriteString(strings.Repeat(",?", cols)[1:])
		} else {
			b.WriteString(Placeholders(r*cols+1, cols))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Schema rewrites a CREATE statement written with SQLite's type names for
// d. For PostgreSQL it replaces, as whole upper-case words,
// "INTEGER PRIMARY KEY AUTOINCREMENT" with a BIGINT identity primary key,
// then INTEGER with BIGINT and BLOB with BYTEA. For SQLite it returns stmt.
func (d Dialect) Schema(stmt string) string {
	if d != PostgreSQL {
		return stmt
	}
	stmt = replaceWord(stmt, "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
	stmt = replaceWord(stmt, "INTEGER", "BIGINT")
	return replaceWord(stmt, "BLOB", "BYTEA")
}

// replaceWord replaces old in s where it is not part of a longer
// identifier.
func replaceWord(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		whole := (i == 0 || !isIdentByte(s[i-1])) && (end == len(s) || !isIdentByte(s[end]))
		b.WriteString(s[:i])
		if whole {
			b.WriteString(repl)
		} else {
			b.WriteString(old)
		}
		s = s[end:]
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// CreateSchema runs the CREATE statements stmts, rewritten by
// Dialect.Schema, in one transaction. On PostgreSQL the transaction first
// takes an advisory lock, because replicas starting together would
// otherwise race in CREATE TABLE IF NOT EXISTS and one would fail on a
// duplicate catalog entry. Index and storage statements whose object is
// already in place are skipped there, so a replica starting beside
// others that are writing takes no table lock.
func (db *DB) CreateSchema(ctx context.Context, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.Dialect == PostgreSQL {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
			return err
		}
	}
	for _, stmt := range stmts {
		if db.Dialect == PostgreSQL {
			done, err := pgSchemaDone(ctx, tx, stmt)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, db.Dialect.Schema(stmt)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// TableExists reports whether the table name exists: in the SQLite file,
// or in the first schema of the PostgreSQL search path.
func (db *DB) TableExists(ctx context.Context, name string) (bool, error) {
	query := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if db.Dialect == PostgreSQL {
		query = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, fmt.Errorf("storage: look up table %s: %w", name, err)
	}
	return n > 0, nil
}
