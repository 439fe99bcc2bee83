package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// submitPended records the PAS Surgical example, whose one item the
// default rules pend, in a new database file and returns its path.
func submitPended(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := storage.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := openPayer(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	body, err := os.ReadFile("../demo/nonconformant/pas-2.2.1-SurgicalRequestBundleExample.json")
	if err != nil {
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
	return path
}

func TestPayerPendedAndDecide(t *testing.T) {
	db := submitPended(t)
	ctx := context.Background()

	code, out, stderr := run(t, ctx, "payer", "pended", "--database", db)
	if code != 0 || !strings.Contains(out, "33510") || !strings.Contains(out, "operator") {
		t.Fatalf("pended: code %d stdout %q stderr %q", code, out, stderr)
	}

	code, out, stderr = run(t, ctx, "payer", "decide", "16139462398", "1", "deny", "--database", db)
	if code != 0 || !strings.Contains(out, "item 1: deny (A3); outcome complete") {
		t.Fatalf("decide: code %d stdout %q stderr %q", code, out, stderr)
	}

	code, _, stderr = run(t, ctx, "payer", "decide", "--database", db, "16139462398", "1", "approve")
	if code != 1 || !strings.Contains(stderr, "is not pended") || !strings.Contains(stderr, "gatehouse: hint:") {
		t.Errorf("second decide: code %d stderr %q", code, stderr)
	}
	code, out, _ = run(t, ctx, "payer", "pended", "--database", db)
	if code != 0 || !strings.Contains(out, "no pended items") {
		t.Errorf("pended after the decision: code %d stdout %q", code, out)
	}
}

func TestPayerUsageErrors(t *testing.T) {
	db := submitPended(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"payer"}, 2, "missing subcommand"},
		{[]string{"payer", "frob"}, 2, `unknown payer subcommand "frob"`},
		{[]string{"payer", "decide", "--database", db, "16139462398", "1", "pend"}, 2, `unknown decision "pend"`},
		{[]string{"payer", "decide", "--database", db, "16139462398", "x", "approve"}, 2, `invalid item sequence "x"`},
		{[]string{"payer", "decide", "--database", db, "NOPE", "1", "approve"}, 1, "prior authorization not found"},
		{[]string{"payer", "load", "--database", db}, 2, "payer load takes one"},
		{[]string{"payer", "load", "--database", "/nonexistent/dir/g.db", "x.tgz"}, 1, "does not exist"},
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
