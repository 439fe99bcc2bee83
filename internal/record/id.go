package record

import (
	"crypto/rand"
	"encoding/hex"
)

// NewExchangeID returns a fresh exchange id: 32 lowercase hex digits from
// crypto/rand, the form `gatehouse audit show --exchange` accepts and
// responses carry in X-Request-Id. crypto/rand.Read never fails on the
// platforms Go supports, and the process cannot go on without it.
func NewExchangeID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("record: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
