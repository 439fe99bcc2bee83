package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// submitPended records the PAS Surgical example, whose one item the
// default rules pend, in the database of a new development data directory
// and returns the directory and the database file.
func submitPended(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	if _, _, _, err := app.DevConfig(dir, "127.0.0.1:8443", "127.0.0.1:9443"); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "gatehouse.db")
	db, err := storage.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := openPayer(context.Background(), db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	body, err := os.ReadFile("../demo/nonconformant/pas-2.2.1-SurgicalRequestBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Members().AddRequestPatient(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Claim/$submit", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set(payer.PartnerHeader, "demo-ehr")
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: %v %v", resp, err)
	}
	resp.Body.Close()
	return dir, path
}

func TestPayerPendedAndDecide(t *testing.T) {
	dir, db := submitPended(t)
	ctx := context.Background()

	code, out, stderr := run(t, ctx, "payer", "pended", "--database", db)
	if code != 0 || !strings.Contains(out, "33510") {
		t.Fatalf("pended: code %d stdout %q stderr %q", code, out, stderr)
	}
	if !strings.Contains(out, "NEXT DECISION") || !strings.Contains(out, "by an operator") {
		t.Errorf("pended does not label who decides next:\n%s", out)
	}

	code, out, stderr = run(t, ctx, "payer", "decide", "16139462398", "1", "deny", "--data", dir)
	if code != 0 || !strings.Contains(out, "item 1: deny (A3); outcome complete") || !strings.Contains(out, "; record 2\n") {
		t.Fatalf("decide: code %d stdout %q stderr %q", code, out, stderr)
	}
	assertDecisionRecorded(t, db)

	code, _, stderr = run(t, ctx, "payer", "decide", "--data", dir, "16139462398", "1", "approve")
	if code != 1 || !strings.Contains(stderr, "is not pended") || !strings.Contains(stderr, "gatehouse: hint:") {
		t.Errorf("second decide: code %d stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "it was decided already") {
		t.Errorf("second decide does not say the item was decided already: %q", stderr)
	}
	if !strings.Contains(stderr, "audit show --interaction payer.decide") {
		t.Errorf("second decide does not say where to find the earlier decision: %q", stderr)
	}
	code, out, _ = run(t, ctx, "payer", "pended", "--database", db)
	if code != 0 || !strings.Contains(out, "no pended items") {
		t.Errorf("pended after the decision: code %d stdout %q", code, out)
	}
}

// assertDecisionRecorded checks that the exchange record contains the
// operator's decision as two control entries, the request appended before
// the decision and its outcome after, with their bodies encrypted.
func assertDecisionRecorded(t *testing.T, path string) {
	t.Helper()
	db, err := storage.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	r, err := auditlog.NewReader(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	var rows []auditlog.Row
	err = r.Scan(context.Background(), auditlog.Query{Limit: 10}, func(row *auditlog.Row) error {
		rows = append(rows, *row)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if len(rows) != 2 {
		t.Fatalf("the record contains %d entries, expected the decision's two", len(rows))
	}
	if first := rows[0].Leaf.Entry; first.Source != rows[1].Leaf.Entry.Source || first.ExchangeID != rows[1].Leaf.Entry.ExchangeID {
		t.Errorf("request entry %+v does not belong to the decision entry", first)
	}
	if len(rows[0].RequestCiphertext) == 0 {
		t.Errorf("the request entry has no encrypted request body")
	}
	rows = rows[1:]
	e := rows[0].Leaf.Entry
	if e.Seq != 2 {
		t.Errorf("decision entry seq %d, expected 2", e.Seq)
	}
	if e.Phase != record.PhaseControl {
		t.Errorf("decision entry phase %v, expected %v", e.Phase, record.PhaseControl)
	}
	if e.Interaction != "payer.decide" {
		t.Errorf("decision entry interaction %q, expected payer.decide", e.Interaction)
	}
	if !strings.HasPrefix(e.Source, "operator:") {
		t.Errorf("decision entry source %q, expected an operator: source", e.Source)
	}
	if e.Partner != "demo-ehr" {
		t.Errorf("decision entry partner %q, expected demo-ehr", e.Partner)
	}
	if len(rows[0].RequestCiphertext) == 0 {
		t.Errorf("the decision entry has no encrypted request body")
	}
	if len(rows[0].ResponseCiphertext) == 0 {
		t.Errorf("the decision entry has no encrypted response body")
	}
	if bytes.Contains(rows[0].RequestCiphertext, []byte("reviewAction")) {
		t.Errorf("the decision's request ciphertext contains the body in the clear")
	}
	if bytes.Contains(rows[0].Encoded, []byte("reviewAction")) {
		t.Errorf("the decision's encoded entry contains the request body in the clear")
	}
}

// TestPayerDecideNeedsRecord checks that a decision without a development
// data directory or configuration, and so without an exchange record, is
// refused and leaves the item pended.
func TestPayerDecideNeedsRecord(t *testing.T) {
	_, db := submitPended(t)
	code, _, stderr := run(t, context.Background(), "payer", "decide", "--data", t.TempDir(), "16139462398", "1", "deny")
	if code != 2 || !strings.Contains(stderr, "not a development data directory") {
		t.Errorf("decide without a development directory: code %d stderr %q", code, stderr)
	}
	code, _, stderr = run(t, context.Background(), "payer", "decide", "--database", db, "--data", t.TempDir(), "16139462398", "1", "deny")
	if code != 2 || !strings.Contains(stderr, "needs --config") {
		t.Errorf("decide on another database without --config: code %d stderr %q", code, stderr)
	}
	code, out, _ := run(t, context.Background(), "payer", "pended", "--database", db)
	if code != 0 || !strings.Contains(out, "33510") {
		t.Errorf("pended after the refused decision: code %d stdout %q", code, out)
	}
}

func TestPayerUsageErrors(t *testing.T) {
	dir, db := submitPended(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"payer"}, 2, "missing payer subcommand"},
		{[]string{"payer", "frob"}, 2, `unknown payer subcommand "frob"`},
		{[]string{"payer", "decide", "--data", dir, "16139462398", "1", "pend"}, 2, `unknown decision "pend"`},
		{[]string{"payer", "decide", "--data", dir, "16139462398", "x", "approve"}, 2, `invalid item sequence "x"`},
		{[]string{"payer", "decide", "--data", dir, "NOPE", "1", "approve"}, 1, `no prior authorization matches "NOPE"`},
		{[]string{"payer", "load", "--database", db, "/nonexistent/members.tgz"}, 2, "cannot read /nonexistent/members.tgz: no such file"},
		{[]string{"payer", "load", "--database", db}, 2, "payer load takes one"},
		{[]string{"payer", "load", "--database", "/nonexistent/dir/g.db", db}, 2, "does not exist"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("code %d, stderr %q; expected %d and %q", code, stderr, c.code, c.want)
			}
		})
	}
}

// TestPayerUsageHintNamesSubcommand requires a usage error to end with the
// synopsis of the subcommand that failed, not with those of all three.
func TestPayerUsageHintNamesSubcommand(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"payer", "decide", "--data", dir, "16139462398", "1", "maybe"}, payerDecideSynopsis},
		{[]string{"payer", "load", "--data", dir}, payerLoadSynopsis},
		{[]string{"payer", "pended", "--data", dir, "extra"}, payerPendedSynopsis},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), c.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			hints := strings.Count(stderr, "gatehouse: hint: ")
			if hints != 1 {
				t.Errorf("%d hint lines, want 1:\n%s", hints, stderr)
			}
			if !strings.HasSuffix(stderr, "gatehouse: hint: usage: "+c.want+"\n") {
				t.Errorf("stderr does not end with the subcommand's synopsis:\n%s", stderr)
			}
		})
	}
}

// TestPayerSubcommandHelp checks that -h of each payer subcommand prints
// that subcommand's synopsis and help, not the group's usage.
func TestPayerSubcommandHelp(t *testing.T) {
	cases := []struct {
		sub, synopsis, help, other string
	}{
		{"load", payerLoadSynopsis, payerLoadHelp, payerDecideSynopsis},
		{"pended", payerPendedSynopsis, payerPendedHelp, payerLoadSynopsis},
		{"decide", payerDecideSynopsis, payerDecideHelp, payerPendedSynopsis},
	}
	for _, c := range cases {
		t.Run(c.sub, func(t *testing.T) {
			code, stdout, _ := run(t, context.Background(), "payer", c.sub, "-h")
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if !strings.HasPrefix(stdout, "Usage:\n    "+c.synopsis+"\n\n"+c.help+"\n") {
				t.Errorf("stdout does not start with the synopsis and help of payer %s:\n%s", c.sub, stdout)
			}
			if strings.Contains(stdout, c.other) {
				t.Errorf("stdout shows another subcommand's synopsis %q", c.other)
			}
			if !strings.Contains(stdout, "--database FILE") {
				t.Errorf("stdout lacks the options:\n%s", stdout)
			}
		})
	}
}

func TestPayerLoad(t *testing.T) {
	dir := t.TempDir()
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"Roe","given":["Ann"]}],"gender":"female","birthDate":"1980-02-03"}},{"resource":{"resourceType":"Coverage","status":"active","type":{"text":"PPO"},"period":{"start":"2020-01-01"}}}]}`
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(bundle), 0o600)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"resourceType":"Patient"}`), 0o600)
	db := filepath.Join(t.TempDir(), "gatehouse.db")

	code, out, stderr := run(t, context.Background(), "payer", "load", "--database", db, dir)
	if code != 0 {
		t.Fatalf("load: code %d stderr %q", code, stderr)
	}
	for _, want := range []string{"files read:        2", "members loaded:    1", "coverages loaded:  1", "skipped:           1 (not a FHIR Bundle)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q: %s", want, out)
		}
	}
}

// TestPayerLoadUndatedCoverage loads a Bundle whose Coverage has no
// period, as PAS request bundles send it. The skip reason must state that a
// Coverage was read but had no start date, and a load that stored no
// member fails.
func TestPayerLoadUndatedCoverage(t *testing.T) {
	dir := t.TempDir()
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"Roe"}],"birthDate":"1980-02-03"}},{"resource":{"resourceType":"Coverage","status":"active"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "a.json"), []byte(bundle), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "gatehouse.db")

	code, out, stderr := run(t, context.Background(), "payer", "load", "--database", db, dir)
	if code != 1 {
		t.Errorf("load: code %d, want 1; stderr %q", code, stderr)
	}
	want := "skipped:           1 (no Coverage with a period start, and no ExplanationOfBenefit to derive one from)"
	if !strings.Contains(out, want) {
		t.Errorf("summary lacks %q: %s", want, out)
	}
	if !strings.Contains(stderr, "gatehouse: error: no member loaded from "+dir+": every file was skipped") {
		t.Errorf("stderr does not say that no member was loaded: %q", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: payer load reads Synthea patient Bundles") {
		t.Errorf("stderr has no hint on the expected input: %q", stderr)
	}

	// A load of a member file succeeds, and so does its repeat, which
	// skips the member as already loaded.
	good := t.TempDir()
	member := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"2"}],"name":[{"family":"Doe"}],"birthDate":"1981-02-03"}},{"resource":{"resourceType":"Coverage","status":"active","period":{"start":"2020-01-01"}}}]}`
	if err := os.WriteFile(filepath.Join(good, "b.json"), []byte(member), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if code, _, stderr := run(t, context.Background(), "payer", "load", "--database", db, good); code != 0 {
			t.Errorf("load %d of a member file: code %d, want 0; stderr %q", i+1, code, stderr)
		}
	}
}

// TestPayerLoadTruncatedFile loads a Bundle cut short, as an interrupted
// copy leaves it. The error and the hint must name the broken JSON.
func TestPayerLoadTruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patient.json")
	os.WriteFile(path, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Pat`), 0o600)
	db := filepath.Join(t.TempDir(), "gatehouse.db")

	code, _, stderr := run(t, context.Background(), "payer", "load", "--database", db, path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		"gatehouse: error: load: " + path + ": invalid JSON, such as a file cut short",
		"gatehouse: hint: the file is not complete JSON",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// payerConfigYAML is a valid configuration whose SQLite file, members.db,
// lies beside it. The payer commands read only its database key.
const payerConfigYAML = `
listen: 127.0.0.1:8443
public_url: https://gateway.example.org:8443
tls: {cert_file: server.pem, key_file: server-key.pem, client_ca_file: ca.pem}
token: {signing_key_file: signing.pem}
database: {path: members.db}
network: {allow_sources: [203.0.113.0/24]}
audit: {origin: payer.example/audit, signing_key_file: checkpoint.key, recipients_file: recipients.txt}
`

// TestPayerCommandsUseConfigDatabase checks that load and pended open the
// database of --config, as their help states, and not ./gatehouse-data.
func TestPayerCommandsUseConfigDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte(payerConfigYAML), 0o600)
	bundle := filepath.Join(t.TempDir(), "a.json")
	os.WriteFile(bundle, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"Roe"}],"gender":"female","birthDate":"1980-02-03"}},{"resource":{"resourceType":"Coverage","status":"active","period":{"start":"2020-01-01"}}}]}`), 0o600)

	code, out, stderr := run(t, context.Background(), "payer", "load", "--config", cfg, bundle)
	if code != 0 || !strings.Contains(out, "members loaded:    1") {
		t.Fatalf("load --config: code %d stdout %q stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "members.db")); err != nil {
		t.Errorf("load --config did not write database.path: %v", err)
	}
	code, out, stderr = run(t, context.Background(), "payer", "pended", "--config", cfg)
	if code != 0 || out != "no pended items\n" {
		t.Errorf("pended --config: code %d stdout %q stderr %q", code, out, stderr)
	}
	code, _, stderr = run(t, context.Background(), "payer", "pended", "--config", filepath.Join(dir, "missing.yaml"))
	if code != 2 || !strings.Contains(stderr, "configuration file "+filepath.Join(dir, "missing.yaml")+" not found") {
		t.Errorf("pended with a missing --config: code %d stderr %q", code, stderr)
	}
}

func TestPayerLoadWithoutBundle(t *testing.T) {
	dir := t.TempDir()
	patient := filepath.Join(dir, "patient.json")
	os.WriteFile(patient, []byte(`{"resourceType":"Patient"}`), 0o600)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	for _, path := range []string{patient, empty} {
		code, _, stderr := run(t, context.Background(), "payer", "load", "--database", db, path)
		if code != 1 {
			t.Errorf("load %s: code %d, want 1", path, code)
		}
		if !strings.Contains(stderr, "gatehouse: error: ") || !strings.Contains(stderr, path) {
			t.Errorf("load %s: the error does not name the path: %q", path, stderr)
		}
		if !strings.Contains(stderr, "gatehouse: hint: pass a FHIR Bundle") {
			t.Errorf("load %s: no hint: %q", path, stderr)
		}
	}
}

// TestPayerWithoutDataHint runs payer pended where there is no development
// data: the hint must offer --config, the way a deployment names its
// database, beside --data and --database.
func TestPayerWithoutDataHint(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := run(t, context.Background(), "payer", "pended")
	if code != 2 {
		t.Errorf("code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: database directory gatehouse-data does not exist") {
		t.Errorf("the error does not name the directory: %q", stderr)
	}
	for _, option := range []string{"--config FILE", "--data DIR", "--database"} {
		if !strings.Contains(stderr, option) {
			t.Errorf("the hint does not name %s: %q", option, stderr)
		}
	}
}

// TestPayerDecideNoLogLines decides a pended item with the process's
// default logger captured: the command prints its own result line, and
// the payer service's INFO line must not appear beside it, on the default
// logger or on stderr.
func TestPayerDecideNoLogLines(t *testing.T) {
	dir, _ := submitPended(t)
	var logged bytes.Buffer
	previous := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(previous) })

	code, out, stderr := run(t, context.Background(), "payer", "decide", "--data", dir, "16139462398", "1", "approve")
	if code != 0 || !strings.Contains(out, "item 1: approve") {
		t.Fatalf("decide: code %d stdout %q stderr %q", code, out, stderr)
	}
	if strings.Contains(logged.String(), "pended item decided") {
		t.Errorf("the default logger received the service's INFO line: %q", logged.String())
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
}
