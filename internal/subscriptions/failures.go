package subscriptions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// failureRepeatLog is the minimum time between two "still failing" log
// lines of one Subscription. The first failure and the recovery are
// always logged, so an operator sees both edges of an outage.
const failureRepeatLog = 5 * time.Minute

// Delivery steps, the "step" attribute of failure logs.
const (
	stepToken = "token request"
	stepPOST  = "notification POST"
	stepSend  = "POST to the outbound listener"
)

// deliveryError is a failed attempt. Its text names the step that failed
// and the HTTP status, never a URL, body or token.
type deliveryError struct {
	step     string
	status   int    // 0 when no response arrived
	exchange string // the gateway's X-Request-Id, "" when unknown
	hint     string
}

func (e *deliveryError) Error() string {
	msg := "subscriptions: " + e.step + " failed"
	if e.status != 0 {
		msg += fmt.Sprintf(" with HTTP %d", e.status)
	}
	if e.hint != "" {
		msg += ": " + e.hint
	}
	return msg
}

// TokenRefusalText is the diagnostics of the rejection the gateway's
// outbound listener sends (status 502, rule outbound.token) when it cannot
// obtain an access token from the partner's token endpoint. The sender
// matches it because the response has no other mark of that step. A test
// in internal/app keeps it equal to gateway.OutboundTokenRefusal.
const TokenRefusalText = "no access token could be obtained from the partner's authorization server"

// classifyResponse returns the error for a non-2xx response of the
// outbound listener. body is read only to recognise the gateway's own
// token rejection and is never logged.
func classifyResponse(resp *http.Response, body []byte) *deliveryError {
	e := &deliveryError{step: stepPOST, status: resp.StatusCode, exchange: resp.Header.Get("X-Request-Id")}
	switch {
	case resp.StatusCode == http.StatusBadGateway && isTokenRefusal(body):
		e.step = stepToken
		e.hint = "the gateway could not obtain an access token from the partner's token endpoint. " +
			"Its log line \"outbound credential unavailable\" for this exchange has the token endpoint's status. " +
			"Check partners[].outbound.token_url, client_id and the assertion key"
	case resp.StatusCode == http.StatusUnauthorized:
		e.hint = "the partner's endpoint rejected the access token. " +
			"Check that partners[].outbound.token_url is the partner's token endpoint and that client_id and scopes are registered there"
	case resp.StatusCode == http.StatusForbidden:
		e.hint = "the gateway or the partner's endpoint rejected the notification, and the exchange record names the rule"
	default:
		e.hint = "the partner's endpoint or the gateway returned a non-2xx status"
	}
	return e
}

func isTokenRefusal(body []byte) bool {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return false
	}
	for _, is := range oo.Issue {
		if is.Code == "transient" && strings.Contains(is.Diagnostics, TokenRefusalText) {
			return true
		}
	}
	return false
}

// failureState is one Subscription's outage as this Hub has seen it.
type failureState struct {
	since    time.Time // first failure of the outage
	lastLog  time.Time
	failures int // failed attempts since since
	unlogged int // failed attempts since lastLog that were not logged
}

// logFailure logs a failed attempt: the first of an outage at once, later
// ones at most once per failureRepeatLog with the number left unlogged.
// The line contains ids, the step, the status, counts and the error.
// The error text contains no body or token, and send strips the request
// URL from its errors.
func (h *Hub) logFailure(o outboxRow, partner string, cause error, wait time.Duration) {
	now := h.now()
	h.failMu.Lock()
	st, seen := h.failing[o.subscription]
	if !seen {
		st = &failureState{since: now}
		h.failing[o.subscription] = st
	}
	st.failures++
	logNow := !seen || now.Sub(st.lastLog) >= failureRepeatLog
	unlogged := st.unlogged
	if logNow {
		st.lastLog, st.unlogged = now, 0
	} else {
		st.unlogged++
	}
	failures, since := st.failures, st.since
	h.failMu.Unlock()
	if !logNow {
		return
	}

	attrs := []any{"partner", partner, "subscription", o.subscription, "kind", o.kind, "event", o.event,
		"attempt", o.attempts + 1, "retry_in", wait.String()}
	var de *deliveryError
	if errors.As(cause, &de) {
		attrs = append(attrs, "step", de.step, "status", de.status)
		if de.exchange != "" {
			attrs = append(attrs, "exchange", de.exchange)
		}
	}
	attrs = append(attrs, "error", cause)
	if !seen {
		h.log.Warn("subscriptions: delivery failed; will retry", attrs...)
		return
	}
	attrs = append(attrs, "failures", failures, "failures_not_logged", unlogged, "down_for", now.Sub(since).Round(time.Second).String())
	h.log.Warn("subscriptions: delivery still failing; will retry", attrs...)
}

// logRecovered logs the first delivery after failed attempts of a
// Subscription and drops its outage state.
func (h *Hub) logRecovered(o outboxRow, partner string) {
	h.failMu.Lock()
	st, ok := h.failing[o.subscription]
	delete(h.failing, o.subscription)
	h.failMu.Unlock()
	if !ok {
		return
	}
	h.log.Info("subscriptions: delivery recovered", "partner", partner, "subscription", o.subscription,
		"kind", o.kind, "event", o.event, "failures", st.failures,
		"down_for", h.now().Sub(st.since).Round(time.Second).String())
}

// forgetFailures drops the outage state of a Subscription that is turned
// off, whose queue will never deliver.
func (h *Hub) forgetFailures(id string) {
	h.failMu.Lock()
	delete(h.failing, id)
	h.failMu.Unlock()
}

// retryAfterStart makes every notification whose retry wait runs past
// the claim lease due now. It runs once per Hub, before its first round.
// A restart is usually an operator's fix, such as a corrected token URL,
// so waiting out a backoff of minutes would delay the check of that fix.
// The rows keep their attempt counts, so a partner that is really down
// gets one extra attempt per start and then the backoff it had.
// Rows due within the lease are left alone, because a row another
// replica has claimed looks the same and would be sent twice.
// NOTE: replicas with clocks more than a few seconds apart can still
// move a fresh claim of another replica forward.
func (h *Hub) retryAfterStart(ctx context.Context) {
	now := h.now()
	after := now.Add(claimLease + 5*time.Second).UTC().Format(timeLayout)
	res, err := h.db.ExecContext(ctx, sqlRetryNow, now.UTC().Format(timeLayout), after)
	if err != nil {
		h.log.Error("subscriptions: making retries due at start failed", "error", err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		h.log.Info("subscriptions: retrying failed notifications at start", "notifications", n)
	}
}
