package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestSQLiteSHA256 checks that the function hashes the bytes a query of
// the value returns, for every SQLite storage class.
func TestSQLiteSHA256(t *testing.T) {
	db := storagetest.Open(t, "sqlite://"+t.TempDir()+"/g.db")
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v)`); err != nil {
		t.Fatal(err)
	}
	values := []any{[]byte{0, 1, 2, 0xff}, []byte{}, "text", nil, int64(-42), 2.5}
	for i, v := range values {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range values {
		var raw, sum []byte
		err := db.QueryRowContext(ctx, `SELECT v, `+storage.SQLiteSHA256+`(v) FROM t WHERE id = $1`, i).Scan(&raw, &sum)
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		want := sha256.Sum256(raw)
		if !bytes.Equal(sum, want[:]) {
			t.Errorf("%T %v: digest %x, want the digest of %q, %x", v, v, sum, raw, want)
		}
	}
}

// TestBeginScanAtSeesExportedState checks that a scan begun at an exported
// snapshot sees no row committed after the export on PostgreSQL, and that
// it begins on SQLite, which shares no snapshot.
func TestBeginScanAtSeesExportedState(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := b.New(t)
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id) VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		tx, end, err := db.BeginScan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer end()
		snapshot, err := db.ExportSnapshot(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id) VALUES (2)`); err != nil {
			t.Fatal(err)
		}
		imported, endImported, err := db.BeginScanAt(ctx, snapshot)
		if err != nil {
			t.Fatal(err)
		}
		defer endImported()
		want := 2
		if b.Dialect == storage.PostgreSQL {
			want = 1
		}
		if n := countRows(t, imported); n != want {
			t.Errorf("the imported scan sees %d rows, want %d", n, want)
		}
	})
}

func TestBeginScanAtRejectsBadSnapshot(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	db := storagetest.Backend{Dialect: storage.PostgreSQL}.New(t)
	if _, _, err := db.BeginScanAt(context.Background(), "1'; DROP TABLE t; --"); err == nil {
		t.Error("BeginScanAt accepted a snapshot id with quotes")
	}
}

func countRows(t *testing.T, tx *sql.Tx) int {
	t.Helper()
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
