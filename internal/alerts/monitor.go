package alerts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// Queue bounds of the payload inspections and the alert notifications.
const (
	maxQueuedInspections = 1024
	maxQueuedBodyBytes   = 64 << 20
	maxQueuedNotices     = 64
	recentAlerts         = 100
)

// BaselineOptions configures the learned baselines.
type BaselineOptions struct {
	Enabled bool
	// Sigmas is k in mean + k·σ.
	Sigmas float64
	// Alpha is the weight of the newest window, in (0, 1].
	Alpha float64
	// Warmup is the number of windows learned before alerts.
	Warmup int
	// MinRequests is the sliding request count below which no baseline
	// alert is raised.
	MinRequests float64
}

// Webhook is the endpoint new alerts are posted to as JSON.
type Webhook struct {
	URL string
	// Client sends the posts. It must be the gateway's egress-guarded
	// client, never http.DefaultClient; its Timeout bounds each post, and
	// a post without a Timeout is bounded to 10 seconds.
	Client *http.Client
}

// Options configures a Monitor. Window is required; every other field may
// be zero.
type Options struct {
	// Window is the sliding window of every metric and the period of
	// baseline learning.
	Window time.Duration
	// Thresholds maps a metric to its fixed ceiling per window; missing or
	// zero means none.
	Thresholds map[Metric]float64
	Baselines  BaselineOptions
	// CanaryMembers are identifiers in token form (system|value). They are
	// compared, never logged: alerts name them by CanaryKey and index.
	CanaryMembers []string
	// CanaryKey is the configuration key the canary list came from, used to
	// name a canary in alerts ("alerts.canary_members" gives
	// "alerts.canary_members[2]").
	CanaryKey string
	// Webhook, when set, receives each new alert.
	Webhook *Webhook
	// EngageCut, when set, is called with each new high-severity alert
	// that names a partner, to cut that partner off with the alert as the
	// reason. It runs on its own goroutine and may block.
	EngageCut func(ctx context.Context, a Alert) error
	// Registerer receives the alert metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Monitor watches completed exchanges and raises alerts. It implements the
// ObserveExchange method of gateway.Observer and gateway.PayloadObserver.
// Run must be running for payload inspections, webhooks and kill-switch
// calls to happen. It is safe for concurrent use.
type Monitor struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	salt     []byte
	canaries *canaries

	mu       sync.Mutex
	partners map[string]*partnerState
	active   map[key]*Alert
	recent   []Alert // newest last, at most recentAlerts
	queued   int     // body bytes waiting in inspections

	inspections chan inspection
	notices     chan Alert

	raised  *prometheus.CounterVec
	dropped prometheus.Counter
}

// inspection is one exchange waiting for its payload to be inspected.
type inspection struct {
	entry *record.Entry
	req   *fhirreq.Request
	// bundle is the request Bundle the gateway's policy engine parsed, nil
	// when it parsed none.
	bundle *fhirreq.Bundle
	at     time.Time
	size   int
}

// partnerState contains one partner's windows and baselines.
type partnerState struct {
	sums     map[Metric]*slidingSum
	patients *distinctSet

	// The tumbling window baselines learn from.
	windowStart   time.Time
	partial       bool // the first window started mid-way and is not learned
	totals        map[Metric]float64
	windowPatient map[patientKey]struct{}
	baselines     map[Metric]*baseline
}

// New checks opts and returns a Monitor.
func New(opts Options) (*Monitor, error) {
	if opts.Window <= 0 {
		return nil, errors.New("alerts: Options.Window must be positive")
	}
	b := opts.Baselines
	if b.Enabled && (b.Sigmas <= 0 || b.Alpha <= 0 || b.Alpha > 1 || b.Warmup < 1) {
		return nil, errors.New("alerts: baselines need Sigmas > 0, Alpha in (0, 1] and Warmup >= 1")
	}
	if opts.Webhook != nil && opts.Webhook.Client == nil {
		return nil, errors.New("alerts: Webhook.Client is required; pass the egress-guarded client")
	}
	c, err := compileCanaries(opts.CanaryMembers)
	if err != nil {
		return nil, err
	}
	m := &Monitor{
		opts:        opts,
		log:         opts.Logger,
		now:         opts.Now,
		salt:        make([]byte, 32),
		canaries:    c,
		partners:    map[string]*partnerState{},
		active:      map[key]*Alert{},
		inspections: make(chan inspection, maxQueuedInspections),
		notices:     make(chan Alert, maxQueuedNotices),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if _, err := rand.Read(m.salt); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if err := m.registerMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Monitor) registerMetrics(reg prometheus.Registerer) error {
	m.raised = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_alerts_total",
		Help: "Alerts raised, by partner, rule and severity. Repeated detections of an active alert are not counted.",
	}, []string{"partner", "rule", "severity"})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_alert_inspections_dropped_total",
		Help: "Exchanges whose payload was not inspected for patients and canaries because the inspection queue was full.",
	})
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_alerts_active",
		Help: "Alerts detected within the last window.",
	}, func() float64 { return float64(len(m.Active())) })
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.raised, m.dropped, active} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("alerts: register metrics: %w", err)
		}
	}
	return nil
}

// ObserveExchange counts one completed exchange: requests, bytes out,
// denials and validation failures, and checks their rules at once.
func (m *Monitor) ObserveExchange(e *record.Entry) {
	if e.Partner == "" {
		return
	}
	now := m.now()
	out := len(e.ResponseBody)
	if e.Direction == "outbound" {
		out = len(e.RequestBody)
	}
	add := map[Metric]float64{Requests: 1, BytesOut: float64(out)}
	if e.Decision == record.Deny {
		add[Denials] = 1
		if strings.HasPrefix(e.Rule, "strict.") {
			add[ValidationFailures] = 1
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.partner(e.Partner, now)
	for metric, v := range add {
		ps.sums[metric].add(now, v)
		ps.totals[metric] += v
	}
	for _, metric := range []Metric{Requests, BytesOut, Denials, ValidationFailures} {
		m.check(ps, e, metric, ps.sums[metric].value(now), now)
	}
}

// ObservePayload queues the exchange for inspection of the patients it
// names and of canary members. It does not wait for room in the queue:
// when the queue is full, the inspection is dropped, counted and reported
// by a monitor.overload alert. b, when set, is e.RequestBody already
// parsed (gateway.PayloadObserver), which spares decoding it again.
func (m *Monitor) ObservePayload(e *record.Entry, req *fhirreq.Request, b *fhirreq.Bundle) {
	if m.canaries.empty() && (e.Decision != record.Allow || req == nil || e.Partner == "") {
		return // no patient to count and no canary to look for
	}
	job := inspection{entry: e, req: req, bundle: b, at: m.now(), size: len(e.RequestBody) + len(e.ResponseBody)}
	m.mu.Lock()
	fits := m.queued+job.size <= maxQueuedBodyBytes
	if fits {
		select {
		case m.inspections <- job:
			m.queued += job.size
		default:
			fits = false
		}
	}
	if !fits {
		m.dropped.Inc()
		m.raise(&Alert{Rule: RuleOverload, Severity: Medium, Partner: "", ExchangeID: e.ExchangeID,
			Message: "payload inspections were skipped because the inspection queue was full; patients and canaries may be missed"}, job.at)
	}
	m.mu.Unlock()
}

// Run inspects queued payloads and sends notifications until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.sendNotices(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case job := <-m.inspections:
			m.inspect(job)
		}
	}
}

// inspect counts the patients an allowed exchange named and looks for
// canary members in the request and the response.
func (m *Monitor) inspect(job inspection) {
	e := job.entry
	var keys []patientKey
	if e.Decision == record.Allow && e.Partner != "" {
		for _, name := range patientNames(e, job.req, job.bundle) {
			keys = append(keys, hashPatient(m.salt, name))
		}
	}
	canary, hit := -1, false
	if !m.canaries.empty() {
		if canary, hit = m.canaries.matchQuery(e, job.req); !hit {
			if canary, hit = m.canaries.matchBody(e.RequestBody); !hit {
				canary, hit = m.canaries.matchBody(e.ResponseBody)
			}
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.queued -= job.size
	if hit {
		ref := fmt.Sprintf("%s[%d]", m.opts.CanaryKey, canary)
		m.raise(&Alert{Rule: RuleCanary, Severity: High, Partner: e.Partner, Canary: ref, ExchangeID: e.ExchangeID,
			Message: fmt.Sprintf("canary member %s appeared in an exchange (%s)", ref, interaction(e))}, job.at)
	}
	if len(keys) == 0 {
		return
	}
	ps := m.partner(e.Partner, job.at)
	for _, k := range keys {
		ps.patients.add(job.at, k)
		if len(ps.windowPatient) < maxPatientKeys {
			ps.windowPatient[k] = struct{}{}
		}
	}
	m.check(ps, e, Patients, ps.patients.count(job.at), job.at)
}

func interaction(e *record.Entry) string {
	if e.Interaction == "" {
		return "unparsed " + e.Direction + " request"
	}
	return e.Direction + " " + e.Interaction
}

// partner returns the partner's state, first closing every tumbling window
// that ended before now. m.mu must be held.
func (m *Monitor) partner(id string, now time.Time) *partnerState {
	ps, ok := m.partners[id]
	if !ok {
		ps = &partnerState{
			sums:          map[Metric]*slidingSum{},
			patients:      newDistinctSet(m.opts.Window),
			windowStart:   now.Truncate(m.opts.Window),
			partial:       true,
			totals:        map[Metric]float64{},
			windowPatient: map[patientKey]struct{}{},
			baselines:     map[Metric]*baseline{},
		}
		for _, metric := range Metrics {
			ps.sums[metric] = newSlidingSum(m.opts.Window)
			ps.baselines[metric] = &baseline{}
		}
		m.partners[id] = ps
	}
	m.closeWindows(ps, now)
	return ps
}

// maxIdleWindows bounds the empty windows learned after a partner was
// idle; after that many, the moving averages are as good as zero.
const maxIdleWindows = 1000

// closeWindows teaches the baselines every tumbling window that has ended.
func (m *Monitor) closeWindows(ps *partnerState, now time.Time) {
	w := m.opts.Window
	for n := 0; !now.Before(ps.windowStart.Add(w)); n++ {
		if n >= maxIdleWindows {
			ps.windowStart = now.Truncate(w)
			break
		}
		if !ps.partial && m.opts.Baselines.Enabled {
			ps.totals[Patients] = float64(len(ps.windowPatient))
			for _, metric := range Metrics {
				b := ps.baselines[metric]
				x := ps.totals[metric]
				if b.windows >= m.opts.Baselines.Warmup {
					x = min(x, b.limit(m.opts.Baselines.Sigmas))
				}
				b.learn(x, m.opts.Baselines.Alpha)
			}
		}
		ps.partial = false
		ps.windowStart = ps.windowStart.Add(w)
		clear(ps.totals)
		clear(ps.windowPatient)
	}
}

// check compares one metric's sliding value with its threshold and its
// baseline. m.mu must be held.
func (m *Monitor) check(ps *partnerState, e *record.Entry, metric Metric, value float64, now time.Time) {
	if limit := m.opts.Thresholds[metric]; limit > 0 && value > limit {
		m.raise(&Alert{Rule: "threshold." + string(metric), Severity: High, Partner: e.Partner, Metric: metric,
			Value: value, Limit: limit, ExchangeID: e.ExchangeID,
			Message: fmt.Sprintf("%s over the last %s is %s, above the threshold of %s", metric, m.opts.Window, formatCount(value), formatCount(limit))}, now)
	}
	bo := m.opts.Baselines
	b := ps.baselines[metric]
	if !bo.Enabled || b.windows < bo.Warmup || ps.sums[Requests].value(now) < bo.MinRequests {
		return
	}
	if limit := b.limit(bo.Sigmas); value > limit {
		m.raise(&Alert{Rule: "baseline." + string(metric), Severity: Medium, Partner: e.Partner, Metric: metric,
			Value: value, Limit: limit, ExchangeID: e.ExchangeID,
			Message: fmt.Sprintf("%s over the last %s is %s, above this partner's usual %s (mean %s + %s sigma)",
				metric, m.opts.Window, formatCount(value), formatCount(limit), formatCount(b.mean), formatCount(bo.Sigmas))}, now)
	}
}

func formatCount(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// raise records a detection. A new alert is logged, counted and queued for
// notification; a detection of an active alert only updates it. m.mu must
// be held.
func (m *Monitor) raise(a *Alert, now time.Time) {
	m.expire(now)
	if cur, ok := m.active[a.key()]; ok {
		cur.LastSeen = now
		cur.Detections++
		cur.Value = max(cur.Value, a.Value)
		m.updateRecent(cur)
		return
	}
	a.ID, a.Raised, a.LastSeen, a.Detections = newAlertID(), now, now, 1
	a.CutRequested = m.opts.EngageCut != nil && a.Severity == High && a.Partner != ""
	m.active[a.key()] = a
	m.recent = append(m.recent, *a)
	if len(m.recent) > recentAlerts {
		m.recent = slices.Delete(m.recent, 0, len(m.recent)-recentAlerts)
	}
	m.raised.WithLabelValues(partnerLabel(a.Partner), a.Rule, string(a.Severity)).Inc()
	level := slog.LevelWarn
	if a.Severity == High {
		level = slog.LevelError
	}
	m.log.Log(context.Background(), level, "alert raised", "alert", a.ID, "rule", a.Rule, "severity", string(a.Severity),
		"partner", partnerLabel(a.Partner), "metric", string(a.Metric), "value", a.Value, "limit", a.Limit,
		"canary", a.Canary, "exchange", a.ExchangeID, "cut_requested", a.CutRequested)
	select {
	case m.notices <- *a:
	default:
		m.log.Error("alert notification dropped: the notification queue is full", "alert", a.ID)
	}
}

func (m *Monitor) updateRecent(a *Alert) {
	for i := range m.recent {
		if m.recent[i].ID == a.ID {
			m.recent[i] = *a
		}
	}
}

// expire ends the alerts not detected for a window. m.mu must be held.
func (m *Monitor) expire(now time.Time) {
	for k, a := range m.active {
		if now.Sub(a.LastSeen) >= m.opts.Window {
			delete(m.active, k)
		}
	}
}

// Active returns the alerts detected within the last window, newest first.
func (m *Monitor) Active() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	out := make([]Alert, 0, len(m.active))
	for _, a := range m.active {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Alert) int { return b.Raised.Compare(a.Raised) })
	return out
}

// Recent returns up to the last 100 alerts raised, active or not, newest
// first.
func (m *Monitor) Recent() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.recent)
	slices.Reverse(out)
	return out
}
