package config

import (
	"strings"
	"testing"
	"time"
)

func TestAlertsDefaults(t *testing.T) {
	f, err := Parse([]byte(validYAML), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a := f.Alerts
	if a.Window != DefaultAlertWindow || !a.Baselines.On() || a.Baselines.Sigmas != DefaultBaselineSigmas ||
		a.Baselines.Alpha != DefaultBaselineAlpha || a.Baselines.Warmup != DefaultBaselineWarmup || a.Baselines.MinRequests != DefaultBaselineMinimum {
		t.Errorf("alert defaults = %+v", a)
	}
	if a.KillSwitch || a.WebhookURL != "" || len(a.CanaryMembers) != 0 {
		t.Errorf("alerts act by default: %+v", a)
	}
}

func TestAlertsParse(t *testing.T) {
	doc := validYAML + `
alerts:
  window: 10m
  baselines: {enabled: false, sigmas: 3.5, alpha: 0.2, warmup: 6, min_requests: 50}
  thresholds: {requests: 5000, patients: 200, bytes_out: 50000000, denials: 100, validation_failures: 20}
  webhook_url: https://engine.payer.internal/hooks/gatehouse
  kill_switch: true
  canary_members: ["http://payer.example/member|CANARY-1", "http://payer.example/member|CANARY-2"]
`
	f, err := Parse([]byte(doc), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a := f.Alerts
	if a.Window != 10*time.Minute || a.Baselines.On() || a.Baselines.Sigmas != 3.5 || a.Thresholds.Patients != 200 ||
		!a.KillSwitch || len(a.CanaryMembers) != 2 {
		t.Errorf("alerts = %+v", a)
	}
}

func TestAlertsErrorsNameKeyPath(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "alerts: {windw: 5m}", `alerts.windw (line`},
		{"unknown threshold", "alerts:\n  thresholds: {volume: 5}", `alerts.thresholds.volume (line`},
		{"short window", "alerts: {window: 10s}", "alerts.window: 10s is out of range"},
		{"negative threshold", "alerts: {thresholds: {denials: -1}}", "alerts.thresholds.denials: -1 is negative"},
		{"alpha", "alerts: {baselines: {alpha: 1.5}}", "alerts.baselines.alpha: 1.5 is out of range"},
		{"sigmas", "alerts: {baselines: {sigmas: -2}}", "alerts.baselines.sigmas: -2 is out of range"},
		{"warmup", "alerts: {baselines: {warmup: -1}}", "alerts.baselines.warmup: -1 is out of range"},
		{"plain webhook", "alerts: {webhook_url: 'http://engine.payer.internal/h'}", "alerts.webhook_url: invalid value: use an https URL"},
		{"webhook credentials", "alerts: {webhook_url: 'https://u:p@engine.payer.internal/h'}", "alerts.webhook_url: the URL carries a user name or password"},
		{"webhook not allowed", "alerts: {webhook_url: 'https://hooks.example.com/h'}", "alerts.webhook_url: the host hooks.example.com:443 is not allowed by egress.allow"},
		{"canary without bar", "alerts: {canary_members: [CANARY-1]}", `alerts.canary_members[0]: invalid canary member identifier: missing "|"`},
		{"canary without system", "alerts: {canary_members: ['|CANARY-1']}", "alerts.canary_members[0]: invalid canary member identifier: both the system and the value"},
		{"duplicate canary", "alerts: {canary_members: ['s|v', 's|v']}", "alerts.canary_members[1]: the same identifier as alerts.canary_members[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(validYAML+tt.yaml+"\n"), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the document")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCanaryErrorsHideIdentifier(t *testing.T) {
	_, err := Parse([]byte(validYAML+"alerts: {canary_members: ['SECRET-MEMBER-42']}\n"), "/etc/gatehouse")
	if err == nil || strings.Contains(err.Error(), "SECRET-MEMBER-42") {
		t.Errorf("error = %v, want one that does not quote the identifier", err)
	}
}
