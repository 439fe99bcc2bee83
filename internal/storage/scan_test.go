package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestPackRowSHA256StorageClasses checks that a masked argument is packed as
// the digest of the bytes a query of the value returns, for every SQLite
// storage class.
func TestPackRowSHA256StorageClasses(t *testing.T) {
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
		var raw, packed []byte
		err := db.QueryRowContext(ctx, `SELECT v, `+storage.SQLitePackRowSHA256+`(1, v) FROM t WHERE id = $1`, i).Scan(&raw, &packed)
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		sum := storage.NewPackedRow(packed).Bytes()
		want := sha256.Sum256(raw)
		if !bytes.Equal(sum, want[:]) {
			t.Errorf("%T %v: digest %x, want the digest of %q, %x", v, v, sum, raw, want)
		}
	}
}

// TestBeginScanAtExportedState checks that a scan begun at an exported
// snapshot reads no row committed after the export on PostgreSQL, and that
// it begins on SQLite, which shares no snapshot.
func TestBeginScanAtExportedState(t *testing.T) {
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
		imported, err := db.BeginScanAt(ctx, snapshot)
		if err != nil {
			t.Fatal(err)
		}
		defer imported.End()
		want := 2
		if b.Dialect == storage.PostgreSQL {
			want = 1
		}
		if n := countRows(t, imported.Tx); n != want {
			t.Errorf("the imported scan reads %d rows, want %d", n, want)
		}
		if b.Dialect != storage.PostgreSQL {
			return
		}
		var binaryRows int
		err = imported.QueryBinary(ctx, `SELECT id FROM t`, nil, func(row *storage.BinaryRow) error {
			binaryRows++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if binaryRows != want {
			t.Errorf("QueryBinary in the imported scan returns %d rows, want %d", binaryRows, want)
		}
	})
}

func TestBeginScanAtRejectsBadSnapshot(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	db := storagetest.Backend{Dialect: storage.PostgreSQL}.New(t)
	if _, err := db.BeginScanAt(context.Background(), "1'; DROP TABLE t; --"); err == nil {
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

// TestSQLitePackRowSHA256 checks that the masked arguments are packed as
// their digests and the others as SQLitePackRow packs them, and that a
// mask naming no argument is rejected.
func TestSQLitePackRowSHA256(t *testing.T) {
	db := storagetest.Open(t, "sqlite://"+t.TempDir()+"/g.db")
	ctx := context.Background()
	var packed []byte
	// Mask 0b1010: the second ('body') and fourth (NULL) arguments.
	err := db.QueryRowContext(ctx, `SELECT `+storage.SQLitePackRowSHA256+`(10, 7, 'body', X'0700', NULL, 12)`).Scan(&packed)
	if err != nil {
		t.Fatal(err)
	}
	p := storage.NewPackedRow(packed)
	if got := p.Int64(); got != 7 {
		t.Errorf("unmasked integer = %d, want 7", got)
	}
	if got, want := p.Bytes(), sha256.Sum256([]byte("body")); !bytes.Equal(got, want[:]) {
		t.Errorf("masked text = %x, want its digest %x", got, want)
	}
	if got := p.Bytes(); !bytes.Equal(got, []byte{7, 0}) {
		t.Errorf("unmasked blob = %x, want 0700", got)
	}
	if got, want := p.Bytes(), sha256.Sum256(nil); !bytes.Equal(got, want[:]) {
		t.Errorf("masked NULL = %x, want the digest of no bytes", got)
	}
	if got := p.Int64(); got != 12 {
		t.Errorf("unmasked integer = %d, want 12", got)
	}
	if err := p.End(); err != nil {
		t.Errorf("End = %v after reading every value", err)
	}

	for _, mask := range []string{"4", "-1", "'1'"} {
		err := db.QueryRowContext(ctx, `SELECT `+storage.SQLitePackRowSHA256+`(`+mask+`, 'a', 'b')`).Scan(&packed)
		if err == nil || !strings.Contains(err.Error(), "mask") {
			t.Errorf("mask %s: err = %v, want an invalid mask", mask, err)
		}
	}
}

// TestSQLitePackRow checks that PackedRow reads back what SQLitePackRow
// packed, converted as database/sql's Scan converts.
func TestSQLitePackRow(t *testing.T) {
	db := storagetest.Open(t, "sqlite://"+t.TempDir()+"/g.db")
	var packed []byte
	err := db.QueryRowContext(context.Background(), `SELECT `+storage.SQLitePackRow+`(7, 'seven', X'0700', NULL, X'', 2.5, '42')`).Scan(&packed)
	if err != nil {
		t.Fatal(err)
	}
	p := storage.NewPackedRow(packed)
	if got := p.Int64(); got != 7 {
		t.Errorf("integer = %d, want 7", got)
	}
	if got := p.String(); got != "seven" {
		t.Errorf("text = %q, want seven", got)
	}
	if got := p.Bytes(); !bytes.Equal(got, []byte{7, 0}) {
		t.Errorf("blob = %x, want 0700", got)
	}
	if _, valid := p.NullInt64(); valid {
		t.Error("NULL read as a valid integer")
	}
	if got := p.Bytes(); got != nil {
		t.Errorf("empty blob = %#v, want nil as the SQLite driver returns", got)
	}
	if got := p.Bytes(); string(got) != "2.5" {
		t.Errorf("float as bytes = %q, want 2.5", got)
	}
	if got := p.Int64(); got != 42 {
		t.Errorf("decimal text as integer = %d, want 42", got)
	}
	if err := p.End(); err != nil {
		t.Errorf("End = %v after reading every value", err)
	}

	tests := []struct {
		name string
		read func(p *storage.PackedRow)
	}{
		{"NULL as integer", func(p *storage.PackedRow) { p.Int64(); p.Int64(); p.Int64(); p.Int64() }},
		{"text as integer", func(p *storage.PackedRow) { p.Int64(); p.Int64() }},
		{"NULL as string", func(p *storage.PackedRow) { p.Bytes(); p.Bytes(); p.Bytes(); _ = p.String() }},
		{"more values than packed", func(p *storage.PackedRow) {
			for range 8 {
				p.Bytes()
			}
		}},
		{"fewer values than packed", func(p *storage.PackedRow) { p.Bytes() }},
		{"truncated", func(p *storage.PackedRow) {
			p.Reset(packed[:len(packed)-1])
			for range 7 {
				p.Bytes()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := storage.NewPackedRow(packed)
			tt.read(p)
			if p.End() == nil {
				t.Error("no error")
			}
		})
	}
}

func TestSQLitePackRows(t *testing.T) {
	db := storagetest.Open(t, "sqlite://"+t.TempDir()+"/g.db")
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, []byte{byte(i), 0xee}); err != nil {
			t.Fatal(err)
		}
	}
	var packed []byte
	query := `SELECT ` + storage.SQLitePackRows + `(id, v) FROM t WHERE id >= $1`
	if err := db.QueryRowContext(ctx, query, 1).Scan(&packed); err != nil {
		t.Fatal(err)
	}
	p := storage.NewPackedRow(packed)
	var ids []int64
	for p.More() {
		id, v := p.Int64(), p.Bytes()
		ids = append(ids, id)
		if !bytes.Equal(v, []byte{byte(id), 0xee}) {
			t.Errorf("row %d: value %x", id, v)
		}
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("ids = %v, want [1 2]", ids)
	}

	if err := db.QueryRowContext(ctx, query, 10).Scan(&packed); err != nil {
		t.Fatal(err)
	}
	if packed != nil {
		t.Errorf("no rows packed into %x, want NULL", packed)
	}
}

// TestQueryBinary checks BinaryRow's conversions of PostgreSQL's binary
// formats, and its errors.
func TestQueryBinary(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	db := storagetest.Backend{Dialect: storage.PostgreSQL}.New(t)
	ctx := context.Background()
	scan, err := db.BeginScanAt(ctx, mustExport(t, db))
	if err != nil {
		t.Fatal(err)
	}
	defer scan.End()

	query := `SELECT $1::int2, $2::int4, $3::int8, 'text'::text, '\x0700'::bytea, NULL::int8, ''::bytea`
	var rows int
	err = scan.QueryBinary(ctx, query, []any{-2, -4, int64(1) << 40}, func(row *storage.BinaryRow) error {
		rows++
		if got := row.Int64(); got != -2 {
			t.Errorf("int2 = %d, want -2", got)
		}
		if got := row.Int64(); got != -4 {
			t.Errorf("int4 = %d, want -4", got)
		}
		if got := row.Int64(); got != 1<<40 {
			t.Errorf("int8 = %d, want 2^40", got)
		}
		if got := row.String(); got != "text" {
			t.Errorf("text = %q, want text", got)
		}
		if got := row.Bytes(); !bytes.Equal(got, []byte{7, 0}) {
			t.Errorf("bytea = %x, want 0700", got)
		}
		if _, valid := row.NullInt64(); valid {
			t.Error("NULL read as a valid integer")
		}
		if got := row.Bytes(); got == nil || len(got) != 0 {
			t.Errorf("empty bytea = %#v, want an empty non-nil slice as database/sql returns", got)
		}
		return row.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d rows, want 1", rows)
	}

	tests := []struct {
		name  string
		query string
		read  func(row *storage.BinaryRow)
	}{
		{"text as integer", `SELECT 'x'::text`, func(row *storage.BinaryRow) { row.Int64() }},
		{"integer as bytes", `SELECT 1::int8`, func(row *storage.BinaryRow) { row.Bytes() }},
		{"NULL as string", `SELECT NULL::text`, func(row *storage.BinaryRow) { _ = row.String() }},
		{"past the last column", `SELECT 1::int8`, func(row *storage.BinaryRow) { row.Int64(); row.Int64() }},
		{"columns left unread", `SELECT 1::int8, 2::int8`, func(row *storage.BinaryRow) { row.Int64() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := scan.QueryBinary(ctx, tt.query, nil, func(row *storage.BinaryRow) error {
				tt.read(row)
				return row.End()
			})
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

func mustExport(t *testing.T, db *storage.DB) storage.Snapshot {
	t.Helper()
	tx, end, err := db.BeginScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(end)
	s, err := db.ExportSnapshot(context.Background(), tx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
