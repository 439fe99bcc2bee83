package outcome

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	body := Write(w, 403, New(CodeForbidden, "send Authorization: Bearer <token>"))
	if w.Code != 403 || w.Header().Get("Content-Type") != ContentType {
		t.Errorf("status %d content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if string(body) != w.Body.String() {
		t.Error("returned body differs from the body written")
	}
	want := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"send Authorization: Bearer <token>"}]}`
	if string(body) != want {
		t.Errorf("body = %s\nwant %s", body, want)
	}
	var oo OperationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || !oo.HasErrors() {
		t.Errorf("round trip: %v %+v", err, oo)
	}
}

func TestFromIssuesNeverEmpty(t *testing.T) {
	oo := FromIssues(nil)
	if len(oo.Issue) != 1 || oo.HasErrors() {
		t.Errorf("FromIssues(nil) = %+v, want one informational issue", oo)
	}
}
