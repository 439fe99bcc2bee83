package record

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SQLStore keeps entries in the exchange_log table of a database/sql
// database opened through sqlitedb.
type SQLStore struct {
	db  *sql.DB
	now func() time.Time
}

const schema = `
CREATE TABLE IF NOT EXISTS exchange_log (
	seq              INTEGER PRIMARY KEY AUTOINCREMENT,
	exchange_id      TEXT    NOT NULL,
	phase            TEXT    NOT NULL,
	direction        TEXT    NOT NULL,
	partner          TEXT    NOT NULL,
	cert_fingerprint TEXT    NOT NULL,
	token_id         TEXT    NOT NULL,
	source           TEXT    NOT NULL,
	method           TEXT    NOT NULL,
	target           TEXT    NOT NULL,
	interaction      TEXT    NOT NULL,
	decision         TEXT    NOT NULL,
	rule             TEXT    NOT NULL,
	reason           TEXT    NOT NULL,
	status           INTEGER NOT NULL,
	upstream_status  INTEGER NOT NULL,
	request_type     TEXT    NOT NULL,
	request_body     BLOB,
	response_body    BLOB,
	received_ns      INTEGER NOT NULL,
	upstream_ns      INTEGER NOT NULL,
	total_ns         INTEGER NOT NULL,
	recorded_ns      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS exchange_log_exchange ON exchange_log (exchange_id);
CREATE INDEX IF NOT EXISTS exchange_log_partner ON exchange_log (partner, seq);
`

// NewSQLStore creates the schema if needed and returns the store.
func NewSQLStore(ctx context.Context, db *sql.DB, now func() time.Time) (*SQLStore, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("record: create schema: %w", err)
	}
	return &SQLStore{db: db, now: now}, nil
}

// Append commits e and sets e.Seq and e.RecordedAt. The database runs with
// synchronous=FULL, so a successful commit is on disk.
func (s *SQLStore) Append(ctx context.Context, e *Entry) (int64, error) {
	e.RecordedAt = s.now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO exchange_log (
		exchange_id, phase, direction, partner, cert_fingerprint, token_id, source,
		method, target, interaction, decision, rule, reason, status, upstream_status,
		request_type, request_body, response_body,
		received_ns, upstream_ns, total_ns, recorded_ns)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		e.ExchangeID, string(e.Phase), e.Direction, e.Partner, e.CertFingerprint, e.TokenID, e.Source,
		e.Method, e.Target, e.Interaction, string(e.Decision), e.Rule, e.Reason, e.Status, e.UpstreamState,
		e.RequestType, e.RequestBody, e.ResponseBody,
		e.Received.UnixNano(), int64(e.UpstreamTime), int64(e.TotalTime), e.RecordedAt.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	e.Seq = seq
	return seq, nil
}

// List returns entries matching f, oldest first. A zero Limit means 1000.
func (s *SQLStore) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, exchange_id, phase, direction, partner,
		cert_fingerprint, token_id, source, method, target, interaction, decision, rule, reason,
		status, upstream_status, request_type, request_body, response_body,
		received_ns, upstream_ns, total_ns, recorded_ns
		FROM exchange_log
		WHERE seq > ? AND (? = '' OR exchange_id = ?) AND (? = '' OR partner = ?)
		ORDER BY seq LIMIT ?`,
		f.AfterSeq, f.ExchangeID, f.ExchangeID, f.Partner, f.Partner, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("record: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEntry(rows *sql.Rows) (Entry, error) {
	var e Entry
	var phase, decision string
	var received, upstream, total, recorded int64
	err := rows.Scan(&e.Seq, &e.ExchangeID, &phase, &e.Direction, &e.Partner,
		&e.CertFingerprint, &e.TokenID, &e.Source, &e.Method, &e.Target, &e.Interaction, &decision, &e.Rule, &e.Reason,
		&e.Status, &e.UpstreamState, &e.RequestType, &e.RequestBody, &e.ResponseBody,
		&received, &upstream, &total, &recorded)
	if err != nil {
		return e, fmt.Errorf("record: scan: %w", err)
	}
	e.Phase, e.Decision = Phase(phase), Decision(decision)
	e.Received = time.Unix(0, received)
	e.UpstreamTime, e.TotalTime = time.Duration(upstream), time.Duration(total)
	e.RecordedAt = time.Unix(0, recorded)
	return e, nil
}
