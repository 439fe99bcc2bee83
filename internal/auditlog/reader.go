package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// ErrNoCheckpoint is returned when the log has no checkpoint yet.
var ErrNoCheckpoint = errors.New("auditlog: no checkpoint yet")

// ErrNoLog is returned when the database has no audit log tables.
var ErrNoLog = errors.New("auditlog: the database has no audit log")

// Reader reads an audit log without writing to it and without any key.
// It decrypts nothing.
type Reader struct {
	db *storage.DB
}

// NewReader returns a Reader over db, which must hold an audit log.
func NewReader(ctx context.Context, db *storage.DB) (*Reader, error) {
	exists, err := db.TableExists(ctx, "audit_entries")
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	if !exists {
		return nil, ErrNoLog
	}
	return &Reader{db: db}, nil
}

// Row is one stored entry: the leaf and the columns outside it.
type Row struct {
	Leaf               Leaf
	Encoded            []byte // canonical encoding, the leaf data
	RequestCiphertext  []byte
	ResponseCiphertext []byte
	WrappedKey         []byte    // nil once shredded
	Shredded           time.Time // zero unless shredded

	// Query columns as stored, which verification compares with Leaf.
	columns rowColumns
}

type rowColumns struct {
	index      int64
	exchangeID string
	partner    string
	phase      string
	decision   string
	status     int
	recordedNS int64
}

// Query selects entries for Scan. Zero fields select everything.
type Query struct {
	ExchangeID string
	Partner    string
	Decision   record.Decision
	Status     int
	Since      time.Time // recorded at or after
	FromIndex  int64     // first leaf index
	Limit      int       // 0 means no limit
	// Interactions, when not empty, selects entries whose interaction is
	// one of them, such as "killswitch.engage". The interaction is inside
	// the encoded entry, not a column, so these entries are filtered after
	// they are read.
	Interactions []string
	// Newest lists entries from the highest index down, so Limit keeps the
	// most recent ones.
	Newest bool
}

// Scan calls fn for each entry matching q, in index order (descending with
// q.Newest). It stops at the first error from fn and returns it.
func (r *Reader) Scan(ctx context.Context, q Query, fn func(*Row) error) error {
	var where []string
	var args []any
	add := func(column string, arg any) {
		args = append(args, arg)
		where = append(where, column+" $"+strconv.Itoa(len(args)))
	}
	add("idx >=", q.FromIndex)
	if q.ExchangeID != "" {
		add("exchange_id =", q.ExchangeID)
	}
	if q.Partner != "" {
		add("partner =", q.Partner)
	}
	if q.Decision != "" {
		add("decision =", string(q.Decision))
	}
	if q.Status != 0 {
		add("status =", q.Status)
	}
	if !q.Since.IsZero() {
		add("recorded_ns >=", q.Since.UnixNano())
	}
	query := sqlSelectEntries + strings.Join(where, " AND ") + sqlOrderEntries
	if q.Newest {
		query += " DESC"
	}
	if len(q.Interactions) == 0 {
		if q.Limit > 0 {
			query += fmt.Sprintf(" LIMIT %d", q.Limit)
		}
		return scanRows(ctx, r.db, query, args, fn)
	}
	err := scanRows(ctx, r.db, query, args, interactionFilter(q, fn))
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// errLimitReached stops a filtered scan once Limit entries matched.
var errLimitReached = errors.New("auditlog: limit reached")

// interactionFilter wraps fn to pass on only the entries of
// q.Interactions, at most q.Limit of them.
func interactionFilter(q Query, fn func(*Row) error) func(*Row) error {
	n := 0
	return func(row *Row) error {
		if !slices.Contains(q.Interactions, row.Leaf.Entry.Interaction) {
			return nil
		}
		if err := fn(row); err != nil {
			return err
		}
		n++
		if q.Limit > 0 && n == q.Limit {
			return errLimitReached
		}
		return nil
	}
}

// scanRows runs query and calls fn with each row, its encoding decoded
// into Row.Leaf. A row whose encoding does not parse is an error.
func scanRows(ctx context.Context, q queryer, query string, args []any, fn func(*Row) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("auditlog: read entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		row, err := scanRow(rows)
		if err != nil {
			return err
		}
		leaf, err := DecodeEntry(row.Encoded)
		if err != nil {
			return fmt.Errorf("auditlog: entry %d: %w", row.columns.index, err)
		}
		row.Leaf = *leaf
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auditlog: read entries: %w", err)
	}
	return nil
}

func scanRow(rows *sql.Rows) (*Row, error) {
	row := new(Row)
	c := &row.columns
	var shredded sql.NullInt64
	err := rows.Scan(&c.index, &c.exchangeID, &c.partner, &c.phase, &c.decision, &c.status, &c.recordedNS,
		&row.Encoded, &row.RequestCiphertext, &row.ResponseCiphertext, &row.WrappedKey, &shredded)
	if err != nil {
		return nil, fmt.Errorf("auditlog: read entries: %w", err)
	}
	if shredded.Valid {
		row.Shredded = time.Unix(0, shredded.Int64)
	}
	return row, nil
}

// Row returns the entry at index, or an error wrapping sql.ErrNoRows.
func (r *Reader) Row(ctx context.Context, index int64) (*Row, error) {
	var found *Row
	err := r.Scan(ctx, Query{FromIndex: index, Limit: 1}, func(row *Row) error {
		found = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil || found.Leaf.Index != index {
		return nil, fmt.Errorf("auditlog: entry %d: %w", index, sql.ErrNoRows)
	}
	return found, nil
}

// List implements record.Reader: the entries after f.AfterSeq that match
// the filter, oldest first, at most f.Limit (default 1000). Bodies are not
// returned, because they are encrypted.
func (r *Reader) List(ctx context.Context, f record.Filter) ([]record.Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := Query{ExchangeID: f.ExchangeID, Partner: f.Partner, FromIndex: max(f.AfterSeq, 0), Limit: f.Limit}
	var out []record.Entry
	err := r.Scan(ctx, q, func(row *Row) error {
		e := row.Leaf.Entry
		// A Reader has no key, so it returns the path without the query
		// string, also for entries older than version 3.
		e.Target = pathOnly(e.Target)
		out = append(out, e)
		return nil
	})
	return out, err
}

// Origin returns the log's origin.
func (r *Reader) Origin(ctx context.Context) (string, error) {
	var origin string
	err := r.db.QueryRowContext(ctx, sqlReadOrigin).Scan(&origin)
	if err != nil {
		return "", fmt.Errorf("auditlog: read origin: %w", err)
	}
	return origin, nil
}

// Size returns the number of entries: one more than the highest index.
func (r *Reader) Size(ctx context.Context) (int64, error) {
	var lowest, highest sql.NullInt64
	if err := r.db.QueryRowContext(ctx, sqlIndexRange).Scan(&lowest, &highest); err != nil {
		return 0, fmt.Errorf("auditlog: read size: %w", err)
	}
	return countFromMaxID(highest, "entry index")
}

func (r *Reader) hashReader(ctx context.Context) tlog.HashReader {
	return dbHashReader{ctx: ctx, q: r.db}
}

// SignedCheckpoint is a checkpoint with its signed note as stored.
type SignedCheckpoint struct {
	Checkpoint
	Note    []byte // the signed note, cosignatures included
	ID      int64  // row id, increasing in signing order
	Created time.Time
}

// LatestCheckpoint returns the most recently signed checkpoint, without
// verifying its signature.
func (r *Reader) LatestCheckpoint(ctx context.Context) (*SignedCheckpoint, error) {
	var latest *SignedCheckpoint
	err := r.checkpoints(ctx, sqlLatestCheckpoint, nil, func(c *SignedCheckpoint) error {
		latest = c
		return nil
	})
	if err == nil && latest == nil {
		err = ErrNoCheckpoint
	}
	return latest, err
}

// Checkpoints calls fn for every stored checkpoint in signing order,
// without verifying signatures. A row whose note does not parse is passed
// with a zero Checkpoint, for the verifier to report.
func (r *Reader) Checkpoints(ctx context.Context, fn func(*SignedCheckpoint) error) error {
	return r.checkpoints(ctx, sqlCheckpointsInOrder, nil, fn)
}

// checkpoints runs query, which selects the columns of sqlCheckpoints, and
// calls fn with each checkpoint.
func (r *Reader) checkpoints(ctx context.Context, query string, args []any, fn func(*SignedCheckpoint) error) error {
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("auditlog: read checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c SignedCheckpoint
		var created int64
		if err := rows.Scan(&c.ID, &c.Size, &c.Note, &created); err != nil {
			return fmt.Errorf("auditlog: read checkpoints: %w", err)
		}
		c.Created = time.Unix(0, created)
		if parsed, err := parseUnverified(c.Note); err == nil {
			c.Checkpoint = parsed
		}
		if err := fn(&c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// parseUnverified parses the text of a signed checkpoint without checking
// any signature.
func parseUnverified(msg []byte) (Checkpoint, error) {
	_, err := note.Open(msg, nil)
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return Checkpoint{}, fmt.Errorf("%w: not a signed note", ErrMalformedCheckpoint)
	}
	return ParseCheckpoint(unverified.Note.Text)
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of size entries.
func (r *Reader) InclusionProof(ctx context.Context, index, size int64) (tlog.RecordProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("auditlog: index %d is outside a tree of size %d", index, size)
	}
	p, err := tlog.ProveRecord(size, index, r.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("auditlog: inclusion proof: %w", err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size
// newSize extends the tree of size oldSize.
func (r *Reader) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, fmt.Errorf("auditlog: no consistency proof from size %d to %d", oldSize, newSize)
	}
	if oldSize == 0 || oldSize == newSize {
		return nil, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("auditlog: consistency proof: %w", err)
	}
	return p, nil
}
