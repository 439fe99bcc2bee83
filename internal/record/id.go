package record

import (
	"crypto/rand"
	"encoding/hex"
)

// NewExchangeID returns a fresh exchange id: 32 lowercase hex digits from
// crypto/rand, the form `gatehouse audit show --exchange` accepts and
// responses carry in X-Request-Id. Since Go 1.24 crypto/rand.Read crashes
// the program instead of returning an error, so the panic is a guard only.
func NewExchangeID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("record: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
