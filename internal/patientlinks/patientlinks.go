// Package patientlinks records which patients each partner has named in
// inbound requests the upstream accepted, so that the outbound pipeline can require every
// patient an outbound payload names to be one the destination partner
// sent before. It keeps the links in the shared database, so that every
// gateway replica using that database reads the same links.
//
// A link is the partner id, an identifier system in clear and an
// HMAC-SHA-256 of "system|value" under a key that only the gateway hosts
// have (Key). The identifier value, a member id or MRN, is PHI, so the
// table never contains it. Member ids have little entropy, so an unkeyed
// hash could be reversed by trying every id of a known format. The key
// keeps anyone with only a copy of the database from doing that.
//
// The table partner_patients_key stores a key id, an HMAC of a fixed
// label under the same key, never the key. When New finds links written
// under another key, or rows without a key id (the unkeyed SHA-256 of
// earlier versions), it deletes them all, because their values cannot be
// hashed again without the identifiers. DroppedAtStart returns how many.
//
// Each link lives for the store's retention after the latest inbound
// request that named it, less up to a 400th of the retention (a day with
// DefaultRetention). A request extends a link only when that moves its
// expiry by more, so a patient named in every request does not rewrite
// its link each time. Writes delete expired links at most once a minute
// per Store, and Lookup and LookupClaims ignore them.
//
// The same store links partners to the business identifiers of the
// Claims they submitted or inquired about (RememberClaims, LookupClaims),
// in the table partner_claims, with the same columns, key and expiry. A
// claim identifier is kept apart from the patient identifiers, so that a
// Claim.identifier a partner chose can never count as a patient of it.
// RememberExchange writes the patients and claims of one exchange in one
// transaction.
package patientlinks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// DefaultRetention is how long a link lives after the latest inbound
// request that named it.
//
// NOTE: a pended prior authorization may be decided, and notified, long
// after the request. The default of 400 days covers a yearly
// authorization period with margin. It is an estimate, not a rule of PAS.
const DefaultRetention = 400 * 24 * time.Hour

// extensionSlackDivisor sets how far a link's expiry must move before a
// request rewrites it. The move must exceed the retention divided by
// this number.
const extensionSlackDivisor = 400

// MaxIdentifiers caps the identifiers one call reads, so that a crafted
// body with thousands of identifiers cannot turn one request into
// thousands of statements. Remember, RememberClaims and RememberExchange
// read the first MaxIdentifiers of each list and ignore the rest, which
// can only leave a patient unlinked, never link one. Lookup, which the
// outbound check uses, returns ErrTooManyIdentifiers instead, so that no
// identifier of an outbound patient goes unchecked.
const MaxIdentifiers = 16

// pruneInterval is the least time between two deletions of expired links.
const pruneInterval = time.Minute

// schema is written with SQLite's type names; storage.DB.CreateSchema
// rewrites them for PostgreSQL.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS partner_patients (
	partner    TEXT    NOT NULL,
	system     TEXT    NOT NULL,
	value_hash BLOB    NOT NULL,
	expires_ns INTEGER NOT NULL,
	PRIMARY KEY (partner, system, value_hash)
)`,
	`CREATE INDEX IF NOT EXISTS partner_patients_expiry ON partner_patients (expires_ns)`,
	// Lookup finds the partners of one identifier, across partners.
	`CREATE INDEX IF NOT EXISTS partner_patients_value ON partner_patients (system, value_hash)`,
	// partner_claims has the columns of partner_patients. Its rows are
	// Claim business identifiers, read by LookupClaims.
	`CREATE TABLE IF NOT EXISTS partner_claims (
	partner    TEXT    NOT NULL,
	system     TEXT    NOT NULL,
	value_hash BLOB    NOT NULL,
	expires_ns INTEGER NOT NULL,
	PRIMARY KEY (partner, system, value_hash)
)`,
	`CREATE INDEX IF NOT EXISTS partner_claims_expiry ON partner_claims (expires_ns)`,
	`CREATE INDEX IF NOT EXISTS partner_claims_value ON partner_claims (system, value_hash)`,
	`CREATE TABLE IF NOT EXISTS partner_patients_key (
	singleton INTEGER NOT NULL PRIMARY KEY,
	key_id    BLOB    NOT NULL
)`,
}

// KeySize is the length of the key New requires.
const KeySize = 32

// keyIDLabel is the message whose HMAC identifies the key in
// partner_patients_key.
const keyIDLabel = "gatehouse patient links key id"

// Store keeps the links in a SQL table, on SQLite or PostgreSQL. It is
// safe for concurrent use. A link is durable and visible to every replica
// once the call that wrote it returns without error.
type Store struct {
	db *storage.DB
	// wdb is the handle links are written on. On SQLite it is a
	// storage.DB.DeferCommitSync handle: a write commits without an fsync
	// and then calls SyncCommits, so that other writers of the file take
	// the write lock during the fsync. On PostgreSQL it is db.
	wdb       *storage.DB
	wstmts    *storage.Statements
	key       []byte
	dropped   int
	now       func() time.Time
	retention time.Duration
	stmts     *storage.Statements

	mu        sync.Mutex
	lastPrune time.Time
}

// New creates the tables if needed and deletes the links that were not
// written under key, a secret of KeySize bytes that every replica sharing
// db must pass. retention is how long a link lives after the latest
// request that named it, and 0 means DefaultRetention. now returns the
// current time, and nil means time.Now. The caller closes the Store
// before db.
func New(ctx context.Context, db *storage.DB, key []byte, retention time.Duration, now func() time.Time) (*Store, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("patientlinks: key of %d bytes, want %d", len(key), KeySize)
	}
	if retention < 0 {
		return nil, errors.New("patientlinks: negative retention")
	}
	if retention == 0 {
		retention = DefaultRetention
	}
	if now == nil {
		now = time.Now
	}
	if err := db.CreateSchema(ctx, schema); err != nil {
		return nil, fmt.Errorf("patientlinks: create schema: %w", err)
	}
	wdb, err := db.DeferCommitSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("patientlinks: %w", err)
	}
	s := &Store{db: db, wdb: wdb, wstmts: storage.NewStatements(wdb), key: bytes.Clone(key), now: now,
		retention: retention, stmts: storage.NewStatements(db)}
	dropped, err := s.adoptKey(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.dropped = dropped
	return s, nil
}

// Close releases the Store's prepared statements and closes its write
// handle. The handle New was given stays open.
func (s *Store) Close() error {
	err := errors.Join(s.wstmts.Close(), s.stmts.Close())
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// DroppedAtStart returns how many links New deleted because they were
// written under another key or without one.
func (s *Store) DroppedAtStart() int { return s.dropped }

// adoptKey makes s.key the key of the table: when the stored key id
// differs or is missing, it deletes every link and stores the new key id,
// in one transaction. It returns the number of links deleted.
func (s *Store) adoptKey(ctx context.Context) (int, error) {
	keyID := s.mac(keyIDLabel)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("patientlinks: begin: %w", err)
	}
	defer tx.Rollback()
	var stored []byte
	err = tx.QueryRowContext(ctx, `SELECT key_id FROM partner_patients_key WHERE singleton = 1`).Scan(&stored)
	switch {
	case err == nil && hmac.Equal(stored, keyID):
		return 0, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("patientlinks: read key id: %w", err)
	}
	var dropped int64
	for _, table := range linkTables {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+string(table))
		if err != nil {
			return 0, fmt.Errorf("patientlinks: drop links of another key: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("patientlinks: drop links of another key: %w", err)
		}
		dropped += n
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO partner_patients_key (singleton, key_id) VALUES (1, $1)
ON CONFLICT (singleton) DO UPDATE SET key_id = excluded.key_id`, keyID)
	if err != nil {
		return 0, fmt.Errorf("patientlinks: store key id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("patientlinks: commit key id: %w", err)
	}
	return int(dropped), nil
}

// mac returns the HMAC-SHA-256 of msg under the store's key.
func (s *Store) mac(msg string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// hashValue returns the HMAC-SHA-256 of "system|value". The system is
// stored in clear next to it, so the separator need not be unambiguous.
func (s *Store) hashValue(id congruence.Identifier) []byte {
	return s.mac(id.System + "|" + id.Value)
}

// usable returns the first MaxIdentifiers identifiers of ids with both
// system and value.
func usable(ids []congruence.Identifier) []congruence.Identifier {
	out := make([]congruence.Identifier, 0, min(len(ids), MaxIdentifiers))
	for _, id := range ids {
		if len(out) == MaxIdentifiers {
			break
		}
		if id.System != "" && id.Value != "" {
			out = append(out, id)
		}
	}
	return out
}

// table names a link table. Its values are the constants below, never
// input, so a query may include the name.
type table string

const (
	patientTable table = "partner_patients"
	claimTable   table = "partner_claims"
)

// linkTables are the tables whose rows are hashed under the store's key.
var linkTables = []table{patientTable, claimTable}

// Remember links each patient identifier of ids with both system and
// value to partner until now plus the retention, extending a link that
// exists.
func (s *Store) Remember(ctx context.Context, partner string, ids []congruence.Identifier) error {
	return s.RememberExchange(ctx, partner, ids, nil)
}

// RememberClaims links each Claim business identifier of ids with both
// system and value to partner, as Remember does for patients.
func (s *Store) RememberClaims(ctx context.Context, partner string, ids []congruence.Identifier) error {
	return s.RememberExchange(ctx, partner, nil, ids)
}

// RememberExchange links the patient identifiers patients and the Claim
// identifiers claims of one inbound exchange to partner, as Remember and
// RememberClaims do, in one transaction: on error neither table has
// changed. Each list is capped at MaxIdentifiers on its own.
func (s *Store) RememberExchange(ctx context.Context, partner string, patients, claims []congruence.Identifier) error {
	wrote, err := s.remember(ctx, partner, patients, claims)
	if err != nil || !wrote {
		return err
	}
	// The commit did not wait for the disk on SQLite. The fsync runs
	// after the write lock is released and before the call returns, so a
	// link is durable before the caller releases the response.
	if err := s.wdb.SyncCommits(); err != nil {
		return fmt.Errorf("patientlinks: record: %w", err)
	}
	return nil
}

// RememberExchangeCommitted is RememberExchange without the wait for the
// disk. It returns once the links are committed and visible, before the
// SQLite write-ahead log is synced. The caller must make them durable
// with a sync of the same file before it acts on them, such as
// auditlog.Log.SyncCommitted on the same database, so that one fsync
// covers an exchange's record and its links. On PostgreSQL the links are
// durable when it returns.
func (s *Store) RememberExchangeCommitted(ctx context.Context, partner string, patients, claims []congruence.Identifier) error {
	_, err := s.remember(ctx, partner, patients, claims)
	return err
}

// remember writes the links of RememberExchange in one transaction and
// reports whether it committed one.
func (s *Store) remember(ctx context.Context, partner string, patients, claims []congruence.Identifier) (bool, error) {
	if partner == "" {
		return false, errors.New("patientlinks: empty partner id")
	}
	rows := []tableRows{{patientTable, usable(patients)}, {claimTable, usable(claims)}}
	pruneAt, due := s.pruneDue()
	if !due && len(rows[0].ids) == 0 && len(rows[1].ids) == 0 {
		return false, nil
	}
	// The keyed hashes are computed before the transaction, which holds
	// the write lock.
	hashes := make([][][]byte, len(rows))
	for i, r := range rows {
		for _, id := range r.ids {
			hashes[i] = append(hashes[i], s.hashValue(id))
		}
	}
	expires := s.now().Add(s.retention).UnixNano()
	slack := int64(s.retention / extensionSlackDivisor)

	// One transaction for every identifier of both tables, because on
	// SQLite each commit takes the file's write lock, which the other
	// writers of the file (the exchange record, the payer service) wait
	// for.
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("patientlinks: record: %w", err)
	}
	defer tx.Rollback()
	if due {
		if err := prune(ctx, tx, pruneAt); err != nil {
			return false, err
		}
	}
	wtx := s.wstmts.In(tx)
	for i, r := range rows {
		for k, id := range r.ids {
			// An existing link is rewritten only when its expiry moves by
			// more than slack. A row left as it is changes no page, so the
			// commit writes less to the write-ahead log.
			_, err := wtx.ExecContext(ctx,
				`INSERT INTO `+string(r.table)+` (partner, system, value_hash, expires_ns) VALUES ($1, $2, $3, $4)
ON CONFLICT (partner, system, value_hash) DO UPDATE SET expires_ns = excluded.expires_ns
WHERE `+string(r.table)+`.expires_ns < excluded.expires_ns - $5`,
				partner, id.System, hashes[i][k], expires, slack)
			if err != nil {
				return false, fmt.Errorf("patientlinks: record: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("patientlinks: record: %w", err)
	}
	return true, nil
}

// tableRows are the identifiers RememberExchange writes to one table.
type tableRows struct {
	table table
	ids   []congruence.Identifier
}

// pruneDue reports whether expired links are due to be deleted, at most
// once per pruneInterval per Store, and returns the current time.
func (s *Store) pruneDue() (time.Time, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastPrune) < pruneInterval {
		return now, false
	}
	s.lastPrune = now
	return now, true
}

// prune deletes the links of every table that expired by now.
func prune(ctx context.Context, tx *sql.Tx, now time.Time) error {
	for _, t := range linkTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+string(t)+` WHERE expires_ns <= $1`, now.UnixNano()); err != nil {
			return fmt.Errorf("patientlinks: prune: %w", err)
		}
	}
	return nil
}

// Link is the state of one identifier in the store. Partner is true when
// a link that has not expired ties it to the requested partner, and Others
// when one ties it to any other partner.
type Link struct {
	Partner bool
	Others  bool
}

// ErrTooManyIdentifiers is returned by Lookup for more than
// MaxIdentifiers identifiers.
var ErrTooManyIdentifiers = errors.New("patientlinks: more identifiers than MaxIdentifiers")

// Lookup returns the Link of each patient identifier of ids, in order,
// for partner. An identifier without both system and value gets a zero
// Link. It reads every identifier, so that a caller can require all of
// them to be the partner's, and more than MaxIdentifiers is an error.
func (s *Store) Lookup(ctx context.Context, partner string, ids []congruence.Identifier) ([]Link, error) {
	return s.lookup(ctx, patientTable, partner, ids)
}

// LookupClaims returns the Link of each Claim business identifier of ids,
// as Lookup does for patients.
func (s *Store) LookupClaims(ctx context.Context, partner string, ids []congruence.Identifier) ([]Link, error) {
	return s.lookup(ctx, claimTable, partner, ids)
}

func (s *Store) lookup(ctx context.Context, t table, partner string, ids []congruence.Identifier) ([]Link, error) {
	if len(ids) > MaxIdentifiers {
		return nil, ErrTooManyIdentifiers
	}
	now := s.now().UnixNano()
	out := make([]Link, len(ids))
	for i, id := range ids {
		if id.System == "" || id.Value == "" {
			continue
		}
		var mine, others int64
		err := s.stmts.QueryRowContext(ctx,
			`SELECT COALESCE(MAX(CASE WHEN partner = $1 THEN 1 ELSE 0 END), 0),
	COALESCE(MAX(CASE WHEN partner <> $1 THEN 1 ELSE 0 END), 0)
FROM `+string(t)+` WHERE system = $2 AND value_hash = $3 AND expires_ns > $4`,
			partner, id.System, s.hashValue(id), now).Scan(&mine, &others)
		if err != nil {
			return nil, fmt.Errorf("patientlinks: lookup: %w", err)
		}
		out[i] = Link{Partner: mine == 1, Others: others == 1}
	}
	return out, nil
}

// Len returns the number of patient links, expired or not, for tests and
// metrics.
func (s *Store) Len(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM partner_patients`).Scan(&n); err != nil {
		return 0, fmt.Errorf("patientlinks: count: %w", err)
	}
	return n, nil
}

// ClaimLen returns the number of claim links, expired or not, for tests
// and metrics.
func (s *Store) ClaimLen(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM partner_claims`).Scan(&n); err != nil {
		return 0, fmt.Errorf("patientlinks: count claims: %w", err)
	}
	return n, nil
}
