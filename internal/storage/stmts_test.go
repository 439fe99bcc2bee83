package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func openStmtsTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE n (v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestStatementsReusedAcrossTx checks that one query text is
// prepared once and gives correct results in later transactions.
func TestStatementsReusedAcrossTx(t *testing.T) {
	ctx := context.Background()
	db := openStmtsTestDB(t)
	s := NewStatements(db)
	defer s.Close()

	for i := range 3 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := s.In(tx)
		if _, err := p.ExecContext(ctx, `INSERT INTO n (v) VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
		var sum int
		if err := p.QueryRowContext(ctx, `SELECT SUM(v) FROM n`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if want := i * (i + 1) / 2; sum != want {
			t.Errorf("transaction %d: sum = %d, want %d", i, sum, want)
		}
	}
	s.bg.Wait()
	if len(s.m) != 2 {
		t.Errorf("cache holds %d statements, want 2 (one per query text)", len(s.m))
	}
	s.Close()
	if len(s.m) != 0 {
		t.Errorf("cache holds %d statements after Close, want 0", len(s.m))
	}
}

// TestStatementsBounded checks that texts beyond the bound still run but
// are not cached.
func TestStatementsBounded(t *testing.T) {
	ctx := context.Background()
	db := openStmtsTestDB(t)
	s := NewStatements(db)
	defer s.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	p := s.In(tx)
	// A background prepare may fail, and by design its error is dropped
	// and the text runs directly. So a second pass prepares again the
	// texts that the first pass left uncached.
	for range 2 {
		for i := range maxCachedStatements + 3 {
			var got int
			if err := p.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != i {
				t.Errorf("SELECT %d returned %d", i, got)
			}
		}
		s.bg.Wait()
	}
	if len(s.m) != maxCachedStatements {
		t.Errorf("cache holds %d statements, want the bound %d", len(s.m), maxCachedStatements)
	}
}

// TestStatementsPrepareErrors checks that a bad query text fails
// in every method rather than panicking on a nil statement.
func TestStatementsPrepareErrors(t *testing.T) {
	ctx := context.Background()
	db := openStmtsTestDB(t)
	s := NewStatements(db)
	defer s.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	p := s.In(tx)
	const bad = `SELECT FROM WHERE`
	if _, err := p.ExecContext(ctx, bad); err == nil {
		t.Error("ExecContext: no error")
	}
	if _, err := p.QueryContext(ctx, bad); err == nil {
		t.Error("QueryContext: no error")
	}
	var v int
	if err := p.QueryRowContext(ctx, bad).Scan(&v); err == nil {
		t.Error("QueryRowContext: no error")
	}
}

// TestStatementsOutsideTx checks the database-level methods and that they
// share the cache with transactions.
func TestStatementsOutsideTx(t *testing.T) {
	ctx := context.Background()
	db := openStmtsTestDB(t)
	s := NewStatements(db)
	defer s.Close()

	for i := range 3 {
		if _, err := s.ExecContext(ctx, `INSERT INTO n (v) VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	var sum int
	if err := s.QueryRowContext(ctx, `SELECT SUM(v) FROM n`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 3 {
		t.Errorf("sum = %d, want 3", sum)
	}
	rows, err := s.QueryContext(ctx, `SELECT v FROM n ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for rows.Next() {
		count++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if count != 3 {
		t.Errorf("rows = %d, want 3", count)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := s.In(tx).ExecContext(ctx, `INSERT INTO n (v) VALUES (?)`, 9); err != nil {
		t.Fatal(err)
	}
	s.bg.Wait()
	if len(s.m) != 3 {
		t.Errorf("cache holds %d statements, want 3 (one per query text)", len(s.m))
	}
}

// A transaction on the pool's only connection runs a text not yet
// prepared: preparing it on a second connection would wait for the
// transaction to end, so it runs unprepared and is prepared once a
// connection is free.
func TestStatementsInTxOnFullPool(t *testing.T) {
	db := openStmtsTestDB(t)
	db.SetMaxOpenConns(1)
	s := NewStatements(db)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := s.In(tx).ExecContext(ctx, `INSERT INTO n (v) VALUES (?)`, 1); err != nil {
		t.Fatalf("insert in a transaction holding the only connection: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.bg.Wait()
	if st, _ := s.lookup(`INSERT INTO n (v) VALUES (?)`); st == nil {
		t.Error("the text was not prepared once the connection was free")
	}
}
