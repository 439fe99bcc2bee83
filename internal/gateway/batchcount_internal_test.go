package gateway

import (
	"net/http"
	"testing"
)

func TestAddEntryCountsSizeLimit(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active"}}]}`)
	want := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Claim?status=active&_count=25"}}]}`

	out, ref := addEntryCounts(body, 25, int64(len(want)))
	if ref != nil {
		t.Fatalf("at the limit: refusal %+v", ref)
	}
	if string(out) != want {
		t.Errorf("at the limit: body %s, expected %s", out, want)
	}

	_, ref = addEntryCounts(body, 25, int64(len(want))-1)
	if ref == nil {
		t.Fatal("one byte past the limit: no refusal")
	}
	if ref.Status != http.StatusRequestEntityTooLarge || ref.Rule != "payload.too-large" {
		t.Errorf("one byte past the limit: status %d rule %q, expected 413 payload.too-large", ref.Status, ref.Rule)
	}
}
