package subscriptions

import (
	"context"
	"fmt"
	"time"
)

// DefaultRetention is how long a Subscription that was deleted or ended
// stays readable, with its stored events, when Options.Retention is zero.
// It gives the partner time to read the final $status and fetch missed
// events with $events after the Subscription has stopped.
const DefaultRetention = 30 * 24 * time.Hour

// purgeInterval is the minimum time between two purges by one Hub, so that
// a round every PollInterval does not scan payer_sub_off each time.
const purgeInterval = time.Hour

// purgeDue reports whether a purge is due and, if so, marks it as run.
func (h *Hub) purgeDue() bool {
	h.purgeMu.Lock()
	defer h.purgeMu.Unlock()
	now := h.now()
	if !h.lastPurge.IsZero() && now.Sub(h.lastPurge) < purgeInterval {
		return false
	}
	h.lastPurge = now
	return true
}

// purge deletes every Subscription that has been off for longer than
// h.retention, with its stored events. Its queue was dropped when it was
// turned off. Afterwards a read, $status or $events of it gets 404.
func (h *Hub) purge(ctx context.Context) error {
	now := h.now()
	if _, err := h.db.ExecContext(ctx, sqlRecordOffUnstamped, now.UTC().Format(timeLayout)); err != nil {
		return fmt.Errorf("subscriptions: record turned-off Subscriptions: %w", err)
	}

	cutoff := now.Add(-h.retention).UTC().Format(timeLayout)
	rows, err := h.db.QueryContext(ctx, sqlPurgeable, cutoff)
	if err != nil {
		return fmt.Errorf("subscriptions: find Subscriptions to purge: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("subscriptions: find Subscriptions to purge: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("subscriptions: find Subscriptions to purge: %w", err)
	}

	for _, id := range ids {
		if err := h.purgeOne(ctx, id); err != nil {
			return err
		}
		h.log.Info("subscriptions: purged after its retention", "subscription", id)
	}
	return nil
}

// purgeOne deletes one off Subscription and everything stored for it.
func (h *Hub) purgeOne(ctx context.Context, id string) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriptions: begin: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{sqlLockSubscription, sqlDropOutbox, sqlDeleteEvents, sqlDeleteOff, sqlDeleteSubscription} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return fmt.Errorf("subscriptions: purge Subscription %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("subscriptions: purge Subscription %s: %w", id, err)
	}
	return nil
}
