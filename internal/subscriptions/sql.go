package subscriptions

// The SQL of this package, portable to PostgreSQL under the same rules as
// internal/payer: "$n" placeholders, CREATE TABLE IF NOT EXISTS, no
// AUTOINCREMENT and no upserts. Times are fixed-width UTC text
// (timeLayout), so they compare as strings.
//
// Tables:
//
//   - payer_subscriptions: one row per Subscription. events_count is
//     events-since-subscription-start; failures counts failed delivery
//     attempts in a row; end_at and last_sent_at are "" when unset.
//   - payer_sub_events: every event of every Subscription, numbered per
//     Subscription, with the resources a notification carries, kept so
//     $events can return them again.
//   - payer_sub_outbox: notifications not yet delivered, in seq order per
//     Subscription. next_attempt_at also serves as a lease: a sender
//     claims a row by moving it forward.
//   - payer_sub_off: when each Subscription was turned off (deleted or
//     ended), so that purge can remove it once Options.Retention passes.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS payer_subscriptions (
		id                VARCHAR(64)  NOT NULL PRIMARY KEY,
		partner           VARCHAR(255) NOT NULL,
		status            VARCHAR(16)  NOT NULL,
		topic             TEXT         NOT NULL,
		filter_system     TEXT         NOT NULL,
		filter_value      TEXT         NOT NULL,
		endpoint          TEXT         NOT NULL,
		endpoint_path     TEXT         NOT NULL,
		content           VARCHAR(16)  NOT NULL,
		heartbeat_seconds INTEGER      NOT NULL,
		reason            TEXT         NOT NULL,
		end_at            VARCHAR(40)  NOT NULL,
		events_count      INTEGER      NOT NULL,
		failures          INTEGER      NOT NULL,
		last_sent_at      VARCHAR(40)  NOT NULL,
		created_at        VARCHAR(40)  NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS payer_subscriptions_partner ON payer_subscriptions (partner, topic)`,
	`CREATE TABLE IF NOT EXISTS payer_sub_events (
		subscription_id VARCHAR(64) NOT NULL REFERENCES payer_subscriptions (id),
		event_number    INTEGER     NOT NULL,
		occurred_at     VARCHAR(40) NOT NULL,
		content_json    TEXT        NOT NULL,
		PRIMARY KEY (subscription_id, event_number)
	)`,
	`CREATE TABLE IF NOT EXISTS payer_sub_outbox (
		subscription_id VARCHAR(64) NOT NULL REFERENCES payer_subscriptions (id),
		seq             INTEGER     NOT NULL,
		kind            VARCHAR(24) NOT NULL,
		event_number    INTEGER     NOT NULL,
		attempts        INTEGER     NOT NULL,
		next_attempt_at VARCHAR(40) NOT NULL,
		PRIMARY KEY (subscription_id, seq)
	)`,
	`CREATE TABLE IF NOT EXISTS payer_sub_off (
		subscription_id VARCHAR(64) NOT NULL PRIMARY KEY REFERENCES payer_subscriptions (id),
		off_at          VARCHAR(40) NOT NULL
	)`,
}

const subscriptionColumns = `id, partner, status, topic, filter_system, filter_value, endpoint, endpoint_path,
	content, heartbeat_seconds, reason, end_at, events_count, failures, last_sent_at, created_at`

const (
	sqlInsertSubscription = `INSERT INTO payer_subscriptions (` + subscriptionColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 0, '', $13)`

	// sqlLockPartnerPostgres serialises one partner's creates until the
	// transaction ends.
	sqlLockPartnerPostgres = `SELECT pg_advisory_xact_lock($1)`

	sqlCountLive = `SELECT COUNT(*) FROM payer_subscriptions
		WHERE partner = $1 AND status <> 'off' AND (end_at = '' OR end_at > $2)`

	sqlSubscriptionByID = `SELECT ` + subscriptionColumns + ` FROM payer_subscriptions WHERE id = $1`

	sqlMatchingSubscriptions = `SELECT id, filter_system, filter_value FROM payer_subscriptions
		WHERE partner = $1 AND topic = $2 AND status <> 'off' AND (end_at = '' OR end_at > $3)
		ORDER BY created_at, id`

	sqlCountEvent = `UPDATE payer_subscriptions SET events_count = events_count + 1 WHERE id = $1`

	sqlEventsCount = `SELECT events_count FROM payer_subscriptions WHERE id = $1`

	sqlInsertEvent = `INSERT INTO payer_sub_events (subscription_id, event_number, occurred_at, content_json)
		VALUES ($1, $2, $3, $4)`

	sqlEventsRange = `SELECT event_number, occurred_at, content_json FROM payer_sub_events
		WHERE subscription_id = $1 AND event_number >= $2 AND event_number <= $3
		ORDER BY event_number`

	// sqlLockSubscription changes nothing but takes the row's lock on
	// PostgreSQL until the transaction ends. On SQLite the write
	// transaction already holds the database's write lock.
	sqlLockSubscription = `UPDATE payer_subscriptions SET failures = failures WHERE id = $1`

	sqlNextOutboxSeq = `SELECT COALESCE(MAX(seq), 0) + 1 FROM payer_sub_outbox WHERE subscription_id = $1`

	sqlInsertOutbox = `INSERT INTO payer_sub_outbox (subscription_id, seq, kind, event_number, attempts, next_attempt_at)
		VALUES ($1, $2, $3, $4, 0, $5)`

	// sqlDueHeads selects, per Subscription, the first queued notification
	// if it is due, with the Subscription's partner ("" if it is gone), at
	// most $2 rows. It ranks each partner's heads by due time and orders
	// the round by that rank, so every partner's first head comes before
	// any partner's second one. A partner with many stalled Subscriptions
	// thus takes one place per rank and cannot fill the round alone.
	// NOTE: heads of a partner whose sender is still running take places
	// too, so $2 or more such partners at once can still fill a round.
	sqlDueHeads = `SELECT subscription_id, partner, seq, kind, event_number, attempts, next_attempt_at FROM (
		SELECT o.subscription_id, COALESCE(s.partner, '') AS partner, o.seq, o.kind, o.event_number, o.attempts, o.next_attempt_at,
		       ROW_NUMBER() OVER (PARTITION BY COALESCE(s.partner, '') ORDER BY o.next_attempt_at, o.subscription_id) AS partner_rank
		FROM payer_sub_outbox o LEFT JOIN payer_subscriptions s ON s.id = o.subscription_id
		WHERE o.seq = (SELECT MIN(i.seq) FROM payer_sub_outbox i WHERE i.subscription_id = o.subscription_id)
		  AND o.next_attempt_at <= $1
	) heads
	ORDER BY partner_rank, next_attempt_at, subscription_id
	LIMIT $2`

	sqlClaimOutbox = `UPDATE payer_sub_outbox SET next_attempt_at = $1
		WHERE subscription_id = $2 AND seq = $3 AND next_attempt_at = $4`

	sqlDeleteOutbox = `DELETE FROM payer_sub_outbox WHERE subscription_id = $1 AND seq = $2`

	sqlRetryOutbox = `UPDATE payer_sub_outbox SET attempts = attempts + 1, next_attempt_at = $1
		WHERE subscription_id = $2 AND seq = $3`

	// sqlRetryNow makes due at $1 every notification that has failed
	// before and waits past $2.
	sqlRetryNow = `UPDATE payer_sub_outbox SET next_attempt_at = $1 WHERE attempts > 0 AND next_attempt_at > $2`

	sqlDelivered = `UPDATE payer_subscriptions
		SET status = CASE WHEN status = 'off' THEN status ELSE 'active' END, failures = 0, last_sent_at = $1
		WHERE id = $2`

	sqlDeliveryFailed = `UPDATE payer_subscriptions
		SET failures = failures + 1,
		    status = CASE WHEN failures + 1 >= $1 AND status = 'active' THEN 'error' ELSE status END
		WHERE id = $2`

	// heartbeatCandidate is the condition on a Subscription s that may
	// need a heartbeat: active or in error, with a period and an empty queue.
	// An ended one is turned off before each round (turnOffEnded).
	heartbeatCandidate = `s.status IN ('active', 'error') AND s.heartbeat_seconds > 0
		  AND NOT EXISTS (SELECT 1 FROM payer_sub_outbox o WHERE o.subscription_id = s.id)`

	sqlHeartbeatCandidates = `SELECT s.id, s.heartbeat_seconds, s.last_sent_at FROM payer_subscriptions s
		WHERE ` + heartbeatCandidate

	// sqlHeartbeatCandidate is sqlHeartbeatCandidates for one Subscription.
	sqlHeartbeatCandidate = `SELECT s.heartbeat_seconds, s.last_sent_at FROM payer_subscriptions s
		WHERE s.id = $1 AND ` + heartbeatCandidate

	sqlEnded = `SELECT id FROM payer_subscriptions WHERE status <> 'off' AND end_at <> '' AND end_at <= $1`

	sqlSetOff = `UPDATE payer_subscriptions SET status = 'off' WHERE id = $1`

	sqlDropOutbox = `DELETE FROM payer_sub_outbox WHERE subscription_id = $1`

	sqlRecordOff = `INSERT INTO payer_sub_off (subscription_id, off_at) VALUES ($1, $2)
		ON CONFLICT (subscription_id) DO NOTHING`

	// sqlRecordOffUnstamped stamps $1 on off Subscriptions that have no
	// payer_sub_off row, those turned off before the table existed. Two
	// Hubs on one PostgreSQL database may run it at once: the conflict
	// clause keeps the first stamp instead of failing the second.
	sqlRecordOffUnstamped = `INSERT INTO payer_sub_off (subscription_id, off_at)
		SELECT s.id, CAST($1 AS VARCHAR(40)) FROM payer_subscriptions s
		WHERE s.status = 'off' AND NOT EXISTS (SELECT 1 FROM payer_sub_off f WHERE f.subscription_id = s.id)
		ON CONFLICT (subscription_id) DO NOTHING`

	sqlPurgeable = `SELECT subscription_id FROM payer_sub_off WHERE off_at <= $1 ORDER BY off_at, subscription_id`

	sqlDeleteEvents = `DELETE FROM payer_sub_events WHERE subscription_id = $1`

	sqlDeleteOff = `DELETE FROM payer_sub_off WHERE subscription_id = $1`

	sqlDeleteSubscription = `DELETE FROM payer_subscriptions WHERE id = $1 AND status = 'off'`
)
