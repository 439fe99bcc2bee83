package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// TestHelpEveryCommand walks the command tree from topLevel and runs -h
// and --help on every command and subcommand, so a command added without
// help fails here.
func TestHelpEveryCommand(t *testing.T) {
	var walk func(words []string, g *commandGroup)
	walk = func(words []string, g *commandGroup) {
		names := make([]string, 0, len(g.commands))
		for name := range g.commands {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			path := append(append([]string{}, words...), name)
			for _, flag := range []string{"-h", "--help"} {
				checkHelp(t, append(append([]string{}, path...), flag))
			}
			if sub := g.commands[name].group; sub != nil {
				checkHelp(t, append(append([]string{}, path...), "help"))
				walk(path, sub)
			}
		}
	}
	checkHelp(t, []string{"help"})
	walk(nil, topLevel)
}

// checkHelp runs args and checks for exit 0, a usage that names the
// command on stdout and nothing on stderr.
func checkHelp(t *testing.T, args []string) {
	t.Helper()
	t.Run(strings.Join(args, " "), func(t *testing.T) {
		code, stdout, stderr := run(t, context.Background(), args...)
		if code != 0 {
			t.Errorf("exit code = %d, want 0; stderr %q", code, stderr)
		}
		if !strings.Contains(stdout, "Usage:") {
			t.Errorf("stdout has no Usage: %q", stdout)
		}
		command := "gatehouse " + strings.Join(args[:len(args)-1], " ")
		if !strings.Contains(stdout, strings.TrimSpace(command)) {
			t.Errorf("usage does not name %q: %q", command, stdout)
		}
		if stderr != "" {
			t.Errorf("stderr = %q, want nothing", stderr)
		}
		if m := singleDashOption.FindString(stdout); m != "" {
			t.Errorf("option %q is spelled with one dash; usage lines and docs use two", strings.TrimSpace(m))
		}
		if m := typeNamePlaceholder.FindString(stdout); m != "" {
			t.Errorf("option %q shows a Go type as its value; name the value in the flag's usage, such as `MODE`", strings.TrimSpace(m))
		}
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Count(line, "(default ") > 1 {
				t.Errorf("an option states its default twice: %q", strings.TrimSpace(line))
			}
		}
		for _, name := range optionsMissingFromUsage(stdout) {
			t.Errorf("the usage line leaves out --%s, which the options list", name)
		}
	})
}

// optionsMissingFromUsage returns the options that the Options section of
// a command's help lists and its usage line does not name.
func optionsMissingFromUsage(help string) []string {
	usage, options, ok := strings.Cut(help, "\nOptions:\n")
	if !ok || strings.Contains(usage, "[options]") {
		return nil
	}
	var missing []string
	for _, m := range helpOptionLine.FindAllStringSubmatch(options, -1) {
		if !regexp.MustCompile(`--` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(usage) {
			missing = append(missing, m[1])
		}
	}
	return missing
}

// helpOptionLine matches the option an Options line of the help describes.
var helpOptionLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`)

// typeNamePlaceholder matches an option line whose value placeholder is
// the Go type that flag.PrintDefaults prints when the usage text has no
// back-quoted name, such as "  --mode string".
var typeNamePlaceholder = regexp.MustCompile(`(?m)^  --[a-z][a-z0-9-]* (string|int|uint|float|duration|value)$`)

// singleDashOption matches an option line of flag.PrintDefaults left as
// it is, such as "  -dir DIR".
var singleDashOption = regexp.MustCompile(`(?m)^  -[a-z][a-z-]*`)

// TestUsageErrorsBeforeNetwork checks that mistakes in the arguments exit
// 2 with the value and the fix. The data directories do not exist, so a
// command that went on to connect would fail differently, with exit 1.
func TestUsageErrorsBeforeNetwork(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	empty := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	tests := []struct {
		name       string
		args       []string
		err, hint  string
		wantStdout bool
	}{
		{"engage without options", []string{"killswitch", "engage", "--data", none}, "missing --mode: use full, read-only or writes-off", "usage: gatehouse killswitch engage", false},
		{"engage bogus mode", []string{"killswitch", "engage", "--data", none, "--mode", "bogus", "--reason", "x"}, `invalid mode "bogus"`, "usage:", false},
		{"engage without reason", []string{"killswitch", "engage", "--data", none, "--mode", "full"}, "a reason is required", "usage:", false},
		{"engage bogus direction", []string{"killswitch", "engage", "--data", none, "--mode", "full", "--reason", "x", "--direction", "up"}, `invalid direction "up"`, "usage:", false},
		{"engage partner and route", []string{"killswitch", "engage", "--data", none, "--mode", "full", "--reason", "x", "--partner", "a", "--route", "Claim"}, "--partner and --route cannot be combined", "usage:", false},
		{"status with cert only", []string{"killswitch", "status", "--cert", "admin.pem"}, "missing --admin, --key and --ca: --admin, --cert, --key and --ca are required together", "only --data DIR for a development gateway", false},
		{"unknown option", []string{"pki", "list", "--bogus"}, "unknown option --bogus", "usage: gatehouse pki list", false},
		{"option without value", []string{"pki", "list", "--dir"}, "missing value for --dir", "usage: gatehouse pki list", false},
		{"option with bad number", []string{"pki", "crl", "--days", "soon"}, `invalid value "soon" for --days`, "usage: gatehouse pki crl", false},
		{"issue bad admin name", []string{"pki", "issue", "admin", "--dir", none, "--name", "Alice Smith"}, `--name: id "Alice Smith" contains 'A'`, "such as alice", false},
		{"release without id", []string{"killswitch", "release", "--data", none}, "missing cut ID", "gatehouse killswitch status", false},
		{"release bad id", []string{"killswitch", "release", "--data", none, "abc"}, `invalid cut id "abc"`, "gatehouse killswitch status", false},
		{"serve bad listen", []string{"serve", "--data", none, "--listen", "bogus"}, `--listen: invalid address "bogus": use host:port`, "usage: gatehouse serve", false},
		{"serve bad admin listen", []string{"serve", "--data", none, "--admin-listen", "9443"}, `--admin-listen: invalid address "9443"`, "usage:", false},
		{"serve config and listen", []string{"serve", "--config", cfg, "--listen", "127.0.0.1:1"}, "--listen cannot be combined with --config", "set listen, admin.listen and the file paths in " + cfg, false},
		{"serve config and data", []string{"serve", "--config", cfg, "--data", none}, "--data cannot be combined with --config", "drop --config", false},
		{"serve missing config", []string{"serve", "--config", "/nonexistent/gatehouse.yaml"}, "configuration file /nonexistent/gatehouse.yaml not found", "without --config for development mode", false},
		{"posture missing config", []string{"posture", "--config", "/nonexistent/gatehouse.yaml"}, "configuration file /nonexistent/gatehouse.yaml not found", "check the path, or run 'gatehouse posture' without --config", false},
		{"dfd missing config", []string{"dfd", "--config", "/nonexistent/gatehouse.yaml"}, "configuration file /nonexistent/gatehouse.yaml not found", "check the path, or run 'gatehouse dfd' without --config", false},
		{"audit verify missing data", []string{"audit", "verify", "--data", none}, none + " is not a development data directory: the directory does not exist", "no development data in " + none + ": pass --config FILE", false},
		{"audit show missing database", []string{"audit", "show", "--data", empty}, "audit log database " + filepath.Join(empty, "gatehouse.db") + " not found", "pass --config FILE of a deployment, --data DIR of a gateway that has run", false},
		{"audit verify missing config", []string{"audit", "verify", "--config", "/nonexistent/gatehouse.yaml"}, "configuration file /nonexistent/gatehouse.yaml not found", "check the path, or pass --database FILE|URL and --key FILE", false},
		{"token unknown partner", []string{"token", "--data", none, "--partner", "nobody"}, `unknown partner "nobody": development mode has only the partner demo-ehr`, "--partner demo-ehr", false},
		{"validate missing file", []string{"validate", "/nonexistent/claim.json"}, "cannot read /nonexistent/claim.json: no such file or directory", "pass FHIR JSON", false},
		{"payer load missing path", []string{"payer", "load", "--data", t.TempDir(), "/nonexistent/members.tgz"}, "cannot read /nonexistent/members.tgz: no such file or directory", "Synthea FILE.tgz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2; stderr %q", code, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: error: "+tt.err) {
				t.Errorf("stderr = %q, want error %q", stderr, tt.err)
			}
			if !strings.Contains(stderr, "gatehouse: hint: ") || !strings.Contains(stderr, tt.hint) {
				t.Errorf("stderr = %q, want a hint with %q", stderr, tt.hint)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

// TestServePortInUse occupies the listen address, then the admin address,
// and checks that serve names it and the option that moves it.
func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busyAddr := ln.Addr().String()
	data := t.TempDir()

	tests := []struct {
		name, listen, adminListen, option string
	}{
		{"listen", busyAddr, "", "--listen"},
		{"admin listen", "127.0.0.1:0", busyAddr, "--admin-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "serve", "--data", data, "--listen", tt.listen, "--admin-listen", tt.adminListen)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if !strings.Contains(stderr, "address already in use") {
				t.Errorf("stderr = %q, want the bind error", stderr)
			}
			want := "gatehouse: hint: another process listens on " + busyAddr + "; pick another with " + tt.option + " or stop it"
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestPKIIssueEngine(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca")
	pkiRun(t, 0, "pki", "init", "--dir", ca)
	stdout, _ := pkiRun(t, 0, "pki", "issue", "engine", "--dir", ca, "--name", "payer-service")
	if !strings.Contains(stdout, "issued engine certificate CN=payer-service") {
		t.Errorf("stdout = %q, want the engine certificate line", stdout)
	}

	cert, err := pki.LoadTLSCertificate(filepath.Join(ca, "certs", "payer-service.pem"), filepath.Join(ca, "certs", "payer-service-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	name, ok := pki.EngineFromCertificate(cert.Leaf)
	if !ok || name != "payer-service" {
		t.Errorf("EngineFromCertificate = %q, %v; want payer-service, true", name, ok)
	}
	if _, ok := pki.PartnerFromCertificate(cert.Leaf); ok {
		t.Error("the engine certificate also carries a partner identity")
	}

	list, _ := pkiRun(t, 0, "pki", "list", "--dir", ca)
	if !regexp.MustCompile(`(?m)^[0-9a-f]+\s+engine\s+CN=payer-service\s`).MatchString(list) {
		t.Errorf("pki list does not show the engine certificate:\n%s", list)
	}
}

// TestTryItBundleExists checks that the submit command serve prints
// names a bundle file that exists, whatever the source checkout.
func TestTryItBundleExists(t *testing.T) {
	layout, _, err := devmode.Ensure(t.TempDir(), devmode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &out, stderr: &out}
	e.printTryIt(layout, "https://localhost:8443/fhir")

	m := regexp.MustCompile(`--data-binary @(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no --data-binary in:\n%s", out.String())
	}
	if !strings.HasPrefix(m[1], layout.Dir) {
		t.Errorf("bundle %s is outside the data directory %s", m[1], layout.Dir)
	}
	got, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	want, err := demo.ShippedBundle(tryItBundle)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the copied bundle differs from the shipped one")
	}
}

// TestFhirpathInvalidDateInput checks that an impossible date in the
// input fails intake, naming the element, instead of evaluating to a
// FHIR.date value.
func TestFhirpathInvalidDateInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patient.json")
	if err := os.WriteFile(path, []byte(`{"resourceType":"Patient","birthDate":"2020-13-45"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, context.Background(), "fhirpath", "--input", path, "Patient.birthDate")
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, "gatehouse: error: "+path+": Patient.birthDate is not a valid FHIR date") {
		t.Errorf("stderr = %q, want the invalid date named", stderr)
	}
	if strings.Contains(stderr, "2020-13-45") {
		t.Errorf("stderr = %q repeats the input value", stderr)
	}
}

// TestEHRHelpStatesForDuration requires the help of ehr --for to say that
// the simulator runs for the whole duration even without a subscription.
func TestEHRHelpStatesForDuration(t *testing.T) {
	code, stdout, stderr := run(t, context.Background(), "ehr", "--help")
	if code != 0 {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "for the whole time, even without --subscribe or after a failed call") {
		t.Errorf("the help of --for does not say that the simulator keeps running:\n%s", stdout)
	}
}

// TestFhirpathInputDirectory passes a directory as --input. The error
// reports that the file cannot be read, and the hint does not send the user
// to fix an element that does not exist.
func TestFhirpathInputDirectory(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, context.Background(), "fhirpath", "--input", dir, "Patient")
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if want := "gatehouse: error: --input: cannot read " + dir + ": is a directory"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, "fix the element") {
		t.Errorf("the hint names an element:\n%s", stderr)
	}
}
