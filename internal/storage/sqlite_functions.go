package storage

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"modernc.org/sqlite"
)

// SQL functions registered on every SQLite connection. They let a long
// scan do per-row work inside SQLite's step, which already holds the
// connection mutex, on values that are not copied into Go.
const (
	// SQLitePackRow returns its arguments packed into one blob, which
	// PackedRow reads back. Selecting one packed column instead of a dozen
	// columns spares the driver a mutex-guarded call per column. Each value
	// is a kind byte (packedNull, packedInteger, packedFloat, packedText or
	// packedBlob) and a payload. A number is 8 bytes big-endian, a float
	// as its IEEE 754 bits. Text or a blob is its length as 4 bytes
	// big-endian, then its bytes.
	SQLitePackRow = "gatehouse_pack_row"

	// SQLitePackRowSHA256 packs its arguments after the first as
	// SQLitePackRow does, with some of them replaced by their SHA-256
	// digest, packed as a 32-byte blob. The first argument is a bit mask:
	// bit i (1<<i) set replaces the argument i places after the mask.
	// The digest is computed in this process, by crypto/sha256, on the
	// bytes a query of the value would return: a blob or text as stored,
	// NULL as no bytes, and a number in the decimal form database/sql
	// gives it. One call per row then hashes a row's large values and
	// packs it without the driver copying them into Go slices.
	SQLitePackRowSHA256 = "gatehouse_pack_row_sha256"

	// SQLitePackRows is the aggregate form of SQLitePackRow: it returns
	// the arguments of every row it aggregates packed one after another,
	// in the order SQLite steps through the rows, or NULL for no rows.
	// One query result then carries many small rows, which spares the
	// driver and database/sql their work per row.
	SQLitePackRows = "gatehouse_pack_rows"
)

const (
	packedNull byte = iota
	packedInteger
	packedFloat
	packedText
	packedBlob
)

func init() {
	// The arguments are hashed or copied before each function returns,
	// never kept, as VolatileArgs requires.
	sqlite.MustRegisterFunction(SQLitePackRow, &sqlite.FunctionImpl{
		NArgs: -1, Deterministic: true, Scalar: sqlitePackRow, VolatileArgs: true,
	})
	sqlite.MustRegisterFunction(SQLitePackRowSHA256, &sqlite.FunctionImpl{
		NArgs: -1, Deterministic: true, Scalar: sqlitePackRowSHA256, VolatileArgs: true,
	})
	sqlite.MustRegisterFunction(SQLitePackRows, &sqlite.FunctionImpl{
		NArgs: -1, Deterministic: true, VolatileArgs: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) { return new(packRows), nil },
	})
}

// valueSHA256 returns the digest of the bytes a query of v would return.
func valueSHA256(function string, v driver.Value) ([sha256.Size]byte, error) {
	switch v := v.(type) {
	case nil:
		return sha256.Sum256(nil), nil
	case []byte:
		return sha256.Sum256(v), nil
	case string:
		return sha256.Sum256([]byte(v)), nil
	case int64:
		return sha256.Sum256(strconv.AppendInt(nil, v, 10)), nil
	case float64:
		return sha256.Sum256(strconv.AppendFloat(nil, v, 'g', -1, 64)), nil
	}
	return [sha256.Size]byte{}, fmt.Errorf("%s: unsupported argument type %T", function, v)
}

func sqlitePackRowSHA256(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	mask, ok := args[0].(int64)
	if !ok || mask < 0 || mask >= 1<<(len(args)-1) {
		return nil, fmt.Errorf("%s: invalid mask: the first argument must be an integer with a bit for each other argument", SQLitePackRowSHA256)
	}
	return appendPackedDigests(nil, args[1:], uint64(mask))
}

func sqlitePackRow(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	return appendPacked(nil, args)
}

// appendPacked appends args to b in the format of SQLitePackRow.
func appendPacked(b []byte, args []driver.Value) ([]byte, error) {
	return appendPackedDigests(b, args, 0)
}

// appendPackedDigests appends args to b in the format of SQLitePackRow,
// with each argument i whose bit 1<<i is set in digests replaced by its
// SHA-256 digest. The blob grows once, by the packed size.
func appendPackedDigests(b []byte, args []driver.Value, digests uint64) ([]byte, error) {
	size := 0
	for i, a := range args {
		if digests&(1<<i) != 0 {
			size += 5 + sha256.Size
			continue
		}
		switch v := a.(type) {
		case []byte:
			size += 5 + len(v)
		case string:
			size += 5 + len(v)
		default:
			size += 9
		}
	}
	b = slices.Grow(b, size)
	for i, a := range args {
		if digests&(1<<i) != 0 {
			sum, err := valueSHA256(SQLitePackRowSHA256, a)
			if err != nil {
				return nil, err
			}
			b = binary.BigEndian.AppendUint32(append(b, packedBlob), sha256.Size)
			b = append(b, sum[:]...)
			continue
		}
		switch v := a.(type) {
		case nil:
			b = append(b, packedNull)
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, packedInteger), uint64(v))
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, packedFloat), math.Float64bits(v))
		case string:
			b = binary.BigEndian.AppendUint32(append(b, packedText), uint32(len(v)))
			b = append(b, v...)
		case []byte:
			b = binary.BigEndian.AppendUint32(append(b, packedBlob), uint32(len(v)))
			b = append(b, v...)
		default:
			return nil, fmt.Errorf("%s: unsupported argument type %T", SQLitePackRow, v)
		}
	}
	return b, nil
}

// packRows is one evaluation of SQLitePackRows.
type packRows struct {
	packed []byte
	rows   int
}

func (a *packRows) Step(_ *sqlite.FunctionContext, args []driver.Value) (err error) {
	a.packed, err = appendPacked(a.packed, args)
	a.rows++
	return err
}

func (a *packRows) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return fmt.Errorf("%s cannot be used as a window function", SQLitePackRows)
}

func (a *packRows) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	if a.rows == 0 {
		return nil, nil
	}
	return a.packed, nil
}

func (a *packRows) Final(*sqlite.FunctionContext) {}

// errPackedRow is wrapped by the errors of PackedRow.
var errPackedRow = errors.New("storage: packed row")

// PackedRow reads the values of a blob from SQLitePackRow in order. Its
// methods convert values as database/sql's Scan does. The first failure
// sticks: later calls return zero values, and Err and End return it.
type PackedRow struct {
	buf []byte
	err error
}

// NewPackedRow returns a reader of b, which it does not copy.
func NewPackedRow(b []byte) *PackedRow { return &PackedRow{buf: b} }

// More reports whether values are left to read and nothing failed.
func (p *PackedRow) More() bool { return p.err == nil && len(p.buf) > 0 }

// Reset starts reading b.
func (p *PackedRow) Reset(b []byte) { p.buf, p.err = b, nil }

// Err returns the first failure.
func (p *PackedRow) Err() error { return p.err }

// End returns the first failure, or an error if values are left over.
func (p *PackedRow) End() error {
	if p.err == nil && len(p.buf) != 0 {
		p.err = fmt.Errorf("%w: %d bytes after the last value", errPackedRow, len(p.buf))
	}
	return p.err
}

// next returns the kind and payload of the next value.
func (p *PackedRow) next() (byte, []byte) {
	if p.err != nil {
		return packedNull, nil
	}
	if len(p.buf) == 0 {
		p.err = fmt.Errorf("%w: read past the last value", errPackedRow)
		return packedNull, nil
	}
	kind, rest := p.buf[0], p.buf[1:]
	n := 0
	switch kind {
	case packedNull:
	case packedInteger, packedFloat:
		n = 8
	case packedText, packedBlob:
		if len(rest) < 4 {
			p.err = fmt.Errorf("%w: truncated", errPackedRow)
			return packedNull, nil
		}
		n, rest = int(binary.BigEndian.Uint32(rest)), rest[4:]
	default:
		p.err = fmt.Errorf("%w: unknown kind %d", errPackedRow, kind)
		return packedNull, nil
	}
	if n > len(rest) {
		p.err = fmt.Errorf("%w: truncated", errPackedRow)
		return packedNull, nil
	}
	p.buf = rest[n:]
	return kind, rest[:n:n]
}

// Bytes returns the next value as Scan into sql.RawBytes would: text or a
// blob as stored, nil for NULL or no bytes, a number in decimal. The slice aliases the
// packed blob.
func (p *PackedRow) Bytes() []byte {
	return asBytes(p.next())
}

// String returns the next value as Scan into a string would. NULL is an
// error.
func (p *PackedRow) String() string {
	kind, v := p.next()
	if kind == packedNull && p.err == nil {
		p.err = fmt.Errorf("%w: NULL where a string was expected", errPackedRow)
	}
	return string(asBytes(kind, v))
}

// Int64 returns the next value as Scan into an int64 would: an integer,
// or text or a blob holding a decimal integer. NULL and other values are
// errors.
func (p *PackedRow) Int64() int64 {
	v, valid := p.NullInt64()
	if !valid && p.err == nil {
		p.err = fmt.Errorf("%w: NULL where an integer was expected", errPackedRow)
	}
	return v
}

// NullInt64 returns the next value as Int64 does, with valid false for
// NULL.
func (p *PackedRow) NullInt64() (v int64, valid bool) {
	kind, b := p.next()
	switch kind {
	case packedNull:
		return 0, false
	case packedInteger:
		return int64(binary.BigEndian.Uint64(b)), true
	case packedText, packedBlob:
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			p.err = fmt.Errorf("%w: text that is not an integer where an integer was expected", errPackedRow)
		}
		return n, true
	}
	p.err = fmt.Errorf("%w: a float where an integer was expected", errPackedRow)
	return 0, true
}

// asBytes converts a packed value as Scan into sql.RawBytes does on a
// SQLite connection, where an empty text or blob also reads as nil.
func asBytes(kind byte, v []byte) []byte {
	switch kind {
	case packedNull:
		return nil
	case packedInteger:
		return strconv.AppendInt(nil, int64(binary.BigEndian.Uint64(v)), 10)
	case packedFloat:
		return strconv.AppendFloat(nil, math.Float64frombits(binary.BigEndian.Uint64(v)), 'g', -1, 64)
	}
	if len(v) == 0 {
		return nil
	}
	return v
}
