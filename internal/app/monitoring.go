package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/alerts"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/console"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/metrics"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// monitoring contains the components that watch completed exchanges besides
// the metrics: the anomaly alerts and the console's activity feed.
type monitoring struct {
	alerts   *alerts.Monitor
	activity *console.Activity
	console  *console.Console // nil when the admin listener is disabled
}

// startMonitoring starts the anomaly alerts and, when the admin listener is
// enabled, builds the console. It needs the kill switch, the record store
// and the egress guard.
func (rt *Running) startMonitoring(ctx context.Context, cfg *config.File, log *slog.Logger, now func() time.Time) error {
	mon, err := newAlertMonitor(cfg, rt.Metrics, rt.egress, rt.engageForAlert, log, now)
	if err != nil {
		return err
	}
	rt.monitoring = &monitoring{alerts: mon, activity: console.NewActivity(now)}
	go mon.Run(rt.bg)
	if cfg.Admin.Listen == "" {
		return nil
	}
	// NOTE: the console's verification trusts the gateway's own checkpoint
	// key, the verifier of audit.signing_key_file. It detects changes made
	// to the database behind the gateway, but not a compromised gateway
	// host, which could sign anything. Detecting that needs a verifier key
	// kept elsewhere (gatehouse audit verify --key).
	verifyOpts := consoleVerifyOptions(cfg, rt.auditKeys)
	reader, err := auditlog.NewReader(ctx, rt.DB)
	if err != nil {
		return err
	}
	db := rt.DB
	api := http.NewServeMux()
	for pattern, h := range killswitch.Handlers(rt.KillSwitch, rt.Records) {
		api.Handle(pattern, h)
	}
	rt.monitoring.console, err = console.New(console.Options{
		Config:     cfg,
		ConfigFile: rt.configFile,
		Activity:   rt.monitoring.activity,
		Alerts:     mon,
		AuditLog: consoleAuditLog{reader: reader, verify: func(ctx context.Context, progress func(done, total int64)) (*auditlog.Report, error) {
			opts := verifyOpts
			opts.Progress = progress
			return auditlog.Verify(ctx, db, opts)
		}},
		KillSwitch:    rt.KillSwitch,
		KillSwitchAPI: api,
		Logger:        log.With("component", "console"),
		Now:           now,
	})
	return err
}

// consoleVerifyOptions returns the options of the console's audit log
// verification. It checks shredding against audit.retention, as `audit
// verify --config` does, so that bodies destroyed sooner than the
// deployment keeps them are reported as tampering.
func consoleVerifyOptions(cfg *config.File, keys *auditKeys) auditlog.VerifyOptions {
	return auditlog.VerifyOptions{LogKey: keys.verifier, RetiredKeys: keys.retired, Retention: cfg.Audit.Retention}
}

// newAlertMonitor compiles the alerts section of cfg. engage cuts a
// partner off; it is used only when alerts.kill_switch is true.
func newAlertMonitor(cfg *config.File, m *metrics.Metrics, eg *egress.Guard, engage func(context.Context, alerts.Alert) error,
	log *slog.Logger, now func() time.Time) (*alerts.Monitor, error) {
	a := cfg.Alerts
	th := a.Thresholds
	opts := alerts.Options{
		Window: a.Window,
		Thresholds: map[alerts.Metric]float64{
			alerts.Requests: float64(th.Requests), alerts.Patients: float64(th.Patients), alerts.BytesOut: float64(th.BytesOut),
			alerts.Denials: float64(th.Denials), alerts.ValidationFailures: float64(th.ValidationFailures),
		},
		Baselines: alerts.BaselineOptions{Enabled: a.Baselines.On(), Sigmas: a.Baselines.Sigmas, Alpha: a.Baselines.Alpha,
			Warmup: a.Baselines.Warmup, MinRequests: float64(a.Baselines.MinRequests)},
		CanaryMembers: a.CanaryMembers,
		CanaryKey:     "alerts.canary_members",
		Registerer:    m.Registry(),
		Logger:        log.With("component", "alerts"),
		Now:           now,
	}
	if a.WebhookURL != "" {
		// Through the egress guard, like every connection the gateway opens.
		opts.Webhook = &alerts.Webhook{URL: a.WebhookURL, Client: eg.HTTPClient(egress.ClientOptions{Timeout: 10 * time.Second})}
	}
	if a.KillSwitch {
		opts.EngageCut = engage
		log.Warn("alerts may engage the kill switch: a canary or threshold alert cuts its partner off in both directions")
	}
	return alerts.New(opts)
}

// engageForAlert engages a full cut of the alert's partner in both
// directions and records it, unless a full cut already covers the partner.
func (rt *Running) engageForAlert(ctx context.Context, a alerts.Alert) error {
	if c := rt.KillSwitch.Check(a.Partner, killswitch.Inbound, nil); c != nil {
		return nil
	}
	reason := fmt.Sprintf("alert %s (%s): %s", a.ID, a.Rule, a.Message)
	if len(reason) > 500 {
		reason = reason[:497] + "..."
	}
	cut := &killswitch.Cut{Mode: killswitch.Full, Scope: "partner:" + a.Partner, Direction: killswitch.Both,
		Reason: reason, EngagedBy: "alerts"}
	if err := rt.KillSwitch.Engage(ctx, cut); err != nil {
		return err
	}
	body, _ := json.Marshal(cut)
	_, err := rt.Records.Append(ctx, &record.Entry{
		ExchangeID:   a.ID,
		Phase:        record.PhaseControl,
		Direction:    "admin",
		Partner:      a.Partner,
		Method:       http.MethodPost,
		Interaction:  "killswitch.engage",
		Rule:         fmt.Sprintf("killswitch.cut-%d", cut.ID),
		Reason:       cut.Reason,
		Status:       http.StatusCreated,
		RequestType:  "application/json",
		ResponseBody: body,
		Received:     time.Now(),
		Source:       "alerts",
	})
	if err != nil {
		// The cut stays: failing open is worse than an unrecorded cut.
		return fmt.Errorf("cut %d is engaged but could not be recorded: %w", cut.ID, err)
	}
	return nil
}

// consoleAuditLog gives the console the latest checkpoint and a full
// verification of the log.
type consoleAuditLog struct {
	reader *auditlog.Reader
	verify func(ctx context.Context, progress func(done, total int64)) (*auditlog.Report, error)
}

func (l consoleAuditLog) LatestCheckpoint(ctx context.Context) (*auditlog.SignedCheckpoint, error) {
	return l.reader.LatestCheckpoint(ctx)
}

func (l consoleAuditLog) Verify(ctx context.Context, progress func(done, total int64)) (*auditlog.Report, error) {
	return l.verify(ctx, progress)
}

// observer returns what the gateway reports completed exchanges to: the
// metrics, the alerts and the console's feed.
func (rt *Running) observer() gateway.Observer {
	if rt.monitoring == nil {
		return rt.Metrics
	}
	return &observerTee{Metrics: rt.Metrics, alerts: rt.monitoring.alerts, activity: rt.monitoring.activity}
}

// observerTee forwards the gateway's observations; the embedded metrics
// take commits and shadow decisions.
type observerTee struct {
	*metrics.Metrics
	alerts   *alerts.Monitor
	activity *console.Activity
}

func (t *observerTee) ObserveExchange(e *record.Entry) {
	t.Metrics.ObserveExchange(e)
	t.alerts.ObserveExchange(e)
	t.activity.ObserveExchange(e)
}

// ObservePayload implements gateway.PayloadObserver for the alerts.
func (t *observerTee) ObservePayload(e *record.Entry, req *fhirreq.Request, b *fhirreq.Bundle) {
	t.alerts.ObservePayload(e, req, b)
}
