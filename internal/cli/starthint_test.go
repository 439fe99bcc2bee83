package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestServeMissingDatabaseDirectory starts a configuration whose database
// directory does not exist. The error names the key, and the hint tells
// the operator to create the directory.
func TestServeMissingDatabaseDirectory(t *testing.T) {
	path := hardenedExample(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(filepath.Dir(path), "missing", "gatehouse.db")
	edited := strings.Replace(string(data), "path: /var/lib/gatehouse/gatehouse.db", "path: "+missing, 1)
	if edited == string(data) {
		t.Fatal("the example has no database.path line to replace")
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: database.path "+missing+": directory "+filepath.Dir(missing)+" does not exist\n") {
		t.Errorf("the error does not name database.path and the missing directory:\n%s", stderr)
	}
	if !strings.Contains(stderr, "create the directories for the account the gateway runs as (install -d -m 0700 "+filepath.Dir(missing)+" ") {
		t.Errorf("no hint to create the directory:\n%s", stderr)
	}
}

// TestServeMissingCheckpointDirectory starts a configuration whose
// audit.checkpoint_file directory does not exist. The error names the key
// and the directory, and the hint gives the command that creates it.
func TestServeMissingCheckpointDirectory(t *testing.T) {
	path := hardenedExample(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	missing := filepath.Join(dir, "missing-witness")
	edited := strings.NewReplacer(
		"path: /var/lib/gatehouse/gatehouse.db", "path: "+filepath.Join(dir, "gatehouse.db"),
		"checkpoint_file: /var/lib/gatehouse-witness/checkpoint.txt", "checkpoint_file: "+filepath.Join(missing, "checkpoint.txt"),
	).Replace(string(data))
	if !strings.Contains(edited, "missing-witness") {
		t.Fatal("the example has no audit.checkpoint_file line to replace")
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: audit.checkpoint_file "+filepath.Join(missing, "checkpoint.txt")+": directory "+missing+" does not exist\n") {
		t.Errorf("the error does not name audit.checkpoint_file and the missing directory:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: fix each file named above, or correct its key in "+path+": create the directories for the account the gateway runs as (install -d -m 0700 "+missing+")") {
		t.Errorf("no hint to create the directory:\n%s", stderr)
	}
}

// TestStartHintPostgresPassword connects to the test PostgreSQL server
// without a password and requires the hint to name PGPASSWORD.
func TestStartHintPostgresPassword(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	u, err := url.Parse(os.Getenv(storagetest.EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(u.User.Username())
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
	_, err = storage.Open(context.Background(), u.String())
	if err == nil {
		t.Skip("the test server accepts this user without a password")
	}
	hint := startHintOf(err, u.String())
	if !strings.Contains(hint, "set PGPASSWORD") || !strings.Contains(hint, "database.url") {
		t.Errorf("hint %q does not say how to set the password", hint)
	}
}

// TestStartHintPostgresSchema requires the hint for a user without a schema
// to name the schema and database.url.
func TestStartHintPostgresSchema(t *testing.T) {
	err := fmt.Errorf("record: create tables: %w", &pgconn.PgError{Code: "3F000", Message: "no schema has been selected to create in"})
	hint := startHintOf(err, "postgres://gatehouse@db.payer.internal/gatehouse")
	if !strings.Contains(hint, "CREATE SCHEMA") || !strings.Contains(hint, "search_path=gatehouse") {
		t.Errorf("hint %q does not say how to provide a schema", hint)
	}
}

// TestStartHintPostgresMissingSchema names the schema that search_path
// names, which the operator has to create, instead of suggesting a
// search_path the URL already has.
func TestStartHintPostgresMissingSchema(t *testing.T) {
	err := fmt.Errorf("record: create tables: %w", &pgconn.PgError{Code: "3F000", Message: "no schema has been selected to create in"})
	hint := startHintOf(err, "postgres://gatehouse@db.payer.internal/gatehouse?sslmode=verify-full&search_path=claims_gw")
	if !strings.Contains(hint, "CREATE SCHEMA claims_gw") {
		t.Errorf("hint %q does not name the schema to create", hint)
	}
	if strings.Contains(hint, "add search_path") {
		t.Errorf("hint %q suggests a search_path the URL already has", hint)
	}
}

// TestStartHintPostgresDeadlock requires the hint for a start that
// PostgreSQL aborted in a deadlock to say that starting again is safe.
func TestStartHintPostgresDeadlock(t *testing.T) {
	err := fmt.Errorf("audit: auditlog: create schema: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})
	hint := startHintOf(err, "postgres://gatehouse@db.payer.internal/gatehouse?search_path=gatehouse")
	if !strings.Contains(hint, "gatehouse: hint: PostgreSQL aborted the start in a deadlock") {
		t.Errorf("hint %q does not name the deadlock", hint)
	}
	if !strings.Contains(hint, "start the gateway again") {
		t.Errorf("hint %q does not say to start again", hint)
	}
}

// TestPayerDecideDeadlockHint requires payer decide, which opens the
// exchange record while replicas may append, to say that running it again
// is safe after a deadlock.
func TestPayerDecideDeadlockHint(t *testing.T) {
	err := fmt.Errorf("audit: auditlog: create schema: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})
	var out bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &out, stderr: &out}
	e.recordOpenHint(err, nil, "gatehouse.yaml")

	if !strings.Contains(out.String(), "gatehouse: hint: PostgreSQL aborted opening the exchange record in a deadlock") {
		t.Errorf("hint %q does not name the deadlock", out.String())
	}
	if !strings.Contains(out.String(), "no decision was made, so run the command again") {
		t.Errorf("hint %q does not say to run the command again", out.String())
	}
}

func startHintOf(err error, databaseURL string) string {
	var out bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &out, stderr: &out}
	e.startHint(err, "gatehouse.yaml", "", databaseURL)
	return out.String()
}

// TestServeBadTLSFileHint replaces the server certificate of a
// configuration with text that is not PEM and requires the error to name
// tls.cert_file and its file, and a hint saying what the file must contain.
func TestServeBadTLSFileHint(t *testing.T) {
	path := hardenedExample(t)
	dir := filepath.Dir(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		"/var/lib/gatehouse/gatehouse.db", filepath.Join(dir, "gatehouse.db"),
		"/var/lib/gatehouse-witness/checkpoint.txt", filepath.Join(dir, "checkpoint.txt"),
	).Replace(string(data))
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "pki", "server.pem")
	if err := os.WriteFile(cert, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: start: ") || !strings.Contains(stderr, "tls.cert_file "+cert) {
		t.Errorf("the error does not name tls.cert_file and its file:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: tls.cert_file names a file that must contain a PEM certificate chain") {
		t.Errorf("no hint for tls.cert_file:\n%s", stderr)
	}
}

// TestFileKeyHint checks the key the hint picks out of start errors and
// that a file name ending in _file is not taken for a key.
func TestFileKeyHint(t *testing.T) {
	tests := []struct{ err, want string }{
		{"partners[0].jwks_file: open /etc/jwks.json: no such file", "partners[0].jwks_file names a file that must contain a JSON Web Key Set: correct that file, or set partners[0].jwks_file in gatehouse.yaml"},
		{"tls: certreload: tls.client_ca_file /x/ca.pem: no certificate", "tls.client_ca_file names a file that must contain PEM CA certificates"},
		{"payer.rules_file: line 3: unknown field", "payer.rules_file names a file: correct that file"},
		// The checkpoint key and the outbound assertion key are not PEM, so
		// the generic key_file hint would send the operator the wrong way.
		{"audit.signing_key_file: auditlog: signing key file /x/checkpoint.key: invalid note signer key",
			"audit.signing_key_file names a file that must contain the signed-note key that 'gatehouse audit keygen' writes"},
		{"outbound.assertion_key_file: invalid JWK", "outbound.assertion_key_file names a file that must contain a private JWK"},
		{"token.signing_key_file: no PEM data", "token.signing_key_file names a file that must contain a PEM private key"},
		{"listen: open /etc/my_file: permission denied", ""},
	}
	for _, tt := range tests {
		got := fileKeyHint(errors.New(tt.err), "gatehouse.yaml")
		if tt.want == "" && got != "" {
			t.Errorf("%q: hint %q, want none", tt.err, got)
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%q: hint %q does not contain %q", tt.err, got, tt.want)
		}
	}
}

// TestServeOriginMismatchHint starts a configuration whose audit.origin
// differs from its signing key's name and requires a hint with both fixes.
func TestServeOriginMismatchHint(t *testing.T) {
	path := hardenedExample(t)
	dir := filepath.Dir(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		"/var/lib/gatehouse/gatehouse.db", filepath.Join(dir, "gatehouse.db"),
		"/var/lib/gatehouse-witness/checkpoint.txt", filepath.Join(dir, "checkpoint.txt"),
		"origin: gatehouse.payer.example/audit", "origin: other.payer.example/audit",
	).Replace(string(data))
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, `gatehouse: error: start: audit.origin "other.payer.example/audit" differs from the name "gatehouse.payer.example/audit"`) {
		t.Errorf("the error does not name both origins:\n%s", stderr)
	}
	want := `gatehouse: hint: set audit.origin to "gatehouse.payer.example/audit", the key's name, or create a key for other.payer.example/audit with 'gatehouse audit keygen --origin other.payer.example/audit'`
	if !strings.Contains(stderr, want) {
		t.Errorf("no hint with both fixes:\n%s", stderr)
	}
}
