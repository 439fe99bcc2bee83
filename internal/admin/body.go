package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"
)

// MaxBodyBytes caps the JSON body of an admin request. The bodies the
// admin routes accept, a decision or a kill-switch cut, are well under
// 1 KiB.
const MaxBodyBytes = 16 << 10

// ErrBodyTooLarge is returned by DecodeBody for a body over MaxBodyBytes.
var ErrBodyTooLarge = errors.New("admin: request body larger than 16 KiB")

// DecodeBody decodes the JSON object of an admin request into v. It
// rejects duplicate member names, members that v lacks, names that match
// a field only when case is ignored, and data after the object. A
// duplicate "mode" or "claim" would otherwise let the last value decide
// what is done while a proxy or a reviewer reads the first.
func DecodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("admin: read request body: %w", err)
	}
	if len(data) > MaxBodyBytes {
		return ErrBodyTooLarge
	}
	return jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true))
}
