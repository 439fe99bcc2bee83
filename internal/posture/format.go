package posture

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes r for a terminal: every failed finding with its
// remediation, then one line per passed finding, then a summary judged at
// threshold.
func WriteTable(w io.Writer, r *Report, threshold Severity) error {
	checks := checkIndex(r.Checks)
	var b strings.Builder
	fmt.Fprintf(&b, "Gatehouse posture of %s (%s)\n\n", r.Subject, modeLabel(r.Mode))

	for _, f := range r.Findings {
		if !f.Failed() {
			continue
		}
		fmt.Fprintf(&b, "%-14s %-6s  %s  %s  %s\n", strings.ToUpper(string(f.Status)), f.Severity, f.Check, f.Control, where(f))
		fmt.Fprintf(&b, "    %s\n", f.Message)
		fmt.Fprintf(&b, "    fix: %s\n\n", checks[f.Check].Remediation)
	}

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, f := range r.Findings {
		if !f.Failed() {
			fmt.Fprintf(tw, "PASS\t%s\t%s\t%s\n", f.Check, f.Control, f.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	failed, passed := r.Counts()
	verdict := "PASS"
	if r.FailsAt(threshold) {
		verdict = "FAIL"
	}
	// A check reports one finding for each subject it examines, so the two
	// totals differ and each gets its own label.
	notPassed := failed[High] + failed[Medium] + failed[Low]
	fmt.Fprintf(&b, "\nChecks run: %d. Findings: %d (one for each key, partner or probe a check examined).\n",
		len(r.Checks), len(r.Findings))
	fmt.Fprintf(&b, "Findings by result: %d passed, %d not passed (%d high, %d medium, %d low).\n",
		passed, notPassed, failed[High], failed[Medium], failed[Low])
	fmt.Fprintf(&b, "Result: %s at threshold %s.\n", verdict, threshold)
	switch n := r.Incomplete(); {
	case n > 0 && r.KillSwitchEngaged:
		// The advice on the URL and credentials would mislead here, because
		// the gateway responded and its 503 names the kill switch.
		fmt.Fprintf(&b, "%d live probe(s) could not complete because a kill-switch cut covers the probing partner, so this run does not show that the gateway passes. "+
			"List the engaged cuts with 'gatehouse killswitch status' and release the cut with 'gatehouse killswitch release ID' for the audit, or probe as a partner that no cut covers. "+
			"Then run again, and engage the cut again afterwards if it is still needed.\n", n)
	case n > 0:
		fmt.Fprintf(&b, "%d live probe(s) could not complete, so this run does not show that the gateway passes: fix the errors above (the URL, --ca, --cert and --key) and run again.\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func modeLabel(m Mode) string {
	if m == ModeLive {
		return "live probes"
	}
	return "configuration audit"
}

// where returns the key and line of f for display.
func where(f Finding) string {
	switch {
	case f.Key != "" && f.Line > 0:
		return fmt.Sprintf("%s (line %d)", f.Key, f.Line)
	case f.Key != "":
		return f.Key
	}
	return "-"
}

func checkIndex(checks []Check) map[string]Check {
	m := make(map[string]Check, len(checks))
	for _, c := range checks {
		m[c.ID] = c
	}
	return m
}

// jsonReport is the JSON form of a Report.
type jsonReport struct {
	Subject    string        `json:"subject"`
	Mode       Mode          `json:"mode"`
	ConfigFile string        `json:"config_file,omitempty"`
	Threshold  Severity      `json:"threshold"`
	Passed     bool          `json:"passed"`
	Summary    jsonSummary   `json:"summary"`
	Findings   []jsonFinding `json:"findings"`
}

type jsonSummary struct {
	Checks int `json:"checks"`
	High   int `json:"high"`
	Medium int `json:"medium"`
	Low    int `json:"low"`
	Passed int `json:"passed"`
	// Incomplete counts the live probes that could not complete.
	Incomplete int `json:"incomplete,omitempty"`
}

type jsonFinding struct {
	Finding
	Title       string `json:"title"`
	Remediation string `json:"remediation,omitempty"`
}

// WriteJSON writes r as one indented JSON object. passed is false when a
// finding fails at threshold or above; remediation is set on failed
// findings only.
func WriteJSON(w io.Writer, r *Report, threshold Severity) error {
	checks := checkIndex(r.Checks)
	failed, passed := r.Counts()
	out := jsonReport{
		Subject: r.Subject, Mode: r.Mode, ConfigFile: r.ConfigFile, Threshold: threshold,
		Passed:   !r.FailsAt(threshold),
		Summary:  jsonSummary{Checks: len(r.Checks), High: failed[High], Medium: failed[Medium], Low: failed[Low], Passed: passed, Incomplete: r.Incomplete()},
		Findings: make([]jsonFinding, 0, len(r.Findings)),
	}
	for _, f := range r.Findings {
		jf := jsonFinding{Finding: f, Title: checks[f.Check].Title}
		if f.Failed() {
			jf.Remediation = checks[f.Check].Remediation
		}
		out.Findings = append(out.Findings, jf)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
