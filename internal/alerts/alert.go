package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Metric names one per-partner metric. The names match the keys of
// alerts.thresholds in the configuration.
type Metric string

// The metrics, in the order they are shown.
const (
	Requests           Metric = "requests"
	Patients           Metric = "patients"
	BytesOut           Metric = "bytes_out"
	Denials            Metric = "denials"
	ValidationFailures Metric = "validation_failures"
)

// Metrics lists every metric.
var Metrics = []Metric{Requests, Patients, BytesOut, Denials, ValidationFailures}

// Severity ranks an alert.
type Severity string

const (
	// Medium is a deviation from a partner's own history.
	Medium Severity = "medium"
	// High is a crossed fixed threshold or a canary hit. Only high alerts
	// may engage the kill switch.
	High Severity = "high"
)

// Rule ids besides threshold.METRIC and baseline.METRIC.
const (
	RuleCanary   = "canary"
	RuleOverload = "monitor.overload"
)

// Alert is one raised alert. It carries ids and numbers only, never an
// identifier, path, query or body.
type Alert struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Partner is the partner id, empty when the exchange was refused
	// before the partner was identified.
	Partner string `json:"partner"`
	// Metric is the metric a threshold or baseline rule compared; empty for
	// the other rules.
	Metric Metric `json:"metric,omitempty"`
	// Value is the highest sliding count seen while the alert was active,
	// and Limit the count it exceeded.
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	// Canary is the configuration key of the canary member that appeared,
	// such as alerts.canary_members[2]; empty for other rules.
	Canary string `json:"canary,omitempty"`
	// Message explains the alert in one sentence, without PHI.
	Message string `json:"message"`
	// ExchangeID is the exchange that raised the alert.
	ExchangeID string    `json:"exchange_id,omitempty"`
	Raised     time.Time `json:"raised"`
	LastSeen   time.Time `json:"last_seen"`
	// Detections counts the detections while the alert was active, the
	// first included.
	Detections int `json:"detections"`
	// CutRequested reports whether the alert was handed to EngageCut.
	CutRequested bool `json:"cut_requested"`
}

// key identifies an alert for deduplication.
type key struct {
	partner, rule, canary string
}

func (a *Alert) key() key { return key{a.Partner, a.Rule, a.Canary} }

func newAlertID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("alerts: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// partnerLabel returns the partner as shown in logs and metric labels.
func partnerLabel(p string) string {
	if p == "" {
		return "unidentified"
	}
	return p
}
