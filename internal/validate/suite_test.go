package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// suiteCase is one test case of the FHIR validator test suite
// (fhir-test-cases, validator/manifest.json).
type suiteCase struct {
	Name       string   `json:"name"`
	File       string   `json:"file"`
	Version    string   `json:"version"`
	Module     string   `json:"module"`
	UseTest    *bool    `json:"use-test"`
	Packages   []string `json:"packages"`
	Supporting []string `json:"supporting"`
	Profiles   []string `json:"profiles"`
	Java       any      `json:"java"`
	Profile    *struct {
		Source     string   `json:"source"`
		Supporting []string `json:"supporting"`
		Java       any      `json:"java"`
	} `json:"profile"`
}

// suiteRun is one verdict to compare: the base validation of a case, or
// its validation against a profile.
type suiteRun struct {
	id       string // case name, with "#profile" for profile runs
	file     string
	profile  string
	support  []string
	expected string // the java outcome file
}

// suiteMinAgreement is the share of verdicts that must match the HL7 Java
// validator's; the disagreement list gives the reason for each other one.
const suiteMinAgreement = 0.90

// TestValidatorSuite runs the R4 JSON cases of the FHIR validator test
// suite that need no terminology server and no registry packages, and
// compares the valid/invalid verdict with the reference (Java)
// validator's expected outcome. Every disagreement must be listed, with
// its reason, in testdata/validator-suite-disagreements.txt; a listed
// case that now agrees fails too, so that the list stays true.
func TestValidatorSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the validator test suite")
	}
	dir := filepath.Join(corpustest.Unpack(t, "fhir-validator-tests/fhir-test-cases-validator.tgz"), "validator")
	runs, skipped := suiteRuns(t, dir)
	known := readReasons(t, "testdata/validator-suite-disagreements.txt")

	agree, total := 0, 0
	seen := map[string]bool{}
	for _, run := range runs {
		want := expectedVerdict(t, filepath.Join(dir, "outcomes", run.expected))
		if want == "" {
			skipped++ // the expected outcome was withheld from the corpus
			continue
		}
		got, detail := runSuiteCase(t, dir, run)
		seen[run.id] = true
		total++
		if got == want {
			agree++
			if _, listed := known[run.id]; listed {
				t.Errorf("%s: listed as a disagreement but now agrees (%s); remove it from the list", run.id, want)
			}
			continue
		}
		if _, listed := known[run.id]; !listed {
			t.Errorf("%s: verdict %s, reference validator %s; %s", run.id, got, want, detail)
		}
	}
	for id := range known {
		if !seen[id] {
			t.Errorf("%s: listed as a disagreement but not run", id)
		}
	}
	rate := float64(agree) / float64(total)
	t.Logf("validator suite: %d of %d verdicts agree (%.1f%%); %d cases skipped", agree, total, 100*rate, skipped)
	if rate < suiteMinAgreement {
		t.Errorf("agreement %.1f%% is below %.0f%%", 100*rate, 100*suiteMinAgreement)
	}
}

// suiteRuns selects the runnable cases: R4, JSON input and supporting
// files, enabled, not in the terminology-server module, and needing no
// package beyond those embedded.
func suiteRuns(t *testing.T, dir string) (runs []suiteRun, skipped int) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Cases []suiteCase `json:"test-cases"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	for _, c := range manifest.Cases {
		if c.Version != "4.0" {
			continue
		}
		support := append(append([]string(nil), c.Supporting...), c.Profiles...)
		if !runnable(c, support) {
			skipped++
			continue
		}
		if s, ok := c.Java.(string); ok && s != "" {
			runs = append(runs, suiteRun{id: c.Name, file: c.File, support: support, expected: s})
		}
		if p := c.Profile; p != nil && p.Source != "" && allJSON(p.Supporting) && strings.HasSuffix(p.Source, ".json") {
			if s, ok := p.Java.(string); ok && s != "" {
				runs = append(runs, suiteRun{id: c.Name + "#profile", file: c.File, profile: p.Source,
					support: append(append([]string(nil), support...), append(p.Supporting, p.Source)...), expected: s})
			}
		}
	}
	return runs, skipped
}

func runnable(c suiteCase, support []string) bool {
	switch {
	case c.UseTest != nil && !*c.UseTest:
		return false
	case !strings.HasSuffix(c.File, ".json"), !allJSON(support):
		return false
	case c.Module == "tx" || len(c.Packages) > 0:
		return false
	}
	return true
}

func allJSON(files []string) bool {
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") {
			return false
		}
	}
	return true
}

// runSuiteCase validates one case and returns "valid" or "invalid", with
// the first error for the failure message.
func runSuiteCase(t *testing.T, dir string, run suiteRun) (verdict, detail string) {
	opts := Options{}
	if len(run.support) > 0 {
		pkg := fhirpkg.NewPackage("suite.supporting", "0.0.0", map[string]string{"hl7.fhir.r4.core": "4.0.1"})
		for _, f := range run.support {
			raw, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return "invalid", "supporting file missing: " + f
			}
			_ = pkg.AddResource(raw)
		}
		opts.Packages = []*fhirpkg.Package{pkg}
	}
	v, err := New(opts)
	if err != nil {
		return "invalid", err.Error()
	}
	body, err := os.ReadFile(filepath.Join(dir, run.file))
	if err != nil {
		return "invalid", err.Error()
	}
	var profiles []string
	if run.profile != "" {
		profiles = append(profiles, profileURL(t, filepath.Join(dir, run.profile)))
	}
	res, err := v.Validate(body, profiles...)
	if err != nil {
		return "invalid", err.Error()
	}
	checkMatchesValidate(t, run.id, v, body, profiles, res)
	if res.Valid() {
		return "valid", "no errors found"
	}
	for _, is := range res.Issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return "invalid", fmt.Sprintf("first error: %v %s", is.Expression, is.Diagnostics)
		}
	}
	return "invalid", ""
}

func profileURL(t *testing.T, file string) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(raw, &head)
	return head.URL
}

// expectedVerdict reads an expected OperationOutcome: invalid when it has
// an issue of severity error or fatal.
func expectedVerdict(t *testing.T, file string) string {
	raw, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatalf("expected outcome: %v", err)
	}
	var oo struct {
		Issue []struct {
			Severity string `json:"severity"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(raw, &oo); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, is := range oo.Issue {
		if is.Severity == "error" || is.Severity == "fatal" {
			return "invalid"
		}
	}
	return "valid"
}

// readReasons reads a list of "name: reason" lines; blank lines and lines
// starting with # are comments. Every entry must give a reason.
func readReasons(t *testing.T, file string) map[string]string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ": ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("%s: %q has no reason", file, line)
		}
		out[name] = reason
	}
	return out
}

// checkMatchesValidate requires Check to report exactly the errors of
// Validate's result res, in the same order.
func checkMatchesValidate(t *testing.T, name string, v *Validator, body []byte, profiles []string, res *Result) {
	t.Helper()
	checked, err := v.Check(body, profiles...)
	if err != nil {
		t.Errorf("%s: Check: %v", name, err)
		return
	}
	var want []outcome.Issue
	for _, is := range res.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			want = append(want, is)
		}
	}
	if checked.Valid() != res.Valid() || !reflect.DeepEqual(checked.Issues, want) {
		t.Errorf("%s: Check reported %d issues (valid %v), Validate %d errors (valid %v)", name, len(checked.Issues), checked.Valid(), len(want), res.Valid())
	}
}
