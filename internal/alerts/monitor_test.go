package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

const canaryMember = "http://example.org/MIN|CANARY-0001"

type fixture struct {
	t       *testing.T
	m       *Monitor
	clock   *clocktest.Clock
	reg     *prometheus.Registry
	logs    *bytes.Buffer
	engaged []Alert
	mu      sync.Mutex
}

func newFixture(t *testing.T, change func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	opts := Options{
		Window:        5 * time.Minute,
		Baselines:     BaselineOptions{Enabled: true, Sigmas: 4, Alpha: 0.1, Warmup: 12, MinRequests: 20},
		CanaryMembers: []string{"urn:other|X-1", canaryMember},
		CanaryKey:     "alerts.canary_members",
		Registerer:    f.reg,
		Logger:        slog.New(slog.NewTextHandler(f.logs, nil)),
		Now:           f.clock.Now,
	}
	if change != nil {
		change(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.m = m
	return f
}

// drain runs the queued inspections and hands queued notices to the kill
// switch callback synchronously, as Run would.
func (f *fixture) drain() {
	for {
		select {
		case job := <-f.m.inspections:
			f.m.inspect(job)
		case a := <-f.m.notices:
			if a.CutRequested {
				if err := f.m.opts.EngageCut(context.Background(), a); err != nil {
					f.t.Errorf("EngageCut: %v", err)
				}
			}
		default:
			return
		}
	}
}

// exchange feeds one completed exchange through both observer methods.
func (f *fixture) exchange(e *record.Entry, req *fhirreq.Request) {
	if e.ExchangeID == "" {
		e.ExchangeID = "ex-" + f.clock.Now().Format("150405.000000")
	}
	f.m.ObserveExchange(e)
	f.m.ObservePayload(e, req, nil)
	f.drain()
}

// metric sums the samples of the named metric whose label values include
// every one of values.
func (f *fixture) metric(name string, values ...string) float64 {
	f.t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	var total float64
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]bool{}
			for _, l := range m.GetLabel() {
				have[l.GetValue()] = true
			}
			match := true
			for _, v := range values {
				match = match && have[v]
			}
			if match {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return total
}

func parseRequest(t *testing.T, method, target string, body []byte) *fhirreq.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body != nil {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	req, err := fhirreq.ParseWithBody(r, "/fhir", body)
	if err != nil {
		t.Fatalf("parse %s %s: %v", method, target, err)
	}
	return req
}

func allowed(partner string, responseBytes int) *record.Entry {
	return &record.Entry{Partner: partner, Direction: "inbound", Decision: record.Allow, Status: 200,
		Interaction: "Claim/$submit", ResponseBody: make([]byte, responseBytes)}
}

func rules(alerts []Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Partner+" "+a.Rule)
	}
	return out
}

// normalLoad plays windows of steady traffic: about perMinute requests a
// minute with random jitter, 2% of them denied.
func (f *fixture) normalLoad(partner string, windows, perMinute int, rng *rand.Rand) {
	for range windows * 5 {
		n := perMinute + rng.IntN(perMinute/5+1) - perMinute/10
		for i := range n {
			e := allowed(partner, 2000+rng.IntN(500))
			if rng.IntN(50) == 0 {
				e.Decision, e.Rule, e.Status = record.Deny, "policy.scope", 403
			}
			_ = i
			f.exchange(e, nil)
			f.clock.Advance(time.Minute / time.Duration(n))
		}
	}
}

func TestNormalLoadStaysQuiet(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Thresholds = map[Metric]float64{Requests: 1000, BytesOut: 10 << 20, Denials: 50}
	})
	rng := rand.New(rand.NewPCG(1, 2))
	f.normalLoad("ehr-a", 40, 30, rng)
	f.normalLoad("ehr-b", 40, 8, rng)
	if got := f.m.Recent(); len(got) != 0 {
		t.Fatalf("alerts on normal load: %v", rules(got))
	}
	if n := f.metric("gatehouse_alerts_total"); n != 0 {
		t.Errorf("gatehouse_alerts_total = %v, want 0", n)
	}
}

func TestBurstRaisesBaselineAlert(t *testing.T) {
	f := newFixture(t, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	f.normalLoad("ehr-a", 20, 30, rng)
	if got := f.m.Recent(); len(got) != 0 {
		t.Fatalf("alerts during warm-up and normal load: %v", rules(got))
	}

	// A replayed burst: ten times the usual rate for two minutes.
	for range 600 {
		f.exchange(allowed("ehr-a", 2200), nil)
		f.clock.Advance(200 * time.Millisecond)
	}
	active := f.m.Active()
	var got *Alert
	for i := range active {
		if active[i].Rule == "baseline.requests" {
			got = &active[i]
		}
	}
	if got == nil {
		t.Fatalf("no baseline.requests alert; active: %v", rules(active))
	}
	if got.Severity != Medium || got.Partner != "ehr-a" || got.Metric != Requests {
		t.Errorf("alert = %+v, want a medium requests alert for ehr-a", *got)
	}
	if got.Value <= got.Limit {
		t.Errorf("alert value %v is not above its limit %v", got.Value, got.Limit)
	}
	if got.Detections < 2 {
		t.Errorf("detections = %d, want the burst to be detected again while active", got.Detections)
	}
	if n := f.metric("gatehouse_alerts_total", "ehr-a", "baseline.requests"); n != 1 {
		t.Errorf("gatehouse_alerts_total for the burst = %v, want 1", n)
	}
	if got.CutRequested {
		t.Error("a medium alert requested a kill-switch cut")
	}
}

func TestBaselineNeedsWarmup(t *testing.T) {
	f := newFixture(t, nil)
	// A burst from a partner never seen before: no history, no baseline.
	for range 500 {
		f.exchange(allowed("new-ehr", 1000), nil)
		f.clock.Advance(100 * time.Millisecond)
	}
	if got := f.m.Recent(); len(got) != 0 {
		t.Errorf("alerts before warm-up: %v", rules(got))
	}
}

func TestThresholdsFire(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Baselines.Enabled = false
		o.Thresholds = map[Metric]float64{Requests: 100, BytesOut: 1 << 20, Denials: 10, ValidationFailures: 5, Patients: 20}
	})
	tests := []struct {
		name  string
		rule  string
		entry func(i int) (*record.Entry, *fhirreq.Request)
	}{
		{"requests", "threshold.requests", func(int) (*record.Entry, *fhirreq.Request) { return allowed("p1", 10), nil }},
		{"bytes out", "threshold.bytes_out", func(int) (*record.Entry, *fhirreq.Request) { return allowed("p2", 200_000), nil }},
		{"denials", "threshold.denials", func(int) (*record.Entry, *fhirreq.Request) {
			return &record.Entry{Partner: "p3", Decision: record.Deny, Rule: "policy.scope", Status: 403}, nil
		}},
		{"validation failures", "threshold.validation_failures", func(int) (*record.Entry, *fhirreq.Request) {
			return &record.Entry{Partner: "p4", Decision: record.Deny, Rule: "strict.request", Status: 422}, nil
		}},
		{"outbound bytes", "threshold.bytes_out", func(int) (*record.Entry, *fhirreq.Request) {
			return &record.Entry{Partner: "p5", Direction: "outbound", Decision: record.Allow, RequestBody: make([]byte, 300_000)}, nil
		}},
		{"patients", "threshold.patients", func(i int) (*record.Entry, *fhirreq.Request) {
			return &record.Entry{Partner: "p6", Decision: record.Allow, Interaction: "Patient.read"},
				parseRequest(t, "GET", "/fhir/Patient/p"+string(rune('a'+i%26))+string(rune('a'+i/26)), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 150 {
				e, req := tt.entry(i)
				f.exchange(e, req)
				f.clock.Advance(100 * time.Millisecond)
			}
			partner, _ := tt.entry(0)
			var found bool
			for _, a := range f.m.Active() {
				if a.Partner == partner.Partner && a.Rule == tt.rule {
					found = true
					if a.Severity != High {
						t.Errorf("severity %s, want high", a.Severity)
					}
				}
			}
			if !found {
				t.Errorf("no %s alert for %s; active: %v", tt.rule, partner.Partner, rules(f.m.Active()))
			}
		})
	}
}

func TestCanaryFiresOnce(t *testing.T) {
	var engaged []Alert
	f := newFixture(t, func(o *Options) {
		o.EngageCut = func(_ context.Context, a Alert) error {
			engaged = append(engaged, a)
			return nil
		}
	})
	body := []byte(`{"resourceType":"Parameters","parameter":[{"name":"MemberPatient","resource":{"resourceType":"Patient",` +
		`"identifier":[{"system":"http://example.org/MIN","value":"CANARY-0001"},{"system":"http://example.org/MIN","value":"CANARY-0001"}]}}]}`)
	for range 3 {
		e := &record.Entry{Partner: "ehr-a", Decision: record.Deny, Rule: "policy.interaction", Status: 403, RequestBody: body}
		f.exchange(e, nil)
		f.clock.Advance(time.Second)
	}
	recent := f.m.Recent()
	if len(recent) != 1 {
		t.Fatalf("alerts = %v, want one canary alert", rules(recent))
	}
	a := recent[0]
	if a.Rule != RuleCanary || a.Severity != High || a.Partner != "ehr-a" {
		t.Errorf("alert = %+v", a)
	}
	if a.Canary != "alerts.canary_members[1]" {
		t.Errorf("canary = %q, want alerts.canary_members[1]", a.Canary)
	}
	if a.Detections != 3 {
		t.Errorf("detections = %d, want 3", a.Detections)
	}
	if n := f.metric("gatehouse_alerts_total", "ehr-a", "canary"); n != 1 {
		t.Errorf("gatehouse_alerts_total = %v, want 1", n)
	}
	if len(engaged) != 1 || engaged[0].ID != a.ID {
		t.Errorf("kill-switch callback calls = %d, want 1 with the canary alert", len(engaged))
	}
	if strings.Contains(f.logs.String(), "CANARY-0001") {
		t.Errorf("the log contains the canary identifier:\n%s", f.logs.String())
	}

	// Once the alert has been quiet for a window, a new appearance is a
	// new alert.
	f.clock.Advance(6 * time.Minute)
	f.exchange(&record.Entry{Partner: "ehr-a", Decision: record.Deny, RequestBody: body}, nil)
	if n := len(f.m.Recent()); n != 2 {
		t.Errorf("alerts after a quiet window = %d, want 2", n)
	}
}

func TestCanaryPlaces(t *testing.T) {
	pasBody, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	pasCanary := bytes.Replace(pasBody, []byte(`"value":"12345678901"`), []byte(`"value":"CANARY-0001"`), 1)
	tests := []struct {
		name   string
		entry  *record.Entry
		target string // parsed into the request when set
		want   bool
	}{
		{"search token", &record.Entry{Partner: "a", Decision: record.Deny}, "/fhir/Patient?identifier=http://example.org/MIN%7CCANARY-0001", true},
		{"search value alone", &record.Entry{Partner: "a", Decision: record.Deny}, "/fhir/Coverage?subscriber-id=CANARY-0001", true},
		{"search other system", &record.Entry{Partner: "a", Decision: record.Deny}, "/fhir/Patient?identifier=urn:x%7CCANARY-0001", false},
		{"unparsed target", &record.Entry{Partner: "", Decision: record.Deny, Target: "/fhir/Patient?identifier=http://example.org/MIN%7CCANARY-0001"}, "", true},
		{"PAS request body", &record.Entry{Partner: "a", Decision: record.Allow, RequestBody: pasCanary}, "", true},
		{"response body", &record.Entry{Partner: "a", Decision: record.Allow, ResponseBody: pasCanary}, "", true},
		{"escaped JSON", &record.Entry{Partner: "a", Decision: record.Deny,
			RequestBody: []byte(`{"identifier":{"system":"http://example.org/MIN","value":"CANARY\u002d0001"}}`)}, "", true},
		{"token string", &record.Entry{Partner: "a", Decision: record.Deny,
			RequestBody: []byte(`{"parameter":[{"valueString":"http://example.org/MIN|CANARY-0001"}]}`)}, "", true},
		{"value in another system", &record.Entry{Partner: "a", Decision: record.Deny,
			RequestBody: []byte(`{"identifier":{"system":"urn:x","value":"CANARY-0001"}}`)}, "", false},
		{"plain PAS body", &record.Entry{Partner: "a", Decision: record.Allow, RequestBody: pasBody}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			var req *fhirreq.Request
			if tt.target != "" {
				req = parseRequest(t, "GET", tt.target, nil)
			}
			f.exchange(tt.entry, req)
			got := len(f.m.Recent()) == 1
			if got != tt.want {
				t.Errorf("canary alert raised = %v, want %v (alerts %v)", got, tt.want, rules(f.m.Recent()))
			}
		})
	}
}

func TestPatientNames(t *testing.T) {
	pasBody, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		target string
		body   []byte
		want   []string
	}{
		{"read", "GET", "/fhir/Patient/123", nil, []string{"id:123"}},
		{"instance operation", "GET", "/fhir/Patient/123/$everything", nil, []string{"id:123"}},
		{"patient parameter", "GET", "/fhir/Claim?patient=Patient/9,Patient/10", nil, []string{"id:9", "id:10"}},
		{"subject with a patient", "GET", "/fhir/Observation?subject=Patient/7", nil, []string{"id:7"}},
		{"subject with a group", "GET", "/fhir/Observation?subject=Group/7", nil, nil},
		{"chained identifier", "GET", "/fhir/Claim?patient.identifier=urn:m%7C55", nil, []string{"identifier:urn:m|55"}},
		{"patient identifier", "GET", "/fhir/Patient?identifier=urn:m%7C55", nil, []string{"identifier:urn:m|55"}},
		{"no patient", "GET", "/fhir/Claim?status=active", nil, nil},
		{"PAS submit", "POST", "/fhir/Claim/$submit", pasBody, []string{"identifier:http://example.org/MIN|12345678901"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseRequest(t, tt.method, tt.target, tt.body)
			got := patientNames(&record.Entry{RequestBody: tt.body}, req, nil)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("patientNames = %q, want %q", got, tt.want)
			}
		})
	}
}

// The patient of a PAS Bundle the gateway already parsed is read from the
// parsed entries: with the body gone from the entry, it is still found.
func TestPatientNamesFromParsedBundle(t *testing.T) {
	pasBody, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fhirreq.ParseBundle(pasBody)
	if err != nil {
		t.Fatal(err)
	}
	req := parseRequest(t, "POST", "/fhir/Claim/$submit", pasBody)
	got := patientNames(&record.Entry{}, req, b)
	if want := "identifier:http://example.org/MIN|12345678901"; len(got) != 1 || got[0] != want {
		t.Errorf("patientNames = %q, want [%q]", got, want)
	}
}

func TestPatientsCountedHashed(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Thresholds = map[Metric]float64{Patients: 2} })
	for _, id := range []string{"a", "b", "a", "c"} {
		f.exchange(&record.Entry{Partner: "p", Decision: record.Allow}, parseRequest(t, "GET", "/fhir/Patient/"+id, nil))
	}
	// Refused reads touch no patient.
	f.exchange(&record.Entry{Partner: "q", Decision: record.Deny}, parseRequest(t, "GET", "/fhir/Patient/z", nil))

	f.m.mu.Lock()
	n := f.m.partners["p"].patients.count(f.clock.Now())
	refused := f.m.partners["q"].patients.count(f.clock.Now())
	f.m.mu.Unlock()
	if n != 3 {
		t.Errorf("distinct patients = %v, want 3", n)
	}
	if refused != 0 {
		t.Errorf("patients of refused exchanges = %v, want 0", refused)
	}
	a := f.m.Active()
	if len(a) != 1 || a[0].Rule != "threshold.patients" || a[0].Value != 3 {
		t.Errorf("alerts = %+v, want threshold.patients at 3", a)
	}
	// The window slides: five minutes later the patients are forgotten.
	f.clock.Advance(5*time.Minute + time.Second)
	f.m.mu.Lock()
	n = f.m.partners["p"].patients.count(f.clock.Now())
	f.m.mu.Unlock()
	if n != 0 {
		t.Errorf("distinct patients after the window = %v, want 0", n)
	}
}

func TestKillSwitchOnlyForHighAlerts(t *testing.T) {
	var calls []Alert
	f := newFixture(t, func(o *Options) {
		o.Thresholds = map[Metric]float64{Denials: 3}
		o.EngageCut = func(_ context.Context, a Alert) error {
			calls = append(calls, a)
			return nil
		}
	})
	for range 5 {
		f.exchange(&record.Entry{Partner: "ehr-x", Decision: record.Deny, Rule: "token.invalid"}, nil)
	}
	if len(calls) != 1 {
		t.Fatalf("EngageCut calls = %d, want 1", len(calls))
	}
	if calls[0].Rule != "threshold.denials" || calls[0].Partner != "ehr-x" || !calls[0].CutRequested {
		t.Errorf("EngageCut got %+v", calls[0])
	}
	// An unidentified exchange with a canary cannot cut anyone off.
	f.exchange(&record.Entry{Decision: record.Deny, Target: "/fhir/Patient?identifier=CANARY-0001"}, nil)
	if len(calls) != 1 {
		t.Errorf("EngageCut was called for an alert without a partner")
	}
}

func TestOverloadReported(t *testing.T) {
	f := newFixture(t, nil)
	e := &record.Entry{Partner: "p", Decision: record.Deny, RequestBody: []byte(`{}`)}
	for range maxQueuedInspections + 5 {
		f.m.ObservePayload(e, nil, nil) // nothing drains the queue
	}
	if n := f.metric("gatehouse_alert_inspections_dropped_total"); n != 5 {
		t.Errorf("dropped inspections = %v, want 5", n)
	}
	a := f.m.Active()
	if len(a) != 1 || a[0].Rule != RuleOverload || a[0].Detections != 5 {
		t.Errorf("alerts = %+v, want one monitor.overload alert with 5 detections", a)
	}
}

func TestWebhookAndRun(t *testing.T) {
	got := make(chan webhookBody, 4)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhookBody
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &b); err != nil {
			t.Errorf("webhook body %q: %v", data, err)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook content type %q", r.Header.Get("Content-Type"))
		}
		got <- b
	}))
	defer srv.Close()
	cut := make(chan Alert, 1)
	f := newFixture(t, func(o *Options) {
		o.Webhook = &Webhook{URL: srv.URL + "/hook?token=secret", Client: srv.Client()}
		o.EngageCut = func(_ context.Context, a Alert) error { cut <- a; return nil }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	e := &record.Entry{ExchangeID: "x1", Partner: "ehr-a", Decision: record.Deny, Target: "/fhir/Patient?identifier=CANARY-0001"}
	f.m.ObserveExchange(e)
	f.m.ObservePayload(e, nil, nil)
	select {
	case b := <-got:
		if b.Alert.Rule != RuleCanary || b.Alert.Partner != "ehr-a" || b.Source != "gatehouse" {
			t.Errorf("webhook received %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook received nothing")
	}
	select {
	case a := <-cut:
		if a.ExchangeID != "x1" {
			t.Errorf("cut for exchange %q, want x1", a.ExchangeID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the kill-switch callback was not called")
	}
}

func TestWebhookFailureHidesURL(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL + "/hook?token=secret", Client: srv.Client()}
	err := sendWebhook(context.Background(), wh, Alert{ID: "a"})
	if err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("error = %v, want the status", err)
	}
	srv.Close()
	err = sendWebhook(context.Background(), wh, Alert{ID: "a"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error = %v, want a failure that does not quote the URL", err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no window", Options{}},
		{"webhook without client", Options{Window: time.Minute, Webhook: &Webhook{URL: "https://x"}}},
		{"bad canary", Options{Window: time.Minute, CanaryMembers: []string{"nobar"}}},
		{"bad baseline", Options{Window: time.Minute, Baselines: BaselineOptions{Enabled: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Error("New accepted the options")
			}
		})
	}
}

func TestCanaryMayContain(t *testing.T) {
	c, err := compileCanaries([]string{"urn:x|CANARY-0001", "urn:y|M-7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"value present", `{"value":"CANARY-0001"}`, true},
		{"second value present", `{"a":"xM-7y"}`, true},
		{"unicode escape", `{"value":"CANARY\u002d0001"}`, true},
		{"unicode escape elsewhere", `{"div":"caf\u00e9"}`, true},
		{"short escapes only", `{"div":"<div xmlns=\"urn:x\">a\/b\n</div>","value":"CANARY-0002"}`, false},
		{"no value, no escape", `{"resourceType":"Claim","value":"CANARY-0002"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.mayContain([]byte(tt.body)); got != tt.want {
				t.Errorf("mayContain(%s) = %v, want %v", tt.body, got, tt.want)
			}
		})
	}

	// A value with a slash may be written with the escape \/, and one with
	// U+FFFD as invalid UTF-8, so either turns the prefilter off.
	slash, err := compileCanaries([]string{"urn:x|A/B"})
	if err != nil {
		t.Fatal(err)
	}
	if _, hit := slash.matchBody([]byte(`{"identifier":{"system":"urn:x","value":"A\/B"}}`)); !hit {
		t.Error("matchBody missed a canary value written with an escaped slash")
	}
	odd, err := compileCanaries([]string{"urn:x|A\uFFFDB"})
	if err != nil {
		t.Fatal(err)
	}
	if !odd.mayContain([]byte(`{"value":"A` + "\xff" + `B"}`)) {
		t.Error("mayContain = false for a body whose invalid UTF-8 decodes to the canary value")
	}
	if _, hit := odd.matchBody([]byte(`{"identifier":{"system":"urn:x","value":"A` + "\xff" + `B"}}`)); !hit {
		t.Error("matchBody missed a canary value written with invalid UTF-8")
	}
}
