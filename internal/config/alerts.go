package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/egress"
)

// Alerts configures the anomaly alerts: per partner, sliding-window counts
// of requests, distinct patients, bytes sent to the partner, denials and
// strict-mode validation failures, compared with fixed thresholds and with
// a baseline learned per partner; and canary members whose identifiers
// must never appear in an exchange. Alerts are always on; these keys tune
// them.
type Alerts struct {
	// Window is the length of the sliding window every metric is counted
	// over, and the period baselines learn from; default 5m, between 1m and
	// 24h.
	Window time.Duration `yaml:"window"`
	// Baselines tunes the learned baselines.
	Baselines Baselines `yaml:"baselines"`
	// Thresholds are fixed per-window ceilings that apply to every partner.
	Thresholds Thresholds `yaml:"thresholds"`
	// WebhookURL, when set, receives each new alert as a JSON POST. It must
	// be an https URL whose host egress.allow permits.
	WebhookURL string `yaml:"webhook_url"`
	// KillSwitch engages a full cut of the partner, in both directions,
	// when a high-severity alert (a canary or a threshold) is raised for
	// it. Default false.
	KillSwitch bool `yaml:"kill_switch"`
	// CanaryMembers are member identifiers in FHIR token form
	// ("system|value") that belong to no real member. Their appearance in
	// any request or response raises a high-severity alert at once.
	CanaryMembers []string `yaml:"canary_members"`
}

// Baselines configures the learned per-partner baselines: an exponentially
// weighted mean and standard deviation of each metric's total per window.
type Baselines struct {
	// Enabled turns baseline alerts on or off; default on.
	Enabled *bool `yaml:"enabled"`
	// Sigmas is k in "alert above mean + k·σ"; default 4.
	Sigmas float64 `yaml:"sigmas"`
	// Alpha is the weight of the newest window in the moving averages,
	// between 0 and 1; default 0.1.
	Alpha float64 `yaml:"alpha"`
	// Warmup is how many windows a partner's baseline learns from before
	// it can raise alerts; default 12.
	Warmup int `yaml:"warmup"`
	// MinRequests is the request count in the sliding window below which a
	// partner raises no baseline alert. A quiet partner's first few
	// requests therefore do not alert. Default 20.
	MinRequests int64 `yaml:"min_requests"`
}

// On reports whether baseline alerts are enabled.
func (b Baselines) On() bool { return b.Enabled == nil || *b.Enabled }

// Thresholds are fixed ceilings per partner and window; 0 leaves a metric
// without a fixed threshold.
type Thresholds struct {
	// Requests counts every exchange with the partner.
	Requests int64 `yaml:"requests"`
	// Patients counts distinct patients or members the partner's allowed
	// exchanges named.
	Patients int64 `yaml:"patients"`
	// BytesOut counts body bytes sent to the partner: response bodies of
	// inbound exchanges and request bodies of outbound ones.
	BytesOut int64 `yaml:"bytes_out"`
	// Denials counts refused exchanges.
	Denials int64 `yaml:"denials"`
	// ValidationFailures counts refusals by strict mode (rule ids starting
	// with "strict.").
	ValidationFailures int64 `yaml:"validation_failures"`
}

// Alert defaults and limits.
const (
	DefaultAlertWindow      = 5 * time.Minute
	DefaultBaselineSigmas   = 4
	DefaultBaselineAlpha    = 0.1
	DefaultBaselineWarmup   = 12
	DefaultBaselineMinimum  = 20
	MinAlertWindow          = time.Minute
	MaxAlertWindow          = 24 * time.Hour
	maxCanaryMembers        = 1000
	maxCanaryMemberBytes    = 512
	maxBaselineWarmupWindow = 10000
)

func (a *Alerts) applyDefaults() {
	if a.Window == 0 {
		a.Window = DefaultAlertWindow
	}
	b := &a.Baselines
	if b.Sigmas == 0 {
		b.Sigmas = DefaultBaselineSigmas
	}
	if b.Alpha == 0 {
		b.Alpha = DefaultBaselineAlpha
	}
	if b.Warmup == 0 {
		b.Warmup = DefaultBaselineWarmup
	}
	if b.MinRequests == 0 {
		b.MinRequests = DefaultBaselineMinimum
	}
}

// ParseCanaryMember splits a canary member identifier in token form
// ("system|value") into its system and value.
func ParseCanaryMember(s string) (system, value string, err error) {
	system, value, ok := strings.Cut(s, "|")
	switch {
	case !ok:
		return "", "", errors.New(`missing "|": use the FHIR token form system|value`)
	case system == "" || value == "":
		return "", "", errors.New("both the system and the value are required: use system|value")
	case strings.Contains(value, "|"):
		return "", "", errors.New(`more than one "|": use system|value`)
	case len(s) > maxCanaryMemberBytes:
		return "", "", fmt.Errorf("longer than %d bytes", maxCanaryMemberBytes)
	case strings.TrimSpace(s) != s:
		return "", "", errors.New("leading or trailing spaces")
	}
	return system, value, nil
}

func (f *File) validateAlerts(v *validator) {
	a := f.Alerts
	if a.Window < MinAlertWindow || a.Window > MaxAlertWindow {
		v.addf("alerts.window", "%s is out of range: use a duration between %s and %s", a.Window, MinAlertWindow, MaxAlertWindow)
	}
	b := a.Baselines
	if b.Sigmas <= 0 || b.Sigmas > 100 {
		v.addf("alerts.baselines.sigmas", "%s is out of range: use a number above 0 and at most 100", strconv.FormatFloat(b.Sigmas, 'g', -1, 64))
	}
	if b.Alpha <= 0 || b.Alpha > 1 {
		v.addf("alerts.baselines.alpha", "%s is out of range: use a number above 0 and at most 1", strconv.FormatFloat(b.Alpha, 'g', -1, 64))
	}
	if b.Warmup < 1 || b.Warmup > maxBaselineWarmupWindow {
		v.addf("alerts.baselines.warmup", "%d is out of range: use a number of windows between 1 and %d", b.Warmup, maxBaselineWarmupWindow)
	}
	if b.MinRequests < 1 {
		v.addf("alerts.baselines.min_requests", "%d is out of range: use a count of at least 1", b.MinRequests)
	}
	t := a.Thresholds
	for _, th := range []struct {
		key   string
		value int64
	}{
		{"requests", t.Requests}, {"patients", t.Patients}, {"bytes_out", t.BytesOut},
		{"denials", t.Denials}, {"validation_failures", t.ValidationFailures},
	} {
		if th.value < 0 {
			v.addf("alerts.thresholds."+th.key, "%d is negative: use 0 for no fixed threshold, or a positive count", th.value)
		}
	}
	f.validateWebhook(v)
	f.validateCanaries(v)
}

// validateWebhook requires an https URL without credentials whose host the
// egress allowlist permits, because every connection the gateway opens
// goes through that allowlist.
func (f *File) validateWebhook(v *validator) {
	raw := f.Alerts.WebhookURL
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
		v.addf("alerts.webhook_url", "invalid value: use an https URL")
		return
	}
	if u.User != nil {
		v.addf("alerts.webhook_url", "the URL carries a user name or password: the receiver must authenticate the gateway another way")
		return
	}
	if err := f.checkEgressHost(u); err != nil {
		v.addf("alerts.webhook_url", "%v", err)
	}
}

// checkEgressHost requires the host and port of an https URL to be allowed
// by egress.allow, as the egress guard checks them before it connects, so
// a destination the guard would refuse at run time stops start-up instead.
// An invalid egress.allow is reported under its own key, so it returns nil.
func (f *File) checkEgressHost(u *url.URL) error {
	guard, err := egress.New(egress.Options{Allow: f.Egress.Allow})
	if err != nil {
		return nil
	}
	port := uint16(443)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid port %q", p)
		}
		port = uint16(n)
	}
	if err := guard.CheckHost(u.Hostname(), port); err != nil {
		return fmt.Errorf("the host %s is not allowed by egress.allow: add it there (%v)", net.JoinHostPort(u.Hostname(), strconv.Itoa(int(port))), err)
	}
	return nil
}

func (f *File) validateCanaries(v *validator) {
	list := f.Alerts.CanaryMembers
	if len(list) > maxCanaryMembers {
		v.addf("alerts.canary_members", "%d entries: list at most %d", len(list), maxCanaryMembers)
		return
	}
	seen := map[string]int{}
	for i, c := range list {
		at := fmt.Sprintf("alerts.canary_members[%d]", i)
		if _, _, err := ParseCanaryMember(c); err != nil {
			// The entry is not quoted: canary identifiers look like real
			// member identifiers and stay out of logs.
			v.addf(at, "invalid canary member identifier: %v", err)
			continue
		}
		if j, dup := seen[c]; dup {
			v.addf(at, "the same identifier as alerts.canary_members[%d]", j)
		}
		seen[c] = i
	}
}
