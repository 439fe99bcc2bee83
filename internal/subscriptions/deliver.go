package subscriptions

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// errorAfter is the number of failed attempts in a row after which an
// active Subscription's status becomes error.
const errorAfter = 3

// deliveryTimeout bounds one delivery attempt, and the lease a sender
// holds on a notification is this long plus a margin.
const deliveryTimeout = 30 * time.Second

// claimLease is how far a sender moves a notification's due time when it
// claims it, so that other senders skip it during the attempt.
const claimLease = deliveryTimeout + 10*time.Second

// headsPerRound is the max number of due notifications one round reads
// (sqlDueHeads), at most one per Subscription.
const headsPerRound = 64

// Run delivers notifications and queues heartbeats until ctx ends. It
// returns nil when ctx is cancelled, once its delivery attempts have
// ended, and an error at once when the Hub has no Delivery.
func (h *Hub) Run(ctx context.Context) error {
	if !h.sending {
		return errors.New("subscriptions: Run needs Options.Delivery")
	}
	var senders sync.WaitGroup
	defer senders.Wait()
	ticker := time.NewTicker(h.delivery.PollInterval)
	defer ticker.Stop()
	for {
		h.dispatch(ctx, &senders)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Tick runs one round of Run: it queues due heartbeats and makes one
// attempt at every due notification of each partner that has no attempts
// running, then waits for those attempts. It sends each partner's
// notifications in turn and different partners' in parallel. Errors are
// logged.
func (h *Hub) Tick(ctx context.Context) {
	var senders sync.WaitGroup
	h.dispatch(ctx, &senders)
	senders.Wait()
}

// dispatch, in a Hub's first round, makes retries due (retryAfterStart).
// Then it turns off ended Subscriptions, purges those off for longer
// than the retention (once per purgeInterval at most) and queues due
// heartbeats. Then it starts, on senders, one goroutine per partner with
// due notifications, unless that partner's previous goroutine is still
// running. The skip matters because an attempt can take deliveryTimeout.
// Without it, a partner whose endpoint keeps requests open would delay
// every other partner's notifications in every round.
func (h *Hub) dispatch(ctx context.Context, senders *sync.WaitGroup) {
	if h.sending {
		h.startOnce.Do(func() { h.retryAfterStart(ctx) })
	}
	if err := h.turnOffEnded(ctx); err != nil {
		h.log.Error("subscriptions: turning off ended Subscriptions failed", "error", err)
	}
	if h.purgeDue() {
		if err := h.purge(ctx); err != nil {
			h.log.Error("subscriptions: purging turned-off Subscriptions failed", "error", err)
		}
	}
	if err := h.queueHeartbeats(ctx); err != nil {
		h.log.Error("subscriptions: heartbeat failed", "error", err)
	}
	if !h.sending {
		return
	}
	heads, err := h.dueHeads(ctx)
	if err != nil {
		h.log.Error("subscriptions: read queue failed", "error", err)
		return
	}
	byPartner := make(map[string][]outboxRow)
	for _, o := range heads {
		byPartner[o.partner] = append(byPartner[o.partner], o)
	}
	for partner, queue := range byPartner {
		if !h.startSending(partner) {
			continue
		}
		senders.Go(func() {
			defer h.stopSending(partner)
			for _, o := range queue {
				if ctx.Err() != nil {
					return
				}
				h.attempt(ctx, o)
			}
		})
	}
}

// startSending marks partner as having a sender goroutine and reports
// whether it had none.
func (h *Hub) startSending(partner string) bool {
	h.sendingMu.Lock()
	defer h.sendingMu.Unlock()
	if h.sendingTo[partner] {
		return false
	}
	h.sendingTo[partner] = true
	return true
}

func (h *Hub) stopSending(partner string) {
	h.sendingMu.Lock()
	defer h.sendingMu.Unlock()
	delete(h.sendingTo, partner)
}

// outboxRow is one queued notification.
type outboxRow struct {
	subscription string
	partner      string
	seq          int64
	kind         string
	event        int64
	attempts     int
	due          string
}

func (h *Hub) dueHeads(ctx context.Context) ([]outboxRow, error) {
	rows, err := h.db.QueryContext(ctx, sqlDueHeads, h.stamp(), headsPerRound)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var o outboxRow
		if err := rows.Scan(&o.subscription, &o.partner, &o.seq, &o.kind, &o.event, &o.attempts, &o.due); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// attempt claims a queued notification, sends it and records the result.
// The claim moves the row's due time past the attempt, so that another
// sender sharing the database skips it.
func (h *Hub) attempt(ctx context.Context, o outboxRow) {
	lease := h.now().Add(claimLease).UTC().Format(timeLayout)
	res, err := h.db.ExecContext(ctx, sqlClaimOutbox, lease, o.subscription, o.seq, o.due)
	if err != nil {
		h.log.Error("subscriptions: claim notification failed", "subscription", o.subscription, "seq", o.seq, "error", err)
		return
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return // another sender has it
	}

	err = h.send(ctx, o)
	// The outcome is written even when ctx was cancelled mid-attempt (a
	// shutdown), so the row leaves its lease at once instead of waiting for
	// it to expire. NOTE: a sender killed outright still leaves the row
	// leased until the lease expires.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		h.delivered(rctx, o)
		return
	}
	h.failed(rctx, o, err)
}

// send builds the notification and posts it through the outbound path.
// A failed POST returns a *deliveryError, possibly wrapped.
func (h *Hub) send(ctx context.Context, o outboxRow) error {
	sub, err := h.get(ctx, o.subscription)
	if err != nil {
		return err
	}
	n := notice{sub: sub, kind: o.kind, content: sub.Content}
	if o.kind == kindEvent {
		if n.events, err = h.events(ctx, sub.ID, o.event, o.event); err != nil {
			return err
		}
		if len(n.events) != 1 {
			return errors.New("subscriptions: queued event is missing")
		}
	}
	body, err := h.bundle(n)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	target := h.delivery.OutboundURL + "/partners/" + url.PathEscape(sub.Partner) + "/fhir/" + sub.EndpointPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("subscriptions: build request: %w", withoutURL(err))
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := h.delivery.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", &deliveryError{step: stepSend}, withoutURL(err))
	}
	defer resp.Body.Close()
	// The start of the body serves only to recognise the gateway's token
	// rejection. The rest is drained so that the connection can be reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classifyResponse(resp, head)
	}
	return nil
}

// withoutURL returns the cause under a *url.Error, which quotes the
// request URL and so names the partner's endpoint path, or err itself.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (h *Hub) delivered(ctx context.Context, o outboxRow) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		h.log.Error("subscriptions: record delivery failed", "subscription", o.subscription, "seq", o.seq, "error", err)
		return
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlDeleteOutbox, o.subscription, o.seq); err != nil {
		h.log.Error("subscriptions: record delivery failed", "subscription", o.subscription, "seq", o.seq, "error", err)
		return
	}
	if _, err := tx.ExecContext(ctx, sqlDelivered, h.stamp(), o.subscription); err != nil {
		h.log.Error("subscriptions: record delivery failed", "subscription", o.subscription, "seq", o.seq, "error", err)
		return
	}
	if err := tx.Commit(); err != nil {
		h.log.Error("subscriptions: record delivery failed", "subscription", o.subscription, "seq", o.seq, "error", err)
		return
	}
	h.logRecovered(o, o.partner)
	h.log.Debug("subscriptions: delivered", "subscription", o.subscription, "kind", o.kind, "event", o.event, "attempts", o.attempts+1)
}

// failed schedules the next attempt after an exponential backoff and logs
// the failure as logFailure allows.
func (h *Hub) failed(ctx context.Context, o outboxRow, cause error) {
	wait := backoff(o.attempts+1, h.delivery.MinBackoff, h.delivery.MaxBackoff)
	next := h.now().Add(wait).UTC().Format(timeLayout)
	if _, err := h.db.ExecContext(ctx, sqlRetryOutbox, next, o.subscription, o.seq); err != nil {
		h.log.Error("subscriptions: schedule retry failed", "subscription", o.subscription, "seq", o.seq, "error", err)
	}
	if _, err := h.db.ExecContext(ctx, sqlDeliveryFailed, errorAfter, o.subscription); err != nil {
		h.log.Error("subscriptions: recording the delivery failure failed", "subscription", o.subscription, "seq", o.seq, "error", err)
	}
	h.logFailure(o, o.partner, cause, wait)
}

// backoff returns min doubled attempts-1 times, capped at max.
func backoff(attempts int, minWait, maxWait time.Duration) time.Duration {
	wait := minWait
	for i := 1; i < attempts && wait < maxWait; i++ {
		wait *= 2
	}
	return min(wait, maxWait)
}

// queueHeartbeats queues a heartbeat for every active Subscription with a
// heartbeat period whose queue is empty and whose last delivery is at
// least one period ago.
func (h *Hub) queueHeartbeats(ctx context.Context) error {
	rows, err := h.db.QueryContext(ctx, sqlHeartbeatCandidates)
	if err != nil {
		return err
	}
	var due []string
	now := h.now()
	for rows.Next() {
		var id, lastSent string
		var period int
		if err := rows.Scan(&id, &period, &lastSent); err != nil {
			rows.Close()
			return err
		}
		if heartbeatDue(now, period, lastSent) {
			due = append(due, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	for _, id := range due {
		if err := h.queueHeartbeat(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// heartbeatDue reports whether a heartbeat period has passed since
// lastSent. An empty or unreadable lastSent counts as never sent.
func heartbeatDue(now time.Time, period int, lastSent string) bool {
	last, err := time.Parse(timeLayout, lastSent)
	return err != nil || !now.Before(last.Add(time.Duration(period)*time.Second))
}

// queueHeartbeat queues a heartbeat for Subscription id if it is still a
// candidate once its row is locked. Replicas sharing the database each
// read the candidates, so without this second check under the lock two of
// them queue a heartbeat for the same idle period, or one queues it just
// after another has sent one.
func (h *Hub) queueHeartbeat(ctx context.Context, id string) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlLockSubscription, id); err != nil {
		return fmt.Errorf("subscriptions: queue heartbeat for Subscription %s: %w", id, err)
	}
	var period int
	var lastSent string
	err = tx.QueryRowContext(ctx, sqlHeartbeatCandidate, id).Scan(&period, &lastSent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("subscriptions: queue heartbeat for Subscription %s: %w", id, err)
	}
	if !heartbeatDue(h.now(), period, lastSent) {
		return nil
	}
	if err := enqueueLocked(ctx, tx, id, kindHeartbeat, 0, h.stamp()); err != nil {
		return err
	}
	return tx.Commit()
}
