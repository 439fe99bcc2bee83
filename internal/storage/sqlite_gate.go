package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite lets one connection at a time hold a file's write lock. A
// connection that requests it while another holds it sleeps in SQLite's
// busy handler, which retries after 1, 2, 5, 10, ... up to 100 ms. So a
// waiter wakes late, and under load the waits add tens to hundreds of
// milliseconds to a request (an estimate from the retry schedule). So
// every connection of this process to one file first takes that file's
// writeGate, a Go lock that hands over as soon as the holder commits, and
// only then requests the lock from SQLite. Another process on the same
// file still waits in the busy handler (busy_timeout).
//
// The gate sits in the driver connection, so it covers every way a write
// reaches the file. A transaction that is not read-only holds the gate
// from BEGIN IMMEDIATE to COMMIT or ROLLBACK. A statement run outside a
// transaction holds it while it runs. An INSERT, UPDATE or DELETE read as
// rows (RETURNING) holds it until its rows are closed. Read-only
// transactions and plain queries never take it, because in WAL mode
// readers do not wait for the writer.

// writeGate is the in-process write lock of one SQLite file.
type writeGate struct {
	ch chan struct{}
	// keeper checkpoints the file in the background; nil while no handle
	// of this process has the file open.
	keeper atomic.Pointer[walKeeper]
	// syncFailed holds the error of the first failed SyncCommits on the
	// file, or of the first SQLite I/O error of a write or checkpoint on it
	// (noteIOError). From then on the keeper copies nothing (see
	// walKeeper.checkpoint), and SyncCommits fails.
	syncFailed atomic.Pointer[error]
	// syncs runs the fsyncs of SyncCommits on the file, one for every
	// caller waiting when it starts.
	syncs *syncGroup
}

// writeIOErrors are the SQLite result codes of a failed write, sync,
// truncation or close of a file: SQLITE_IOERR and its extended codes
// WRITE, FSYNC, DIR_FSYNC, TRUNCATE and CLOSE. Read, lock and memory
// failures (IOERR_READ, IOERR_LOCK, IOERR_NOMEM, ...) leave the disk as it
// was and are left out.
var writeIOErrors = map[int]bool{10: true, 778: true, 1034: true, 1290: true, 1546: true, 4106: true}

// failure returns the first failure recorded in syncFailed, or nil.
func (g *writeGate) failure() error {
	if failed := g.syncFailed.Load(); failed != nil {
		return *failed
	}
	return nil
}

// noteIOError records err on the gate when it is an SQLite write I/O
// error, and returns it. SQLite may meet a failed write-back of the file
// before SyncCommits does, and Linux reports one to a file description
// once, so it counts as a failed sync: the disk may not hold what was
// written. A full disk (SQLITE_FULL) or a busy lock is not such an error.
// NOTE: a PRAGMA statement keeps its context (see statementContext). Once
// that context has ended, the driver returns the context's error in place
// of SQLite's, so an I/O error of a checkpoint that comes after a deadline
// is not recorded here, and the next SyncCommits meets it.
func (g *writeGate) noteIOError(err error) error {
	var coded interface{ Code() int }
	if err != nil && errors.As(err, &coded) && writeIOErrors[coded.Code()] {
		g.syncFailed.CompareAndSwap(nil, &err)
	}
	return err
}

// gates maps the path of each SQLite file this process opened, symbolic
// links resolved, to its writeGate, so that two Opens of one file share one
// gate. Entries are never removed, because a process opens few files.
var gates = struct {
	sync.Mutex
	m map[string]*writeGate
}{m: make(map[string]*writeGate)}

// gateFor returns the writeGate of the file at abs.
func gateFor(abs string) *writeGate {
	gates.Lock()
	defer gates.Unlock()
	g := gates.m[abs]
	if g == nil {
		g = &writeGate{ch: make(chan struct{}, 1), syncs: newSyncGroup()}
		gates.m[abs] = g
	}
	return g
}

// writeGateTimeout is the maximum wait of a writer for the gate. It is
// also the default busy_timeout (sqliteBusyTimeoutMS) that SQLite waits for
// another process's lock.
const writeGateTimeout = 10 * time.Second

// errGateTimeout is the error of a writer that waited writeGateTimeout for
// the gate.
var errGateTimeout = errors.New("storage: timed out waiting for the SQLite write lock")

// acquire takes the gate. It returns ctx's error when ctx is done, or
// errGateTimeout after writeGateTimeout, so a writer waits for a holder
// that never commits no longer than SQLite's busy handler would wait.
func (g *writeGate) acquire(ctx context.Context) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(writeGateTimeout)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errGateTimeout
	}
}

// release frees the gate after a write and notifies the file's walKeeper.
func (g *writeGate) release() {
	g.unlock()
	if k := g.keeper.Load(); k != nil {
		k.notify()
	}
}

// unlock frees the gate without telling the keeper, for the keeper itself.
func (g *writeGate) unlock() { <-g.ch }

// gatedConnector opens driver connections that take gate before writing.
type gatedConnector struct {
	driver.Connector
	gate *writeGate
}

// sqliteConn is the set of modernc.org/sqlite connection methods that
// database/sql calls.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

func (c gatedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("storage: the SQLite driver's connection type %T lacks a method Gatehouse needs", conn)
	}
	return &gatedConn{inner: inner, gate: c.gate}, nil
}

// gatedConn is a driver connection that takes its file's gate before a
// write. database/sql never uses one connection from two goroutines at
// once, so holding needs no lock.
type gatedConn struct {
	inner sqliteConn
	gate  *writeGate
	// holding is set while the connection holds the gate for a write
	// transaction or for the rows of a write statement.
	holding bool
	// hold is the observed start of the current hold, or nil
	// (ObserveWriteGates).
	hold *gateHoldStart
}

// beginWrite takes the gate unless this connection already holds it. It
// reports whether it took it, in which case the caller must call
// endWrite.
func (c *gatedConn) beginWrite(ctx context.Context) (bool, error) {
	if c.holding {
		return false, nil
	}
	if err := c.gate.acquire(ctx); err != nil {
		return false, err
	}
	c.holding = true
	c.hold = startHold()
	return true, nil
}

func (c *gatedConn) endWrite() {
	if c.holding {
		c.holding = false
		c.gate.release()
		endHold(c.hold)
		c.hold = nil
	}
}

func (c *gatedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := s.(sqliteStmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("storage: the SQLite driver's statement type %T lacks a method Gatehouse needs", s)
	}
	return &gatedStmt{inner: inner, conn: c, query: query}, nil
}

func (c *gatedConn) Close() error {
	c.endWrite()
	return c.inner.Close()
}

// statementContext returns ctx without its cancellation, or ctx's error
// when it has already ended. The driver starts a goroutine to interrupt
// SQLite for each call whose context can end, and at about 15 calls per
// exchange (an estimate) those goroutines queued behind requests under load.
// The statements are short, so each checks ctx once and then runs to its
// end. Waiting for the write gate still ends with ctx, and database/sql
// still closes rows when ctx ends. PRAGMA statements keep ctx, because a
// checkpoint may copy a large WAL.
func statementContext(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx begins a transaction. One that is not read-only begins with
// BEGIN IMMEDIATE (the DSN's _txlock), so it takes the gate first and
// keeps it until it ends.
func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	sctx, err := statementContext(ctx)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		return c.inner.BeginTx(sctx, opts)
	}
	took, err := c.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.inner.BeginTx(sctx, opts)
	if err != nil {
		if took {
			c.endWrite()
		}
		return nil, err
	}
	return &gatedTx{inner: tx, conn: c}, nil
}

// ExecContext runs a statement outside a transaction under the gate, since
// it may write. PRAGMA statements, which set connection state or
// checkpoint, run without it. A transaction begun and ended with BEGIN,
// COMMIT and ROLLBACK statements holds the gate as one begun by BeginTx.
func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	word := firstWord(query)
	if word == "PRAGMA" {
		// wal_checkpoint writes the database file.
		res, err := c.inner.ExecContext(ctx, query, args)
		return res, c.gate.noteIOError(err)
	}
	sctx, err := statementContext(ctx)
	if err != nil {
		return nil, err
	}
	switch word {
	case "BEGIN":
		if _, err := c.beginWrite(ctx); err != nil {
			return nil, err
		}
		res, err := c.inner.ExecContext(sctx, query, args)
		if err != nil {
			c.endWrite()
		}
		return res, err
	case "COMMIT", "END", "ROLLBACK":
		res, err := c.inner.ExecContext(sctx, query, args)
		c.gate.noteIOError(err)
		if !isRollbackTo(query) && (err == nil || word == "ROLLBACK") {
			c.endWrite()
		}
		return res, err
	}
	took, err := c.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	if took {
		defer c.endWrite()
	}
	res, err := c.inner.ExecContext(sctx, query, args)
	return res, c.gate.noteIOError(err)
}

// QueryContext runs a query. A write read as rows holds the gate until the
// rows close, because SQLite commits it then.
func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if isPragma(query) {
		// wal_checkpoint read as rows writes the database file too.
		rows, err := c.inner.QueryContext(ctx, query, args)
		return rows, c.gate.noteIOError(err)
	}
	sctx, err := statementContext(ctx)
	if err != nil {
		return nil, err
	}
	if !isWriteStatement(query) {
		return c.inner.QueryContext(sctx, query, args)
	}
	took, err := c.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.inner.QueryContext(sctx, query, args)
	return c.gatedRows(rows, err, took)
}

// gatedRows returns rows that release the gate on Close when took is set.
func (c *gatedConn) gatedRows(rows driver.Rows, err error, took bool) (driver.Rows, error) {
	if !took {
		return rows, err
	}
	if err != nil {
		c.endWrite()
		return nil, err
	}
	return &writeRows{Rows: rows, conn: c}, nil
}

func (c *gatedConn) Ping(ctx context.Context) error { return c.inner.Ping(ctx) }

func (c *gatedConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }

func (c *gatedConn) IsValid() bool { return c.inner.IsValid() }

// gatedTx releases the gate once its transaction ends. The driver leaves
// the connection outside any transaction even when COMMIT fails.
type gatedTx struct {
	inner driver.Tx
	conn  *gatedConn
}

func (t *gatedTx) Commit() error {
	defer t.conn.endWrite()
	return t.conn.gate.noteIOError(t.inner.Commit())
}

func (t *gatedTx) Rollback() error {
	defer t.conn.endWrite()
	return t.inner.Rollback()
}

// writeRows releases the gate when the rows of a write statement close.
type writeRows struct {
	driver.Rows
	conn *gatedConn
}

// Next reads a row. SQLite commits a write outside a transaction when its
// rows end, so an I/O error of the commit comes here or from Close.
func (r *writeRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == io.EOF {
		return err
	}
	return r.conn.gate.noteIOError(err)
}

func (r *writeRows) Close() error {
	defer r.conn.endWrite()
	return r.conn.gate.noteIOError(r.Rows.Close())
}

// sqliteStmt is the set of modernc.org/sqlite statement methods that
// database/sql calls.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// gatedStmt is a prepared statement of a gatedConn. Run inside the
// connection's write transaction it needs nothing more. Run outside one,
// it takes the gate as the connection's own ExecContext and QueryContext
// do.
type gatedStmt struct {
	inner sqliteStmt
	conn  *gatedConn
	query string
}

func (s *gatedStmt) Close() error  { return s.inner.Close() }
func (s *gatedStmt) NumInput() int { return s.inner.NumInput() }

func (s *gatedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("storage: Stmt.Exec without a context is not supported")
}

func (s *gatedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("storage: Stmt.Query without a context is not supported")
}

func (s *gatedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if isPragma(s.query) {
		return s.inner.ExecContext(ctx, args)
	}
	sctx, err := statementContext(ctx)
	if err != nil {
		return nil, err
	}
	took, err := s.conn.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	if took {
		defer s.conn.endWrite()
	}
	res, err := s.inner.ExecContext(sctx, args)
	return res, s.conn.gate.noteIOError(err)
}

func (s *gatedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	sctx, err := statementContext(ctx)
	if err != nil {
		return nil, err
	}
	if !isWriteStatement(s.query) {
		return s.inner.QueryContext(sctx, args)
	}
	took, err := s.conn.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.inner.QueryContext(sctx, args)
	return s.conn.gatedRows(rows, err, took)
}

// firstWord returns the first keyword of query in upper case.
func firstWord(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	end := strings.IndexFunc(q, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if end >= 0 {
		q = q[:end]
	}
	return strings.ToUpper(q)
}

func isPragma(query string) bool { return firstWord(query) == "PRAGMA" }

// isRollbackTo reports a ROLLBACK TO a savepoint, which leaves the
// transaction open.
func isRollbackTo(query string) bool {
	f := strings.Fields(strings.ToUpper(query))
	return len(f) >= 2 && f[0] == "ROLLBACK" && (f[1] == "TO" || len(f) >= 3 && f[1] == "TRANSACTION" && f[2] == "TO")
}

// isWriteStatement reports whether query, read as rows, changes the file:
// an INSERT, UPDATE, DELETE or REPLACE with RETURNING. A write behind a
// WITH clause is not recognised and waits in the busy handler instead.
func isWriteStatement(query string) bool {
	switch firstWord(query) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	}
	return false
}
