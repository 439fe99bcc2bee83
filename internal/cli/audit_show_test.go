package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// incidentDataDir creates a development data directory whose log records
// an allowed request, a kill-switch engagement, a refusal and a release.
func incidentDataDir(t *testing.T) string {
	t.Helper()
	return devLogDir(t, time.Now, []*record.Entry{
		{ExchangeID: "ex-0", Phase: record.PhaseRequest, Direction: "inbound", Partner: "demo-ehr", Source: "127.0.0.1:5000",
			Method: "POST", Target: "/fhir/Claim/$submit", Interaction: "Claim/$submit", Decision: record.Allow},
		{ExchangeID: "ex-1", Phase: record.PhaseControl, Direction: "admin", Partner: "demo-ehr", Source: "admin:alice",
			Method: "POST", Interaction: "killswitch.engage", Rule: "killswitch.cut-1", Reason: "INC-1 test", Status: 201, Decision: record.Allow},
		{ExchangeID: "ex-2", Phase: record.PhaseRefusal, Direction: "inbound", Partner: "demo-ehr", Source: "127.0.0.1:5001",
			Method: "POST", Target: "/fhir/Claim/$submit", Interaction: "Claim/$submit", Rule: "killswitch.cut-1", Status: 503, Decision: record.Deny},
		{ExchangeID: "ex-3", Phase: record.PhaseControl, Direction: "admin", Partner: "demo-ehr", Source: "admin:bob",
			Method: "POST", Interaction: "killswitch.release", Rule: "killswitch.cut-1", Status: 200, Decision: record.Allow},
	})
}

// devLogDir creates a development data directory whose log holds entries,
// recorded at the times now returns.
func devLogDir(t *testing.T, now func() time.Time, entries []*record.Entry) string {
	t.Helper()
	dir := t.TempDir()
	keys, err := auditlog.EnsureDevKeys(dir, auditTestOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auditlog.LoadSigner(keys.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := auditlog.LoadRecipients(keys.RecipientsFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := auditlog.Open(ctx, db, auditlog.Options{Origin: auditTestOrigin, Signer: signer, Recipients: recipients, Now: now,
		Sinks: []auditlog.Sink{&auditlog.FileSink{Path: keys.CheckpointFile}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		e.Received = now()
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A response entry that keeps the request in its request entry shows and
// exports the request body from there.
func TestAuditShowRequestFromRequestEntry(t *testing.T) {
	request := &record.Entry{ExchangeID: "ex-0", Phase: record.PhaseRequest, Direction: "inbound", Partner: "demo-ehr",
		Method: "POST", Target: "/fhir/Claim/$submit", Decision: record.Allow, RequestBody: []byte(`{"resourceType":"Bundle","id":"sent"}`)}
	response := *request
	response.Phase, response.Status, response.RequestSeq = record.PhaseResponse, 200, 1
	response.ResponseBody = []byte(`{"resourceType":"Bundle","id":"answer"}`)
	dir := devLogDir(t, time.Now, []*record.Entry{request, &response})
	identity := auditlog.DevKeyPaths(dir).IdentityFile

	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--identity", identity)
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	_, responseEntry, _ := strings.Cut(stdout, "#1 ")
	if !strings.Contains(responseEntry, "request body (stored in entry #0):\n{\"resourceType\":\"Bundle\",\"id\":\"sent\"}") {
		t.Errorf("entry 1 shown as %q, want the request body from entry 0", responseEntry)
	}
	if !strings.Contains(responseEntry, `"id":"answer"`) {
		t.Errorf("entry 1 shown as %q, want its response body", responseEntry)
	}

	code, stdout, stderr = run(t, context.Background(), "audit", "export", "--data", dir, "--identity", identity)
	if code != 0 {
		t.Fatalf("export: code %d stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var x auditlog.ExportedEntry
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &x) != nil {
		t.Fatalf("export = %q, want two entries", stdout)
	}
	if x.RequestEntry == nil || *x.RequestEntry != 0 || x.RequestBody != string(request.RequestBody) {
		t.Errorf("exported response entry %+v, want the request body kept in the request entry", x)
	}
}

func TestAuditShowKillSwitchNewest(t *testing.T) {
	dir := incidentDataDir(t)
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir,
		"--interaction", "killswitch.engage", "--interaction", "killswitch.release", "--newest")
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	release, engage := strings.Index(stdout, "#3 "), strings.Index(stdout, "#1 ")
	if release < 0 || engage < 0 || release > engage {
		t.Errorf("output does not list entry 3 before entry 1:\n%s", stdout)
	}
	if strings.Contains(stdout, "#0 ") || strings.Contains(stdout, "#2 ") {
		t.Errorf("output lists entries of other interactions:\n%s", stdout)
	}
	if !strings.Contains(stdout, "by: admin:alice") || !strings.Contains(stdout, "by: admin:bob") {
		t.Errorf("output does not name the administrators:\n%s", stdout)
	}
}

func TestAuditShowNewestLimit(t *testing.T) {
	dir := incidentDataDir(t)
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--newest", "--limit", "1")
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "#3 ") || strings.Count(stdout, "\n#") != 0 {
		t.Errorf("output = %q, want entry 3 alone", stdout)
	}

	code, stdout, _ = run(t, context.Background(), "audit", "show", "--data", dir, "--interaction", "Claim/$submit", "--limit", "1")
	if code != 0 || !strings.HasPrefix(stdout, "#0 ") || strings.Contains(stdout, "#2 ") {
		t.Errorf("interaction with limit: code %d, output = %q, want entry 0 alone", code, stdout)
	}
}

func TestAuditShowRequestWithoutStatus(t *testing.T) {
	dir := incidentDataDir(t)
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--limit", "1")
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "-> - allow") || strings.Contains(stdout, "-> 0 ") {
		t.Errorf("request entry = %q, want status -", stdout)
	}
	if strings.Contains(stdout, "by: ") {
		t.Errorf("request entry = %q names an administrator", stdout)
	}
}

// An entry whose body cannot be decrypted is listed with the problem, the
// entries after it still are, and the command fails at the end.
func TestAuditShowGoesOnPastUnreadableBody(t *testing.T) {
	dir := auditDataDir(t, 4)
	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_entries SET request_ct = NULL WHERE idx = 1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	identity := auditlog.DevKeyPaths(dir).IdentityFile

	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--identity", identity)
	if code != 1 || !strings.Contains(stdout, "bodies: unreadable") || !strings.Contains(stdout, `"id":"b3"`) ||
		!strings.Contains(stderr, "the bodies of 1 listed entries could not be decrypted") {
		t.Errorf("show: code %d stdout %q stderr %q; want entry 1 marked, entry 3 shown, exit 1", code, stdout, stderr)
	}

	code, stdout, _ = run(t, context.Background(), "audit", "export", "--data", dir, "--identity", identity)
	if code != 1 || strings.Count(stdout, "\n") != 4 || !strings.Contains(stdout, `"bodies_unreadable"`) {
		t.Errorf("export: code %d stdout %q; want 4 entries, one with bodies_unreadable, exit 1", code, stdout)
	}
}

// A search's query string holds PHI: show and every export format leave
// it out without --identity, and show and NDJSON export give it back with
// the identity that decrypts the entry.
func TestAuditQueryOnlyWithIdentity(t *testing.T) {
	const target = "/fhir/Patient?family=WATSON&birthdate=1961-04-12&identifier=1122334455"
	phi := []string{"WATSON", "1961-04-12", "1122334455"}
	dir := devLogDir(t, time.Now, []*record.Entry{{ExchangeID: "ex-0", Phase: record.PhaseRefusal, Direction: "inbound",
		Partner: "demo-ehr", Method: "GET", Target: target, Interaction: "Patient/search-type", Status: 403, Decision: record.Deny}})
	identity := auditlog.DevKeyPaths(dir).IdentityFile

	withheld := [][]string{
		{"audit", "show", "--data", dir},
		{"audit", "export", "--data", dir},
		{"audit", "export", "--data", dir, "--format", "ndjson"},
		{"audit", "export", "--data", dir, "--format", "auditevent"},
		{"audit", "export", "--data", dir, "--format", "cef"},
	}
	for _, args := range withheld {
		t.Run(strings.Join(append([]string{args[1]}, args[4:]...), " "), func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), args...)
			if code != 0 {
				t.Fatalf("code %d stderr %q", code, stderr)
			}
			for _, value := range phi {
				if strings.Contains(stdout, value) || strings.Contains(stderr, value) {
					t.Errorf("output holds %q from the query string:\n%s%s", value, stdout, stderr)
				}
			}
			if !strings.Contains(stdout, "/fhir/Patient") {
				t.Errorf("output lacks the path /fhir/Patient:\n%s", stdout)
			}
			if args[1] == "show" && !strings.Contains(stdout, auditlog.QueryNotDecrypted) {
				t.Errorf("show output lacks %q:\n%s", auditlog.QueryNotDecrypted, stdout)
			}
		})
	}

	for _, command := range []string{"show", "export"} {
		t.Run(command+" --identity", func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), "audit", command, "--data", dir, "--identity", identity)
			if code != 0 {
				t.Fatalf("code %d stderr %q", code, stderr)
			}
			want := target
			if command == "export" {
				want = strings.ReplaceAll(target, "&", `\u0026`)
			}
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks the full target %q:\n%s", want, stdout)
			}
			if strings.Contains(stdout, "query withheld") {
				t.Errorf("output withholds the query although --identity decrypts it:\n%s", stdout)
			}
		})
	}
}

// TestAuditShowNoMatch lists an exchange id that the log does not contain:
// stdout stays empty, the exit code 0, and stderr says nothing matched.
func TestAuditShowNoMatch(t *testing.T) {
	dir := incidentDataDir(t)
	for _, command := range []string{"show", "export"} {
		t.Run(command, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), "audit", command, "--data", dir, "--exchange", "00000000000000000000000000000000")
			if code != 0 {
				t.Errorf("code %d, want 0; stderr %q", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, "gatehouse: no entry matches the filters") {
				t.Errorf("stderr %q does not say that no entry matched", stderr)
			}
		})
	}
}

// TestAuditShowInvalidExchange passes values that no exchange id has and
// requires exit code 2 with an error naming the value and the expected
// form. Valid ids of each kind and an upper-case id list nothing instead.
func TestAuditShowInvalidExchange(t *testing.T) {
	dir := incidentDataDir(t)
	for _, command := range []string{"show", "export"} {
		for _, value := range []string{"ex-1", "Claim/123", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0"} {
			t.Run(command+" "+value, func(t *testing.T) {
				code, stdout, stderr := run(t, context.Background(), "audit", command, "--data", dir, "--exchange", value)
				if code != 2 {
					t.Errorf("code %d, want 2; stderr %q", code, stderr)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
				if want := fmt.Sprintf("gatehouse: error: invalid --exchange %q: want an exchange id", value); !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not contain %q", stderr, want)
				}
				if !strings.Contains(stderr, "32 hex digits") {
					t.Errorf("stderr %q does not state the expected form", stderr)
				}
			})
		}
	}
	for _, value := range []string{"0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF", "0b7d2c9e-4a1f-4c3b-9e8d-7f6a5b4c3d2e"} {
		t.Run("valid "+value, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--exchange", value)
			if code != 0 {
				t.Errorf("code %d, want 0; stderr %q", code, stderr)
			}
		})
	}
}

// TestAuditShowUnclassifiedRefusal lists a 401 recorded before the gateway
// classified the request, so the entry has no interaction, and requires
// show to say so instead of leaving the field blank.
func TestAuditShowUnclassifiedRefusal(t *testing.T) {
	dir := devLogDir(t, time.Now, []*record.Entry{
		{ExchangeID: "ex-0", Phase: record.PhaseRefusal, Direction: "inbound", Source: "127.0.0.1:5000",
			Method: "GET", Target: "/fhir/metadata", Rule: "token.missing", Status: 401, Decision: record.Deny},
	})
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir)
	if code != 0 {
		t.Fatalf("code %d; stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, ", interaction not classified\n") {
		t.Errorf("show does not say that the entry has no interaction:\n%s", stdout)
	}
}
