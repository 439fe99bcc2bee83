package killswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// PollInterval is how often a Switch reloads cuts from the database, which
// bounds how long a cut engaged on one replica takes to act on the others.
const PollInterval = 500 * time.Millisecond

// The SQL of this package, written once for SQLite and PostgreSQL under the
// rules of internal/storage. The killswitch table has one row per cut ever
// engaged; released_ns is NULL while it is engaged.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS killswitch (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		mode        TEXT    NOT NULL,
		scope       TEXT    NOT NULL,
		direction   TEXT    NOT NULL,
		reason      TEXT    NOT NULL,
		engaged_by  TEXT    NOT NULL,
		engaged_ns  INTEGER NOT NULL,
		released_by TEXT,
		released_ns INTEGER
	)`,
	// killswitch_release has one row per cut whose release a caller has
	// claimed, so that replicas sharing the database record one release
	// of a cut between them (see claimRelease). A row stays after the
	// release, because it is what a late second caller conflicts with.
	`CREATE TABLE IF NOT EXISTS killswitch_release (
		cut_id     INTEGER PRIMARY KEY,
		claim      TEXT    NOT NULL,
		claimed_ns INTEGER NOT NULL
	)`,
}

const (
	sqlEngagedCuts = `SELECT id, mode, scope, direction, reason, engaged_by, engaged_ns
		FROM killswitch WHERE released_ns IS NULL ORDER BY id`

	// sqlRevocations selects, per scope that ever had a cut of mode $1,
	// the latest engage time, released cuts included.
	sqlRevocations = `SELECT scope, MAX(engaged_ns) FROM killswitch WHERE mode = $1 GROUP BY scope`

	sqlEngage = `INSERT INTO killswitch (mode, scope, direction, reason, engaged_by, engaged_ns)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`

	sqlCutState = `SELECT released_by, released_ns FROM killswitch WHERE id = $1`

	// sqlDropStaleClaim deletes a claim older than $2 on a cut that is
	// still engaged: its holder failed between claim and release.
	sqlDropStaleClaim = `DELETE FROM killswitch_release WHERE cut_id = $1 AND claimed_ns < $2
		AND cut_id IN (SELECT id FROM killswitch WHERE released_ns IS NULL)`

	sqlClaimRelease = `INSERT INTO killswitch_release (cut_id, claim, claimed_ns) VALUES ($1, $2, $3)
		ON CONFLICT (cut_id) DO NOTHING`

	sqlDropClaim = `DELETE FROM killswitch_release WHERE cut_id = $1 AND claim = $2`

	// sqlRelease releases cut $3 only for the holder of claim $4 and only
	// once, so a release is never applied twice.
	sqlRelease = `UPDATE killswitch SET released_by = $1, released_ns = $2
		WHERE id = $3 AND released_ns IS NULL
		AND EXISTS (SELECT 1 FROM killswitch_release WHERE cut_id = $3 AND claim = $4)`
)

// ErrNotEngaged is returned by Release for an id that is not an engaged
// cut.
var ErrNotEngaged = errors.New("killswitch: no engaged cut with that id")

// ErrUnknownPartner is returned by Engage for a cut of a partner that is
// not registered.
var ErrUnknownPartner = errors.New("killswitch: unknown partner id")

// Switch holds the engaged cuts. Reads are lock-free snapshots, so the
// per-request check costs a pointer load and a short loop.
type Switch struct {
	db  *storage.DB
	now func() time.Time
	log *slog.Logger

	state atomic.Pointer[snapshot]
	// reloadMu orders reloads, so that a slow reload never replaces the
	// cuts of a later one with what it read before.
	reloadMu sync.Mutex
	// afterRead, when set, runs in Reload between reading the table and
	// publishing what it read. Only tests set it, before any concurrent
	// use, to hold a reload inside that window.
	afterRead func(ctx context.Context)

	mu        sync.Mutex
	listeners []func(added []*Cut)
	known     map[int64]bool
	partners  []string // sorted registered ids, or nil to accept any id
}

// SetPartners makes Engage reject a partner-scoped cut that names none of
// ids, the registered partners. A mistyped id during an incident would
// otherwise engage a cut that cuts nothing while the operator believes
// the partner is off.
func (s *Switch) SetPartners(ids []string) {
	// slices.Sorted returns nil for no ids, but nil means "not set" here,
	// and a gateway without partners must reject every partner-scoped cut.
	sorted := append([]string{}, slices.Sorted(slices.Values(ids))...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partners = sorted
}

// snapshot is what one Reload read: the engaged cuts, and per scope the
// latest time a full cut was engaged, before which tokens are revoked.
type snapshot struct {
	cuts          []*Cut
	revokeAll     time.Time
	revokePartner map[string]time.Time
}

// Open creates the table if needed and loads the engaged cuts.
func Open(ctx context.Context, db *storage.DB, now func() time.Time, log *slog.Logger) (*Switch, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := db.CreateSchema(ctx, schema); err != nil {
		return nil, fmt.Errorf("killswitch: create schema: %w", err)
	}
	s := &Switch{db: db, now: now, log: log, known: map[int64]bool{}}
	s.state.Store(&snapshot{})
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// OnEngage registers fn to be called with cuts that appear, whether engaged
// here or found by Reload; the gateway uses it to drop connections.
func (s *Switch) OnEngage(fn func(added []*Cut)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// Run reloads the cuts every PollInterval until ctx ends. A failed reload
// keeps the previous cuts and is logged.
func (s *Switch) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("kill switch reload failed; keeping the previous cuts", "error", err)
			}
		}
	}
}

// Reload reads the engaged cuts from the database. Once it returns nil,
// Check and Revoked see every cut committed before it was called.
func (s *Switch) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	rows, err := s.db.QueryContext(ctx, sqlEngagedCuts)
	if err != nil {
		return fmt.Errorf("killswitch: load: %w", err)
	}
	defer rows.Close()
	var cuts []*Cut
	for rows.Next() {
		c := &Cut{}
		var ns int64
		var mode, dir string
		if err := rows.Scan(&c.ID, &mode, &c.Scope, &dir, &c.Reason, &c.EngagedBy, &ns); err != nil {
			return fmt.Errorf("killswitch: load: %w", err)
		}
		c.Mode, c.Direction, c.EngagedAt = Mode(mode), Direction(dir), time.Unix(0, ns)
		if err := c.compileScope(); err != nil {
			return err
		}
		cuts = append(cuts, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("killswitch: load: %w", err)
	}
	snap := &snapshot{cuts: cuts, revokePartner: map[string]time.Time{}}
	if err := s.loadRevocations(ctx, snap); err != nil {
		return err
	}
	if s.afterRead != nil {
		s.afterRead(ctx)
	}
	s.publish(snap)
	return nil
}

// loadRevocations reads, for every scope that ever had a full cut, the
// latest engage time, released cuts included.
func (s *Switch) loadRevocations(ctx context.Context, snap *snapshot) error {
	rows, err := s.db.QueryContext(ctx, sqlRevocations, string(Full))
	if err != nil {
		return fmt.Errorf("killswitch: load revocations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var scope string
		var ns int64
		if err := rows.Scan(&scope, &ns); err != nil {
			return fmt.Errorf("killswitch: load revocations: %w", err)
		}
		if scope == "all" {
			snap.revokeAll = time.Unix(0, ns)
		} else if id, ok := strings.CutPrefix(scope, "partner:"); ok {
			snap.revokePartner[id] = time.Unix(0, ns)
		}
	}
	return rows.Err()
}

// publish installs snap and tells listeners about new cuts.
func (s *Switch) publish(snap *snapshot) {
	s.state.Store(snap)
	s.mu.Lock()
	var added []*Cut
	for _, c := range snap.cuts {
		if !s.known[c.ID] {
			s.known[c.ID] = true
			added = append(added, c)
		}
	}
	listeners := append([]func([]*Cut){}, s.listeners...)
	s.mu.Unlock()
	if len(added) > 0 {
		for _, fn := range listeners {
			fn(added)
		}
	}
}

// Engage validates and persists c, then applies it at once on this
// replica. c.ID and c.EngagedAt are set.
func (s *Switch) Engage(ctx context.Context, c *Cut) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.checkPartner(c); err != nil {
		return err
	}
	c.EngagedAt = s.now()
	err := s.db.QueryRowContext(ctx, sqlEngage, string(c.Mode), c.Scope, string(c.Direction), c.Reason, c.EngagedBy,
		c.EngagedAt.UnixNano()).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("killswitch: engage: %w", err)
	}
	return s.Reload(ctx)
}

// checkPartner rejects a partner-scoped cut of an unregistered partner,
// once SetPartners has named the registered ones.
func (s *Switch) checkPartner(c *Cut) error {
	id, ok := c.Partner()
	s.mu.Lock()
	partners := s.partners
	s.mu.Unlock()
	if !ok || partners == nil {
		return nil
	}
	if _, found := slices.BinarySearch(partners, id); found {
		return nil
	}
	registered := strings.Join(partners, ", ")
	if registered == "" {
		registered = "none"
	}
	return fmt.Errorf("%w: %q; registered partners: %s", ErrUnknownPartner, id, registered)
}

// Cuts returns the engaged cuts.
func (s *Switch) Cuts() []*Cut { return s.state.Load().cuts }

// Check returns the first engaged cut that refuses req from partner in
// direction d, or nil. req may be nil before the request is parsed; then
// only cuts that refuse everything from the partner apply.
func (s *Switch) Check(partner string, d Direction, req *fhirreq.Request) *Cut {
	return s.CheckBody(partner, d, req, false)
}

// CheckBody returns the cut that Check returns, taking body as whether the
// request carries a body, whatever its method. Outbound, a read-only or
// writes-off cut refuses such a request, because the body is the payer's
// data.
func (s *Switch) CheckBody(partner string, d Direction, req *fhirreq.Request, body bool) *Cut {
	for _, c := range s.Cuts() {
		if req == nil && (c.Mode != Full || !c.coversPartner(partner) || !c.coversDirection(d)) {
			continue
		}
		if c.blocks(partner, d, req, body) {
			return c
		}
	}
	return nil
}

// Revoked reports whether a token issued to partner at issuedAt is revoked
// because a full cut covering the partner was engaged after it was issued.
// Released cuts keep their revocation: tokens minted before an incident are
// never honoured again.
func (s *Switch) Revoked(partner string, issuedAt time.Time) bool {
	snap := s.state.Load()
	if issuedAt.Before(snap.revokeAll) {
		return true
	}
	t, ok := snap.revokePartner[partner]
	return ok && issuedAt.Before(t)
}
