// Package metrics holds Gatehouse's Prometheus metrics. Labels carry only
// bounded, non-sensitive values: partner ids from configuration,
// interactions in allowlist syntax, status codes and rule ids. Never a path,
// query, identifier or token.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// Metrics is the set of collectors one gateway process exports.
type Metrics struct {
	registry *prometheus.Registry

	exchanges       *prometheus.CounterVec
	denials         *prometheus.CounterVec
	exchangeSeconds *prometheus.HistogramVec
	upstreamSeconds prometheus.Histogram
	commitSeconds   prometheus.Histogram
	commitFailures  prometheus.Counter
	validation      *prometheus.CounterVec
	shadow          *prometheus.CounterVec
	jwksFetches     *prometheus.CounterVec
}

// New registers every collector, plus the Go runtime and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.exchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_exchanges_total",
		Help: "Exchanges completed, by partner, interaction, HTTP status and decision.",
	}, []string{"partner", "interaction", "status", "decision"})
	m.denials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_denials_total",
		Help: "Refused exchanges by partner and the rule that refused them.",
	}, []string{"partner", "rule"})
	m.exchangeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_exchange_duration_seconds",
		Help:    "Time from request received to response released, by decision.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"decision"})
	m.upstreamSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_upstream_duration_seconds",
		Help:    "Time spent waiting for the upstream FHIR server.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_record_commit_seconds",
		Help:    "Time to commit one exchange record entry durably.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.commitFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_record_commit_failures_total",
		Help: "Record entries that could not be committed; each made the gateway answer 503.",
	})
	m.validation = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_validation_failures_total",
		Help: "Bodies strict mode refused, by partner and direction (request or response).",
	}, []string{"partner", "rule"})
	m.shadow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_shadow_disagreements_total",
		Help: "Requests the shadow policy decided differently from the enforced one, by partner and rules.",
	}, []string{"partner", "enforced_rule", "candidate_rule"})
	m.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_jwks_fetches_total",
		Help: "Fetches of partners' JWK sets (partners[].jwks_url), by partner and outcome: fetched, failed, or expired (failed with the last good set too old, so the partner is rejected).",
	}, []string{"partner", "outcome"})
	m.registry.MustRegister(m.jwksFetches, m.shadow, m.exchanges, m.denials, m.exchangeSeconds, m.upstreamSeconds,
		m.commitSeconds, m.commitFailures, m.validation,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveJWKSFetch counts one fetch of a partner's JWK set; outcome is
// fetched, failed or expired.
func (m *Metrics) ObserveJWKSFetch(partner, outcome string) {
	m.jwksFetches.WithLabelValues(partner, outcome).Inc()
}

// Registry returns the registry, for components that add their own
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveExchange counts one completed exchange from its final record
// entry.
func (m *Metrics) ObserveExchange(e *record.Entry) {
	partner := e.Partner
	if partner == "" {
		partner = "unidentified"
	}
	interaction := e.Interaction
	if interaction == "" {
		interaction = "unparsed"
	}
	m.exchanges.WithLabelValues(partner, interaction, strconv.Itoa(e.Status), string(e.Decision)).Inc()
	if e.Decision == record.Deny {
		m.denials.WithLabelValues(partner, e.Rule).Inc()
		if strings.HasPrefix(e.Rule, "strict.") {
			m.validation.WithLabelValues(partner, e.Rule).Inc()
		}
	}
	m.exchangeSeconds.WithLabelValues(string(e.Decision)).Observe(e.TotalTime.Seconds())
	if e.UpstreamTime > 0 {
		m.upstreamSeconds.Observe(e.UpstreamTime.Seconds())
	}
}

// ObserveCommit records the latency of one record commit and whether it
// failed.
func (m *Metrics) ObserveCommit(d time.Duration, err error) {
	if err != nil {
		m.commitFailures.Inc()
		return
	}
	m.commitSeconds.Observe(d.Seconds())
}

// ObserveShadow counts one disagreement between the enforced and the
// candidate policy.
func (m *Metrics) ObserveShadow(partner, enforcedRule, candidateRule string) {
	m.shadow.WithLabelValues(partner, enforcedRule, candidateRule).Inc()
}
