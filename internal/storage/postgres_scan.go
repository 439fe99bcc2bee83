package storage

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// QueryBinary runs query on s's connection, inside its transaction, with
// every result column in PostgreSQL's binary format, and calls fn with
// each row. It reads through pgx directly, so values are not copied out of
// pgx's read buffer: they are valid only until fn returns. It spares the
// copy database/sql makes of every bytea value, which is most of the cost
// of reading large blobs. It works on PostgreSQL only.
func (s *Scan) QueryBinary(ctx context.Context, query string, args []any, fn func(*BinaryRow) error) error {
	return s.conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errors.New("storage: QueryBinary needs a PostgreSQL connection")
		}
		binaryArgs := append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)
		rows, err := c.Conn().Query(ctx, query, binaryArgs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		row := &BinaryRow{fields: rows.FieldDescriptions()}
		for rows.Next() {
			row.values, row.next, row.err = rows.RawValues(), 0, nil
			if err := fn(row); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// errBinaryRow is wrapped by the errors of BinaryRow.
var errBinaryRow = errors.New("storage: binary row")

// IsRowFormat reports whether err is a PackedRow's or BinaryRow's failure
// to read a column as the type the caller asked for: a NULL, a text or a
// number where the schema's type was expected. SQLite stores any value in
// any column, so on a table only the gateway writes it means the row was
// changed outside the gateway.
func IsRowFormat(err error) bool {
	return errors.Is(err, errPackedRow) || errors.Is(err, errBinaryRow)
}

// BinaryRow reads the columns of one row from QueryBinary in order. Its
// methods convert values as database/sql's Scan does with the pgx driver,
// for the column types Gatehouse's schemas use: integers, text and bytea.
// The first failure sticks: later calls return zero values, and End
// returns it.
type BinaryRow struct {
	fields []pgconn.FieldDescription
	values [][]byte
	next   int
	err    error
}

// value returns the type and bytes of the next column, nil for NULL.
func (r *BinaryRow) value() (uint32, []byte, bool) {
	if r.err != nil {
		return 0, nil, false
	}
	if r.next >= len(r.values) || r.next >= len(r.fields) {
		r.err = fmt.Errorf("%w: read past the last column", errBinaryRow)
		return 0, nil, false
	}
	i := r.next
	r.next++
	if r.fields[i].Format != pgx.BinaryFormatCode {
		r.err = fmt.Errorf("%w: column %d is not in binary format", errBinaryRow, i)
		return 0, nil, false
	}
	return r.fields[i].DataTypeOID, r.values[i], true
}

// Bytes returns the next column as Scan into sql.RawBytes would: text or
// bytea as stored, nil for NULL. Other types are an error. The slice
// aliases pgx's buffer.
func (r *BinaryRow) Bytes() []byte {
	oid, v, ok := r.value()
	if !ok || v == nil {
		return nil
	}
	if !isTextOrBytes(oid) {
		r.err = fmt.Errorf("%w: column %d has type OID %d where text or bytea was expected", errBinaryRow, r.next-1, oid)
		return nil
	}
	return v
}

// String returns the next column as Scan into a string would. NULL is an
// error.
func (r *BinaryRow) String() string {
	oid, v, ok := r.value()
	switch {
	case !ok:
		return ""
	case v == nil:
		r.err = fmt.Errorf("%w: column %d is NULL where a string was expected", errBinaryRow, r.next-1)
		return ""
	case !isTextOrBytes(oid):
		r.err = fmt.Errorf("%w: column %d has type OID %d where text was expected", errBinaryRow, r.next-1, oid)
		return ""
	}
	return string(v)
}

// Int64 returns the next column, a smallint, integer or bigint, as an
// int64. NULL is an error.
func (r *BinaryRow) Int64() int64 {
	n, valid := r.NullInt64()
	if !valid && r.err == nil {
		r.err = fmt.Errorf("%w: column %d is NULL where an integer was expected", errBinaryRow, r.next-1)
	}
	return n
}

// NullInt64 returns the next column as Int64 does, with valid false for
// NULL.
func (r *BinaryRow) NullInt64() (n int64, valid bool) {
	oid, v, ok := r.value()
	if !ok {
		return 0, true
	}
	if v == nil {
		return 0, false
	}
	switch {
	case oid == pgtype.Int8OID && len(v) == 8:
		return int64(binary.BigEndian.Uint64(v)), true
	case oid == pgtype.Int4OID && len(v) == 4:
		return int64(int32(binary.BigEndian.Uint32(v))), true
	case oid == pgtype.Int2OID && len(v) == 2:
		return int64(int16(binary.BigEndian.Uint16(v))), true
	}
	r.err = fmt.Errorf("%w: column %d has type OID %d and %d bytes where an integer was expected", errBinaryRow, r.next-1, oid, len(v))
	return 0, true
}

// End returns the first failure, or an error if columns are left unread.
func (r *BinaryRow) End() error {
	if r.err == nil && r.next != len(r.values) {
		r.err = fmt.Errorf("%w: %d of %d columns read", errBinaryRow, r.next, len(r.values))
	}
	return r.err
}

func isTextOrBytes(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.ByteaOID:
		return true
	}
	return false
}

// Scan is a scan transaction from BeginScanAt, on a connection of its own.
type Scan struct {
	// Tx is the scan transaction. Run queries through it.
	Tx   *sql.Tx
	conn *sql.Conn
	end  func()
}

// End ends the transaction and releases the connection.
func (s *Scan) End() { s.end() }
