package subscriptions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Event is a result on the PAS topic: a new ClaimResponse version.
type Event struct {
	// Partner is the partner the decision belongs to; only its
	// Subscriptions see the event.
	Partner string
	// Organizations are the requesting provider's identifiers, as system
	// and value pairs, matched against Subscription filters.
	Organizations [][2]string
	// Focus is the ClaimResponse; Context the resources it references.
	Focus   Resource
	Context []Resource
}

// Resource is a resource a notification carries, with the fullUrl it has
// in the Bundle it comes from.
type Resource struct {
	FullURL string         `json:"fullUrl"`
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	JSON    jsontext.Value `json:"resource"`
}

// storedEvent is one payer_sub_events row with its content decoded.
type storedEvent struct {
	Number     int64      `json:"-"`
	OccurredAt string     `json:"-"`
	Focus      Resource   `json:"focus"`
	Context    []Resource `json:"context"`
}

// Publish records ev for every Subscription of ev.Partner on the PAS topic
// whose filter it matches, numbers it, and queues its notification. It
// runs in the caller's transaction tx and returns how many Subscriptions
// matched.
func (h *Hub) Publish(ctx context.Context, tx *sql.Tx, ev Event) (int, error) {
	now := h.stamp()
	ids, err := matchingSubscriptions(ctx, tx, ev, now)
	if err != nil {
		return 0, err
	}
	content, err := json.Marshal(storedEvent{Focus: ev.Focus, Context: ev.Context})
	if err != nil {
		return 0, fmt.Errorf("subscriptions: encode event: %w", err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, sqlCountEvent, id); err != nil {
			return 0, fmt.Errorf("subscriptions: count event: %w", err)
		}
		var n int64
		if err := tx.QueryRowContext(ctx, sqlEventsCount, id).Scan(&n); err != nil {
			return 0, fmt.Errorf("subscriptions: count event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertEvent, id, n, now, string(content)); err != nil {
			return 0, fmt.Errorf("subscriptions: insert event: %w", err)
		}
		if err := enqueue(ctx, tx, id, kindEvent, n, now); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

func matchingSubscriptions(ctx context.Context, tx *sql.Tx, ev Event, now string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, sqlMatchingSubscriptions, ev.Partner, TopicPAS, now)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: find subscriptions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id, system, value string
		if err := rows.Scan(&id, &system, &value); err != nil {
			return nil, fmt.Errorf("subscriptions: find subscriptions: %w", err)
		}
		if filterMatches(system, value, ev.Organizations) {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscriptions: find subscriptions: %w", err)
	}
	return ids, nil
}

// filterMatches reports whether an organisation filter admits an event.
// No filter admits every event of the partner; a filter without system
// matches any identifier with that value.
func filterMatches(system, value string, orgs [][2]string) bool {
	if value == "" {
		return true
	}
	for _, o := range orgs {
		if o[1] == value && (system == "" || o[0] == system) {
			return true
		}
	}
	return false
}

// Notification kinds, the SubscriptionStatus type codes.
const (
	kindHandshake  = "handshake"
	kindHeartbeat  = "heartbeat"
	kindEvent      = "event-notification"
	kindQueryState = "query-status"
	kindQueryEvent = "query-event"
)

// enqueue appends a notification to a Subscription's queue, due now. It
// first locks the Subscription's row, so that on PostgreSQL two
// transactions enqueueing for one Subscription take turns instead of
// reading the same next seq.
func enqueue(ctx context.Context, tx *sql.Tx, id, kind string, event int64, now string) error {
	if _, err := tx.ExecContext(ctx, sqlLockSubscription, id); err != nil {
		return fmt.Errorf("subscriptions: queue notification: %w", err)
	}
	return enqueueLocked(ctx, tx, id, kind, event, now)
}

// enqueueLocked appends a notification as enqueue does, in a transaction
// that already holds the Subscription's row lock (sqlLockSubscription).
func enqueueLocked(ctx context.Context, tx *sql.Tx, id, kind string, event int64, now string) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, sqlNextOutboxSeq, id).Scan(&seq); err != nil {
		return fmt.Errorf("subscriptions: queue notification: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertOutbox, id, seq, kind, event, now); err != nil {
		return fmt.Errorf("subscriptions: queue notification: %w", err)
	}
	return nil
}

// create stores a new Subscription and queues its handshake. It returns
// errTooMany when the partner already holds h.maxLive live Subscriptions.
// The count and the insert must not interleave with another create of the
// same partner. SQLite runs write transactions one at a time. PostgreSQL
// reads the rows committed when each statement starts, so there the
// transaction first takes an advisory lock for the partner.
func (h *Hub) create(ctx context.Context, sub *subscription) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriptions: begin: %w", err)
	}
	defer tx.Rollback()
	if h.db.Dialect == storage.PostgreSQL {
		if _, err := tx.ExecContext(ctx, sqlLockPartnerPostgres, partnerLockKey(sub.Partner)); err != nil {
			return fmt.Errorf("subscriptions: advisory lock on the partner's creates failed: %w", err)
		}
	}
	sub.ID, sub.CreatedAt = h.newID(), h.stamp()
	var live int
	if err := tx.QueryRowContext(ctx, sqlCountLive, sub.Partner, sub.CreatedAt).Scan(&live); err != nil {
		return fmt.Errorf("subscriptions: count subscriptions: %w", err)
	}
	if live >= h.maxLive {
		return errTooMany
	}
	if _, err := tx.ExecContext(ctx, sqlInsertSubscription, sub.ID, sub.Partner, sub.Status, sub.Topic,
		sub.FilterSystem, sub.FilterValue, sub.Endpoint, sub.EndpointPath, sub.Content, sub.Heartbeat,
		sub.Reason, sub.EndAt, sub.CreatedAt); err != nil {
		return fmt.Errorf("subscriptions: insert subscription: %w", err)
	}
	if err := enqueue(ctx, tx, sub.ID, kindHandshake, 0, sub.CreatedAt); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("subscriptions: commit: %w", err)
	}
	return nil
}

// get returns a Subscription, or errNotFound.
func (h *Hub) get(ctx context.Context, id string) (*subscription, error) {
	var s subscription
	err := h.db.QueryRowContext(ctx, sqlSubscriptionByID, id).Scan(&s.ID, &s.Partner, &s.Status, &s.Topic,
		&s.FilterSystem, &s.FilterValue, &s.Endpoint, &s.EndpointPath, &s.Content, &s.Heartbeat, &s.Reason,
		&s.EndAt, &s.EventsCount, &s.Failures, &s.LastSentAt, &s.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("subscriptions: read subscription: %w", err)
	}
	return &s, nil
}

// events returns the stored events numbered from..to, inclusive.
func (h *Hub) events(ctx context.Context, id string, from, to int64) ([]storedEvent, error) {
	rows, err := h.db.QueryContext(ctx, sqlEventsRange, id, from, to)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: read events: %w", err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var ev storedEvent
		var content string
		if err := rows.Scan(&ev.Number, &ev.OccurredAt, &content); err != nil {
			return nil, fmt.Errorf("subscriptions: read events: %w", err)
		}
		if err := json.Unmarshal([]byte(content), &ev); err != nil {
			return nil, fmt.Errorf("subscriptions: decode event: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// turnOff sets a Subscription's status to off, drops what it has not
// delivered and records when, for purge.
func (h *Hub) turnOff(ctx context.Context, id string) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriptions: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlSetOff, id); err != nil {
		return fmt.Errorf("subscriptions: turn off: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlDropOutbox, id); err != nil {
		return fmt.Errorf("subscriptions: turn off: %w", err)
	}
	// A repeated turnOff (a second DELETE, or a DELETE after the end)
	// keeps the first off time, so it does not restart the retention.
	if _, err := tx.ExecContext(ctx, sqlRecordOff, id, h.stamp()); err != nil {
		return fmt.Errorf("subscriptions: turn off: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	h.forgetFailures(id)
	return nil
}

// turnOffEnded turns off every Subscription whose end has passed, which
// drops its undelivered notifications. An ended Subscription no longer
// counts against Options.MaxPerPartner, so a queue kept for it would let a
// partner whose endpoint fails pile up notifications without bound.
func (h *Hub) turnOffEnded(ctx context.Context) error {
	rows, err := h.db.QueryContext(ctx, sqlEnded, h.stamp())
	if err != nil {
		return fmt.Errorf("subscriptions: find ended subscriptions: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("subscriptions: find ended subscriptions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("subscriptions: find ended subscriptions: %w", err)
	}
	for _, id := range ids {
		if err := h.turnOff(ctx, id); err != nil {
			return err
		}
		h.log.Info("subscriptions: turned off at its end", "subscription", id)
	}
	return nil
}

// partnerLockKey returns the PostgreSQL advisory lock key of a partner's
// Subscription creates: FNV-1a of the partner id. Two partners whose keys
// collide only wait for each other.
func partnerLockKey(partner string) int64 {
	f := fnv.New64a()
	f.Write([]byte("gatehouse.subscriptions\x00" + partner))
	return int64(f.Sum64())
}
