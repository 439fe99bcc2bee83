package storage

import (
	"crypto/sha256"
	"database/sql/driver"
	"fmt"
	"strconv"

	"modernc.org/sqlite"
)

// SQLiteSHA256 is the SQL function, on SQLite connections only, that
// returns the SHA-256 digest (32 bytes) of its argument. The digest is
// computed in this process, by crypto/sha256, on the bytes SQLite holds,
// so a query for the digest of a large blob spares the driver copying the
// blob into a new Go slice. The input is the bytes a query of the value
// would return: a blob or text as stored, NULL as no bytes, and a number
// in the decimal form database/sql gives it.
const SQLiteSHA256 = "gatehouse_sha256"

func init() {
	sqlite.MustRegisterFunction(SQLiteSHA256, &sqlite.FunctionImpl{
		NArgs:         1,
		Deterministic: true,
		Scalar:        sqliteSHA256,
		// The argument is hashed before the function returns, never kept.
		VolatileArgs: true,
	})
}

func sqliteSHA256(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var sum [sha256.Size]byte
	switch v := args[0].(type) {
	case nil:
		sum = sha256.Sum256(nil)
	case []byte:
		sum = sha256.Sum256(v)
	case string:
		sum = sha256.Sum256([]byte(v))
	case int64:
		sum = sha256.Sum256(strconv.AppendInt(nil, v, 10))
	case float64:
		sum = sha256.Sum256(strconv.AppendFloat(nil, v, 'g', -1, 64))
	default:
		return nil, fmt.Errorf("%s: unsupported argument type %T", SQLiteSHA256, v)
	}
	return sum[:], nil
}
