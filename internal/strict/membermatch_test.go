package strict

import "testing"

// TestMemberMatchResponseNeedsIdentifier checks that a member-match
// response whose MemberIdentifier is a string, not an Identifier with type
// MB and a value, fails hrex-parameters-member-match-out.
func TestMemberMatchResponseNeedsIdentifier(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueString":"55678"}]}`
	oo, err := c.CheckResponse("Patient/$member-match", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if oo == nil {
		t.Error("a MemberIdentifier given as valueString passed strict mode")
	}
}
