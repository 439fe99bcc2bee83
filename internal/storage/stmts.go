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
type Statements struct {
	db *DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// NewStatements returns an empty cache for db.
func NewStatements(db *DB) *Statements {
	return &Statements{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the statement prepared for query, preparing it on first
// use, or nil when the cache is full.
func (s *Statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[query]; ok {
		return st, nil
	}
	if len(s.m) >= maxCachedStatements {
		return nil, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.m[query] = st
	return st, nil
}

// Close releases every prepared statement.
func (s *Statements) Close() error {
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
// the text directly.
func (p PreparedTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := p.s.get(ctx, query)
	if err != nil || st == nil {
		return nil, err
	}
	return p.tx.StmtContext(ctx, st), nil
}

// ExecContext is (*sql.Tx).ExecContext with a cached statement.
func (p PreparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.tx.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is (*sql.Tx).QueryContext with a cached statement.
func (p PreparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.tx.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is (*sql.Tx).QueryRowContext with a cached statement. A
// failure to prepare surfaces as the row's error, as with *sql.Tx.
func (p PreparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil || st == nil {
		// The transaction reports the same failure, or runs the text
		// unprepared when the cache is full.
		return p.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
