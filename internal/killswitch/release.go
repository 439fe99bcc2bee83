package killswitch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// claimTimeout is how long a claimed release may take before another
// caller may claim the cut again. It covers the record append and one
// UPDATE.
// NOTE: a holder slower than this (a stalled record store) loses its
// claim to the next caller. If its entry was recorded by then, the log
// names two releases of the cut, although only the new holder releases it.
const claimTimeout = time.Minute

// ErrReleaseInProgress is returned when another caller, on this replica or
// another, has claimed the release of the cut and not finished it.
var ErrReleaseInProgress = errors.New("killswitch: another release of the cut is in progress")

// ReleasedError is the error for a cut that is already released. It wraps
// ErrNotEngaged.
type ReleasedError struct {
	ID         int64
	ReleasedBy string
	ReleasedAt time.Time
}

func (e *ReleasedError) Error() string {
	return fmt.Sprintf("killswitch: cut %d was already released by %s at %s", e.ID, e.ReleasedBy,
		e.ReleasedAt.UTC().Format(time.RFC3339))
}

func (e *ReleasedError) Unwrap() error { return ErrNotEngaged }

// Release releases the cut with id without recording it, for callers that
// keep their own record. The admin API records each release first
// (Handlers). It returns a *ReleasedError for a cut already released and
// ErrNotEngaged for an unknown id.
func (s *Switch) Release(ctx context.Context, id int64, by string) (*Cut, error) {
	claim, c, err := s.claimRelease(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.finishRelease(ctx, id, claim, by); err != nil {
		return nil, err
	}
	return c, nil
}

// claimRelease reserves the release of the engaged cut with id for the
// caller, across all replicas sharing the database. Of concurrent callers
// one gets the claim, and the others get ErrReleaseInProgress or, once the
// release is done, a *ReleasedError. The holder records the release and
// then calls finishRelease, or abandonRelease if it cannot record it.
func (s *Switch) claimRelease(ctx context.Context, id int64) (claim string, c *Cut, err error) {
	if err := s.checkReleasable(ctx, id); err != nil {
		return "", nil, err
	}
	now := s.now()
	if _, err := s.db.ExecContext(ctx, sqlDropStaleClaim, id, now.Add(-claimTimeout).UnixNano()); err != nil {
		return "", nil, fmt.Errorf("killswitch: release: %w", err)
	}
	// Any unguessable token serves as the claim, so it takes the exchange id form.
	claim = record.NewExchangeID()
	res, err := s.db.ExecContext(ctx, sqlClaimRelease, id, claim, now.UnixNano())
	if err != nil {
		return "", nil, fmt.Errorf("killswitch: release: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Another caller holds the claim, or has released the cut since
		// checkReleasable read it.
		if err := s.checkReleasable(ctx, id); err != nil {
			return "", nil, err
		}
		return "", nil, ErrReleaseInProgress
	}

	// The cut was engaged when checkReleasable read it, and only the
	// holder of the claim can release it, so a reload finds it when this
	// replica has not loaded it yet.
	if c = engagedCut(s, id); c == nil {
		if err := s.Reload(ctx); err != nil {
			return "", nil, errors.Join(err, s.abandonRelease(ctx, id, claim))
		}
		c = engagedCut(s, id)
	}
	if c == nil {
		return "", nil, errors.Join(ErrNotEngaged, s.abandonRelease(ctx, id, claim))
	}
	return claim, c, nil
}

// checkReleasable reads the cut's state from the database, returning
// ErrNotEngaged for an unknown id and a *ReleasedError for a released cut.
func (s *Switch) checkReleasable(ctx context.Context, id int64) error {
	var by sql.NullString
	var ns sql.NullInt64
	err := s.db.QueryRowContext(ctx, sqlCutState, id).Scan(&by, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotEngaged
	}
	if err != nil {
		return fmt.Errorf("killswitch: release: %w", err)
	}
	if ns.Valid {
		return &ReleasedError{ID: id, ReleasedBy: by.String, ReleasedAt: time.Unix(0, ns.Int64)}
	}
	return nil
}

// finishRelease releases the cut for the holder of claim and applies the
// release on this replica.
func (s *Switch) finishRelease(ctx context.Context, id int64, claim, by string) error {
	res, err := s.db.ExecContext(ctx, sqlRelease, by, s.now().UnixNano(), id, claim)
	if err != nil {
		return fmt.Errorf("killswitch: release: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		// The claim expired, and another caller took it over.
		if err := s.checkReleasable(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("killswitch: release of cut %d: the claim expired before the release", id)
	}
	return s.Reload(ctx)
}

// abandonRelease gives up a claim whose release could not be recorded, so
// that a later caller may release the cut at once.
func (s *Switch) abandonRelease(ctx context.Context, id int64, claim string) error {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), sqlDropClaim, id, claim); err != nil {
		return fmt.Errorf("killswitch: abandon release: %w", err)
	}
	return nil
}
