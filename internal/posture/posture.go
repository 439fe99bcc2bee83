package posture

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity ranks what a failed check puts at risk. The zero value is not a
// valid severity.
type Severity int

// Severities, lowest first.
const (
	Low Severity = iota + 1
	Medium
	High
)

// String returns "low", "medium" or "high".
func (s Severity) String() string {
	switch s {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity parses "low", "medium" or "high".
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "low":
		return Low, nil
	case "medium":
		return Medium, nil
	case "high":
		return High, nil
	}
	return 0, fmt.Errorf("posture: invalid severity %q: use high, medium or low", s)
}

// Status is the outcome of one finding.
type Status string

const (
	// Pass means the control is in place.
	Pass Status = "pass"
	// Fail means the configuration or the live gateway breaks the control.
	Fail Status = "fail"
	// NotConfigured means the control is absent because this version of
	// Gatehouse has no configuration key for it yet.
	NotConfigured Status = "not-configured"
	// Error means the check could not run, for example because a file it
	// reads is missing or a probe could not connect.
	Error Status = "error"
)

// Mode is the kind of input a check examines.
type Mode string

const (
	// ModeConfig checks a configuration and the files it names.
	ModeConfig Mode = "config"
	// ModeLive probes a running gateway over the network.
	ModeLive Mode = "live"
)

// Check is one entry of the catalogue. Its texts are the user's manual for
// the finding: Title states what good looks like, Rationale why it matters,
// Remediation what to change.
type Check struct {
	// ID is stable across versions, such as GH-TLS-001.
	ID string
	// Control is the design control the check serves, C1 to C14.
	Control string
	// Severity is the severity of a failure, unless a finding sets its own.
	Severity    Severity
	Mode        Mode
	Title       string
	Rationale   string
	Remediation string

	config func(*Target) []result
	live   func(*prober) []result
}

// Finding is the outcome of a check on one subject: the configuration as a
// whole, one key, one partner or one probe.
type Finding struct {
	Check    string   `json:"check"`
	Status   Status   `json:"status"`
	Severity Severity `json:"severity"`
	Control  string   `json:"control"`
	// Key is the configuration key path the finding is about, such as
	// partners[0].scopes[2]; empty when it concerns no single key.
	Key string `json:"key,omitempty"`
	// Line is the line of Key in the configuration file; 0 when unknown.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Failed reports whether f counts against a threshold: every status but
// Pass does.
func (f Finding) Failed() bool { return f.Status != Pass }

// result is what a check function returns; Audit and Probe complete it
// into a Finding.
type result struct {
	status   Status
	severity Severity // 0 means the check's severity
	key      string
	msg      string
}

func pass(key, format string, args ...any) result {
	return result{status: Pass, key: key, msg: fmt.Sprintf(format, args...)}
}

func fail(key, format string, args ...any) result {
	return result{status: Fail, key: key, msg: fmt.Sprintf(format, args...)}
}

// failAt is fail with a severity other than the check's.
func failAt(sev Severity, key, format string, args ...any) result {
	r := fail(key, format, args...)
	r.severity = sev
	return r
}

// notConfigured reports a control that the configuration cannot express
// yet. Such findings are low: the product lacks the control, and no
// setting of this configuration could add it.
func notConfigured(format string, args ...any) result {
	return result{status: NotConfigured, severity: Low, msg: fmt.Sprintf(format, args...)}
}

// errorResult reports a check that could not run.
func errorResult(key, format string, args ...any) result {
	return result{status: Error, severity: Low, key: key, msg: fmt.Sprintf(format, args...)}
}

// Report is the outcome of an audit or a probe run.
type Report struct {
	// Subject names what was examined: a configuration file, the
	// development configuration of a data directory, or a gateway URL.
	Subject string `json:"subject"`
	Mode    Mode   `json:"mode"`
	// ConfigFile is the configuration file findings point into; empty for
	// the development configuration and for live probes.
	ConfigFile string    `json:"config_file,omitempty"`
	Findings   []Finding `json:"findings"`
	// KillSwitchEngaged is set when some live probe got the 503 with which
	// the gateway rejects a request under an engaged kill-switch cut.
	KillSwitchEngaged bool `json:"kill_switch_engaged,omitempty"`
	// Checks are the catalogue entries that ran, in ID order.
	Checks []Check `json:"-"`
}

// Counts returns how many findings failed at each severity, and how many
// passed.
func (r *Report) Counts() (failed map[Severity]int, passed int) {
	failed = map[Severity]int{}
	for _, f := range r.Findings {
		if f.Failed() {
			failed[f.Severity]++
		} else {
			passed++
		}
	}
	return failed, passed
}

// Incomplete returns how many live probes could not complete, such as a
// handshake whose server certificate did not verify or a refused
// connection. It is 0 for a configuration audit.
func (r *Report) Incomplete() int {
	if r.Mode != ModeLive {
		return 0
	}
	n := 0
	for _, f := range r.Findings {
		if f.Status == Error {
			n++
		}
	}
	return n
}

// FailsAt reports whether some finding failed at threshold or above. A live
// report with a probe that could not complete fails at every threshold,
// because it does not show that the gateway has the control.
func (r *Report) FailsAt(threshold Severity) bool {
	if r.Incomplete() > 0 {
		return true
	}
	for _, f := range r.Findings {
		if f.Failed() && f.Severity >= threshold {
			return true
		}
	}
	return false
}

// sortFindings orders failures first, then by severity (highest first),
// check id and key, so output is stable.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Failed() != b.Failed() {
			if a.Failed() {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := strings.Compare(a.Check, b.Check); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// complete turns the results of c into findings, locating keys with lines.
func complete(c Check, results []result, lines func(string) int) []Finding {
	out := make([]Finding, 0, len(results))
	for _, r := range results {
		sev := r.severity
		if sev == 0 {
			sev = c.Severity
		}
		f := Finding{Check: c.ID, Status: r.status, Severity: sev, Control: c.Control, Key: r.key, Message: r.msg}
		if lines != nil && r.key != "" {
			f.Line = lines(r.key)
		}
		out = append(out, f)
	}
	return out
}
