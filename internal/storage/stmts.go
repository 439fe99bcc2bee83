package storage

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds a Statements cache. Callers pass a fixed set
// of query texts, so a text beyond the bound runs unprepared instead of
// growing the cache without limit.
const maxCachedStatements = 64

// Statements is a cache that prepares each query text once on a database
// and reuses it in later transactions. On SQLite, preparing parses and
// plans the SQL, which a request path should not pay for on every call.
// database/sql keeps one prepared copy per pooled connection.
//
// A Statements is safe for concurrent use. Close releases the statements,
// and so does closing the database.
//
// Preparing takes a pooled connection. A transaction already holds one,
// and when every pooled connection is held by a transaction (PostgreSQL
// caps the pool), a transaction that waited for another to prepare would
// wait forever. So no lock is held while preparing, and a text first met
// inside a transaction runs unprepared there while it is prepared in the
// background.
type Statements struct {
	db *DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
	// pending is the set of texts being prepared in the background.
	pending map[string]bool
	closed  bool
	bg      sync.WaitGroup
}

// NewStatements returns an empty cache for db.
func NewStatements(db *DB) *Statements {
	return &Statements{db: db, m: make(map[string]*sql.Stmt), pending: make(map[string]bool)}
}

// lookup returns the statement prepared for query, or nil, and whether
// the cache has room for another.
func (s *Statements) lookup(query string) (*sql.Stmt, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[query]
	return st, st == nil && !s.closed && len(s.m)+len(s.pending) < maxCachedStatements
}

// get returns the statement prepared for query, preparing it on first
// use, or nil when the cache is full or closed. The caller must hold no
// connection of the database, since preparing may wait for one.
func (s *Statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	st, room := s.lookup(query)
	if st != nil || !room {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.store(query, st), nil
}

// store caches st for query and returns the statement to use: st, or the
// one another caller cached first, or nil once the cache is closed.
func (s *Statements) store(query string, st *sql.Stmt) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prior := s.m[query]; prior != nil || s.closed || len(s.m) >= maxCachedStatements {
		st.Close()
		return prior
	}
	s.m[query] = st
	return st
}

// prepareLater prepares query in the background, for a transaction that
// cannot wait for a second connection.
func (s *Statements) prepareLater(query string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pending[query] || s.m[query] != nil || len(s.m)+len(s.pending) >= maxCachedStatements {
		return
	}
	s.pending[query] = true
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		st, err := s.db.PrepareContext(context.Background(), query)
		if err == nil {
			s.store(query, st)
		}
		s.mu.Lock()
		delete(s.pending, query)
		s.mu.Unlock()
	}()
}

// Close releases every prepared statement, after waiting for those being
// prepared in the background.
func (s *Statements) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for q, st := range s.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.m, q)
	}
	return first
}

// ExecContext is (*sql.DB).ExecContext with a cached statement.
func (s *Statements) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is (*sql.DB).QueryContext with a cached statement.
func (s *Statements) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is (*sql.DB).QueryRowContext with a cached statement.
func (s *Statements) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.get(ctx, query)
	if err != nil || st == nil {
		// The database reports the same failure, or runs the text
		// unprepared when the cache is full.
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// In returns tx's query methods backed by the cache.
func (s *Statements) In(tx *sql.Tx) PreparedTx {
	return PreparedTx{s: s, tx: tx}
}

// PreparedTx runs queries in one transaction with cached statements. It
// has the query methods of *sql.Tx, so code written for a transaction
// takes either.
type PreparedTx struct {
	s  *Statements
	tx *sql.Tx
}

// stmt returns query's statement bound to the transaction, or nil to run
// the text directly while it is prepared in the background.
func (p PreparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	st, room := p.s.lookup(query)
	if st == nil {
		if room {
			p.s.prepareLater(query)
		}
		return nil
	}
	return p.tx.StmtContext(ctx, st)
}

// ExecContext is (*sql.Tx).ExecContext with a cached statement.
func (p PreparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := p.stmt(ctx, query)
	if st == nil {
		return p.tx.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is (*sql.Tx).QueryContext with a cached statement.
func (p PreparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := p.stmt(ctx, query)
	if st == nil {
		return p.tx.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is (*sql.Tx).QueryRowContext with a cached statement.
func (p PreparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st := p.stmt(ctx, query)
	if st == nil {
		// The text runs unprepared while it is prepared or when the cache
		// is full.
		return p.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
