package posture

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/posture.md from the catalogue")

// TestCatalogueDoc fails when docs/posture.md differs from the catalogue;
// -update rewrites it.
func TestCatalogueDoc(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCatalogue(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "posture.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("docs/posture.md is stale: run go test ./internal/posture -run TestCatalogueDoc -update")
	}
	for _, c := range Catalogue() {
		if !bytes.Contains(got, []byte("| "+c.ID+" |")) {
			t.Errorf("docs/posture.md lacks %s", c.ID)
		}
	}
}

// sarifDoc is the subset of SARIF 2.1.0 that code-scanning services read.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID               string `json:"id"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
					Help struct {
						Text string `json:"text"`
					} `json:"help"`
					Properties map[string]any `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func TestSARIFStructure(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	r := Audit(fx.target(t))
	var b bytes.Buffer
	if err := WriteSARIF(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc sarifDoc
	dec := json.NewDecoder(&b)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("SARIF does not decode into the expected shape: %v", err)
	}
	if doc.Version != "2.1.0" || !strings.Contains(doc.Schema, "sarif-2.1.0") || len(doc.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", doc.Version, doc.Schema, len(doc.Runs))
	}
	run := doc.Runs[0]
	if run.Tool.Driver.Name == "" || len(run.Tool.Driver.Rules) != len(r.Checks) {
		t.Fatalf("driver %q with %d rules, want %d", run.Tool.Driver.Name, len(run.Tool.Driver.Rules), len(r.Checks))
	}
	for _, rule := range run.Tool.Driver.Rules {
		sev, err := strconv.ParseFloat(rule.Properties["security-severity"].(string), 64)
		if err != nil || sev <= 0 || sev > 10 {
			t.Errorf("%s: security-severity %v", rule.ID, rule.Properties["security-severity"])
		}
		if rule.ShortDescription.Text == "" || rule.Help.Text == "" {
			t.Errorf("%s: missing shortDescription or help", rule.ID)
		}
	}

	data, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	failed := 0
	for _, f := range r.Findings {
		if f.Failed() {
			failed++
		}
	}
	if len(run.Results) != failed || failed == 0 {
		t.Fatalf("%d results, want %d (the findings that did not pass)", len(run.Results), failed)
	}
	withRegion := 0
	for _, res := range run.Results {
		if res.RuleIndex < 0 || res.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("%s: ruleIndex %d does not point at its rule", res.RuleID, res.RuleIndex)
		}
		if !slices.Contains([]string{"error", "warning", "note"}, res.Level) || res.Message.Text == "" {
			t.Errorf("%s: level %q message %q", res.RuleID, res.Level, res.Message.Text)
		}
		if len(res.Locations) != 1 || !strings.HasSuffix(res.Locations[0].PhysicalLocation.ArtifactLocation.URI, "/weak.yaml") {
			t.Errorf("%s: locations %+v", res.RuleID, res.Locations)
			continue
		}
		if reg := res.Locations[0].PhysicalLocation.Region; reg != nil {
			withRegion++
			if reg.StartLine < 1 || reg.StartLine > len(lines) {
				t.Errorf("%s: startLine %d outside the file", res.RuleID, reg.StartLine)
			}
		}
	}
	if withRegion == 0 {
		t.Error("no result has a region")
	}
}

func TestTableAndJSON(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	r := Audit(fx.target(t))
	var table bytes.Buffer
	if err := WriteTable(&table, r, Medium); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL ", "fix: ", "Result: FAIL at threshold medium.", "GH-TOK-001"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r, Medium); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Passed   bool
		Findings []struct {
			Check, Status, Severity, Title, Remediation string
			Line                                        int
		}
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Passed || len(out.Findings) != len(r.Findings) {
		t.Errorf("passed %v with %d findings, want false with %d", out.Passed, len(out.Findings), len(r.Findings))
	}
	if f := out.Findings[0]; f.Status != "fail" || f.Severity != "high" || f.Title == "" || f.Remediation == "" {
		t.Errorf("first finding %+v", f)
	}
}

// TestTableSummaryLabels requires the summary to label the count of
// checks, of findings and of passed findings, which differ because a
// check reports one finding per subject.
func TestTableSummaryLabels(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	r := Audit(fx.target(t))
	var table bytes.Buffer
	if err := WriteTable(&table, r, Medium); err != nil {
		t.Fatal(err)
	}
	failed, passed := r.Counts()
	notPassed := failed[High] + failed[Medium] + failed[Low]
	if notPassed == 0 || passed == 0 {
		t.Fatalf("weak.yaml gives %d passed and %d not passed findings, want both", passed, notPassed)
	}
	for _, want := range []string{
		fmt.Sprintf("Checks run: %d. Findings: %d ", len(r.Checks), len(r.Findings)),
		fmt.Sprintf("Findings by result: %d passed, %d not passed (%d high, %d medium, %d low).", passed, notPassed, failed[High], failed[Medium], failed[Low]),
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, table.String())
		}
	}
}
