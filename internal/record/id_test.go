package record

import (
	"regexp"
	"testing"
)

// Exchange ids are 32 lowercase hex digits and differ from call to call.
func TestNewExchangeIDForm(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a, b := NewExchangeID(), NewExchangeID()
	if !form.MatchString(a) {
		t.Errorf("NewExchangeID() = %q, want 32 lowercase hex digits", a)
	}
	if a == b {
		t.Errorf("two calls returned the same id %q", a)
	}
}
