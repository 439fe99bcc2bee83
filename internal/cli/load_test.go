package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadSummary is the part of the load command's JSON output the tests
// read.
type loadSummary struct {
	Mode       string
	Rate       float64
	Sent       int64
	Missed     int64
	Successes  int64
	Rejected   int64
	Failures   int64
	Errors     int64
	Throughput float64
	Latency    struct{ P50, P90, P99, Max float64 } `json:"latency_ms"`
	Statuses   map[string]int64
	Requests   struct{ Distinct int }
}

func parseLoadSummary(t *testing.T, stdout string) loadSummary {
	t.Helper()
	var s loadSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	return s
}

// TestLoadDevGateway runs the load command against the development-mode
// gateway it starts itself, with the built-in requests.
func TestLoadDevGateway(t *testing.T) {
	code, stdout, stderr := run(t, context.Background(), "load", "--duration", "2s", "--rate", "20", "--json")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	s := parseLoadSummary(t, stdout)
	if s.Successes == 0 || s.Rejected != 0 || s.Errors != 0 || s.Failures != 0 {
		t.Errorf("successes %d, rejected %d, failures %d, errors %d; want successes only", s.Successes, s.Rejected, s.Failures, s.Errors)
	}
	if s.Statuses["200"] != s.Successes || len(s.Statuses) != 1 {
		t.Errorf("statuses %v, want only 200", s.Statuses)
	}
	// The schedule of 20/s for 2s has 40 requests. A slow machine sends
	// fewer and counts the rest missed, so the sum does not depend on its
	// speed, and nothing beyond the schedule is ever sent. Without --rate
	// reaching the pacing the sum would be 100 (the default 50/s) or the
	// closed loop would send far more than 40.
	if s.Rate != 20 {
		t.Errorf("rate %g, want the --rate of 20", s.Rate)
	}
	if s.Sent+s.Missed != 40 {
		t.Errorf("sent %d + missed %d, want the 40 due at 20/s for 2s", s.Sent, s.Missed)
	}
	if s.Sent > 40 {
		t.Errorf("sent %d, more than the 40 due at 20/s for 2s", s.Sent)
	}
	if s.Mode != "open loop" || s.Latency.P50 <= 0 || s.Latency.P99 < s.Latency.P50 || s.Latency.Max < s.Latency.P99 {
		t.Errorf("mode %q latency %+v, want open loop with ordered percentiles", s.Mode, s.Latency)
	}
	if !strings.Contains(stderr, "gatehouse: load:   1s: ") {
		t.Errorf("no progress line on stderr: %s", stderr)
	}
}

// TestLoadRunningGateway loads a gateway started with serve, found through
// its data directory, with the shipped PAS example bundles.
func TestLoadRunningGateway(t *testing.T) {
	data, _, serveErr := serveDev(t, "")

	code, stdout, stderr := run(t, context.Background(), "load", "--data", data, "--bundles", "../demo/bundles",
		"--duration", "1s", "--rate", "10", "--concurrency", "2", "--json")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s\nserve: %s", code, stderr, serveErr.String())
	}
	s := parseLoadSummary(t, stdout)
	if s.Successes == 0 || s.Errors != 0 || s.Failures != 0 || s.Requests.Distinct != 8 {
		t.Errorf("summary %+v, want successes only from the 8 replayable bundles", s)
	}
	if !strings.Contains(stderr, "gatehouse: warning: skipping pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json") {
		t.Errorf("no warning about the skipped update bundle: %s", stderr)
	}

	code, _, stderr = run(t, context.Background(), "load", "--data", data, "--target", "https://gatehouse.example.org", "--duration", "1s")
	if code != 1 || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("remote target: exit %d, stderr %q; want 1 and a loopback error", code, stderr)
	}
}

// TestLoadRunningGatewayRejections loads a gateway started with serve,
// whose payer has only the shipped example patient as a member, with the
// built-in requests for other patients. The payer rejects them with 200,
// and load counts them as rejected, fails and prints why.
func TestLoadRunningGatewayRejections(t *testing.T) {
	data, _, serveErr := serveDev(t, "")

	code, stdout, stderr := run(t, context.Background(), "load", "--data", data,
		"--duration", "1s", "--rate", "10", "--concurrency", "2", "--json")
	if code != 1 {
		t.Errorf("exit code %d, want 1 for rejections\nstderr: %s\nserve: %s", code, stderr, serveErr.String())
	}
	s := parseLoadSummary(t, stdout)
	if s.Sent == 0 || s.Rejected != s.Sent {
		t.Errorf("sent %d, rejected %d; want every request rejected", s.Sent, s.Rejected)
	}
	if s.Successes != 0 || s.Failures != 0 || s.Errors != 0 {
		t.Errorf("successes %d, failures %d, errors %d; want 0", s.Successes, s.Failures, s.Errors)
	}
	if s.Statuses["200"] != s.Sent {
		t.Errorf("statuses %v, want every rejection a 200", s.Statuses)
	}

	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"gatehouse: warning: ", "not members of the payer", "gatehouse payer load", "without --target"} {
		if !strings.Contains(last, want) {
			t.Errorf("last stderr line %q lacks %q", last, want)
		}
	}
}

func TestLoadUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"load", "--rate", "99999"}, "above the cap"},
		{[]string{"load", "--rate", "fast"}, `invalid --rate "fast"`},
		{[]string{"load", "--synthea", "a.tgz", "--bundles", "dir"}, "cannot be used together"},
		{[]string{"load", "extra"}, `unexpected argument "extra"`},
		{[]string{"load", "--write-bundles", "dir", "--target", "https://localhost:1"}, "--write-bundles cannot be combined with --target"},
		{[]string{"load", "--write-bundles", "dir", "--cert", "c.pem"}, "--write-bundles cannot be combined with --target, --data, --scope or a partner's files"},
		{[]string{"load", "--write-bundles", "dir", "--scope", "system/Claim.rs"}, "--write-bundles cannot be combined with --target, --data, --scope or a partner's files"},
		{[]string{"load", "--concurrency", "1000"}, "invalid --concurrency 1000: use 1 to 256"},
		{[]string{"load", "--duration", "11m"}, "invalid --duration 11m0s: use more than 0"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != 2 || !strings.Contains(stderr, "gatehouse: error: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// TestLoadTargetDefaultsData loads a running development gateway with
// --target alone: the partner's credentials come from ./gatehouse-data,
// as for 'gatehouse token'.
func TestLoadTargetDefaultsData(t *testing.T) {
	data, _, serveErr := serveDev(t, "")
	publicURL, err := readPublicURL(data)
	if err != nil {
		t.Fatal(err)
	}
	// The shipped bundles' patient is the development payer's member, so
	// the payer adjudicates them instead of rejecting an unknown member.
	bundles, err := filepath.Abs("../demo/bundles")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.Symlink(data, filepath.Join(work, "gatehouse-data")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)

	code, stdout, stderr := run(t, context.Background(), "load", "--target", publicURL, "--bundles", bundles,
		"--duration", "1s", "--rate", "5", "--concurrency", "1", "--json")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s\nserve: %s", code, stderr, serveErr.String())
	}
	if s := parseLoadSummary(t, stdout); s.Successes == 0 || s.Errors != 0 || s.Failures != 0 || s.Rejected != 0 {
		t.Errorf("summary %+v, want successes only", s)
	}
	if strings.Contains(stderr, "started a development-mode gateway") {
		t.Errorf("load started a gateway of its own:\n%s", stderr)
	}
}

// TestLoadTargetWithoutData runs --target in a directory without
// development data, and requires the error to name ./gatehouse-data and
// the hint to say how to create it.
func TestLoadTargetWithoutData(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := run(t, context.Background(), "load", "--target", "https://127.0.0.1:8443", "--duration", "1s")
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: no development gateway to load: ./gatehouse-data is not a development data directory") {
		t.Errorf("the error does not name ./gatehouse-data:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: start the gateway with 'gatehouse serve --data ./gatehouse-data'") {
		t.Errorf("no hint to start the gateway:\n%s", stderr)
	}
	if !strings.Contains(stderr, "against a gateway with a configuration file, pass a registered partner's files with --partner, --cert, --key, --ca and --assertion-key") {
		t.Errorf("no hint naming the registered partner's options:\n%s", stderr)
	}
}

func TestSkipReasons(t *testing.T) {
	tests := []struct {
		skipped map[string]int
		want    string
	}{
		{nil, ""},
		{map[string]int{"no insurance": 0}, ""},
		{map[string]int{"no items with a code": 6, "no insurance": 40}, ": 40 no insurance, 6 no items with a code"},
	}
	for _, tt := range tests {
		if got := skipReasons(tt.skipped); got != tt.want {
			t.Errorf("skipReasons(%v) = %q, want %q", tt.skipped, got, tt.want)
		}
	}
}
