package payer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

var (
	// ErrNotFound means no prior authorization matches the reference
	// given to Decide or ResolveAuthorization.
	ErrNotFound = errors.New("payer: prior authorization not found")
	// ErrAmbiguous means a bare Claim identifier value names more than
	// one prior authorization; use system|value or the preAuthRef.
	ErrAmbiguous = errors.New("payer: the claim identifier value names several prior authorizations")
	// ErrNotPended means the item is not waiting for a decision.
	ErrNotPended = errors.New("payer: the item is not pended")
)

// stampLayout writes UTC times with a fixed width, so they sort as text.
const stampLayout = "2006-01-02T15:04:05.000000Z"

// searchInstant is the ClaimResponse.created instant as payer_responses
// stores it: UTC, second precision, fixed width.
func searchInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// queuePended replaces the authorization's work queue with the pended
// items of a new submission, because a revision replaces every item.
func queuePended(ctx context.Context, tx txQueries, sub *submission) error {
	// A new authorization has no queue to clear.
	if !sub.isNew {
		if _, err := tx.ExecContext(ctx, sqlClearPended, sub.auth.preAuthRef); err != nil {
			return fmt.Errorf("payer: clear work queue: %w", err)
		}
	}
	at := sub.receivedAt.UTC()
	dueAt, dueAction := "", ""
	if sub.pendThen != "" {
		dueAt, dueAction = at.Add(sub.pendDelay).Format(stampLayout), string(sub.pendThen)
	}
	for _, d := range sub.decisions {
		if d.action != pas.Pended {
			continue
		}
		if _, err := tx.ExecContext(ctx, sqlInsertPended, sub.auth.preAuthRef, d.sequence, d.coding.System, d.coding.Code,
			at.Format(stampLayout), dueAt, dueAction); err != nil {
			return fmt.Errorf("payer: queue pended item: %w", err)
		}
	}
	return nil
}

// ItemDecision is a later decision on one pended item.
type ItemDecision struct {
	PreAuthRef string
	Sequence   int
	Action     pas.ReviewAction
	// By names who decided, recorded with the decision: "rules" for the
	// rule table, "operator:<name>" for a person.
	By string
}

// DecisionResult is what Decide recorded.
type DecisionResult struct {
	// ClaimResponseID is the id of the new ClaimResponse version.
	ClaimResponseID string
	Outcome         string
	// Notified is the number of Subscriptions the event was queued for.
	Notified int
	// Partner is the partner the authorization belongs to.
	Partner string
	// Record is the sequence number of the decision's entry in the
	// exchange record. DecideAsOperator sets it, and Decide leaves it zero.
	Record int64
}

// Decide records d: a new ClaimResponse version with the same preAuthRef,
// the item's new review action and the outcome that follows, made the
// authorization's current decision. It removes the item from the work
// queue and publishes the event to the partner's Subscriptions, all in
// one transaction. It returns ErrNotFound or ErrNotPended when there is
// nothing to decide.
func (s *Service) Decide(ctx context.Context, d ItemDecision) (*DecisionResult, error) {
	if d.Action == pas.Pended || !d.Action.Valid() {
		return nil, errors.New("payer: a decision must be a review action other than pended")
	}
	for attempt := 1; ; attempt++ {
		res, err := s.decideOnce(ctx, d)
		if !errors.Is(err, errRaceLost) || attempt == maxSaveAttempts {
			return res, err
		}
	}
}

func (s *Service) decideOnce(ctx context.Context, d ItemDecision) (*DecisionResult, error) {
	tx, err := s.store.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("payer: begin: %w", err)
	}
	defer tx.Rollback()

	auth, err := authorizationByRef(ctx, tx, d.PreAuthRef)
	if err != nil {
		return nil, err
	}
	var system, code string
	err = tx.QueryRowContext(ctx, sqlPendedItem, auth.preAuthRef, d.Sequence).Scan(&system, &code)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotPended
	}
	if err != nil {
		return nil, fmt.Errorf("payer: read work queue: %w", err)
	}

	res, response, err := s.recordDecision(ctx, tx, auth, d)
	if err != nil {
		return nil, err
	}
	res.Partner = auth.partner
	if res.Notified, err = s.publish(ctx, tx, auth, response); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("payer: commit: %w", err)
	}
	s.log.Info("payer: pended item decided", "review_action", string(d.Action), "by", d.By, "subscriptions", res.Notified)
	return res, nil
}

// recordDecision writes the new ClaimResponse version and makes it current.
func (s *Service) recordDecision(ctx context.Context, tx *sql.Tx, auth *authorization, d ItemDecision) (*DecisionResult, []byte, error) {
	var stored string
	if err := tx.QueryRowContext(ctx, sqlResponseByID, auth.currentID).Scan(&stored); err != nil {
		return nil, nil, fmt.Errorf("payer: read current decision: %w", err)
	}
	var patientRef string
	if err := tx.QueryRowContext(ctx, sqlPatientRef, auth.currentID).Scan(&patientRef); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("payer: read response index: %w", err)
	}

	id, now := s.newID(), s.now()
	response, err := pas.Redecide([]byte(stored), pas.Redecision{ID: id, Created: now, Actions: map[int]pas.ReviewAction{d.Sequence: d.Action}})
	if err != nil {
		return nil, nil, err
	}
	parsed, err := pas.ParseResponse(response)
	if err != nil {
		return nil, nil, fmt.Errorf("payer: new decision: %w", err)
	}

	stamp := now.UTC().Format(time.RFC3339Nano)
	if _, err := tx.ExecContext(ctx, sqlInsertItemDecision, id, auth.preAuthRef, d.Sequence, string(d.Action), d.By,
		parsed.Outcome, string(response), stamp); err != nil {
		return nil, nil, fmt.Errorf("payer: insert decision: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertResponse, id, auth.preAuthRef, searchInstant(now), patientRef); err != nil {
		return nil, nil, fmt.Errorf("payer: index response: %w", err)
	}
	res, err := tx.ExecContext(ctx, sqlAdvanceAuthorization, id, stamp, auth.preAuthRef, auth.version)
	if err != nil {
		return nil, nil, fmt.Errorf("payer: update authorization: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return nil, nil, errRaceLost
	}
	if _, err := tx.ExecContext(ctx, sqlDeletePended, auth.preAuthRef, d.Sequence); err != nil {
		return nil, nil, fmt.Errorf("payer: update work queue: %w", err)
	}
	return &DecisionResult{ClaimResponseID: id, Outcome: parsed.Outcome}, response, nil
}

// publish raises the PAS topic event for a new response Bundle: the
// ClaimResponse is the focus, and the entries it references are context.
func (s *Service) publish(ctx context.Context, tx *sql.Tx, auth *authorization, response []byte) (int, error) {
	entries, err := pas.ResponseEntries(response)
	if err != nil {
		return 0, err
	}
	ev := subscriptions.Event{Partner: auth.partner}
	if system, value, ok := strings.Cut(auth.providerKey, "|"); ok {
		ev.Organizations = [][2]string{{system, value}}
	}
	for i, e := range entries {
		r := subscriptions.Resource{FullURL: e.FullURL, Type: e.Type, ID: e.ID, JSON: e.Resource}
		if i == 0 {
			ev.Focus = r
		} else {
			ev.Context = append(ev.Context, r)
		}
	}
	return s.subs.Publish(ctx, tx, ev)
}

func authorizationByRef(ctx context.Context, tx *sql.Tx, ref string) (*authorization, error) {
	var a authorization
	err := tx.QueryRowContext(ctx, sqlAuthorizationByRef, ref).
		Scan(&a.preAuthRef, &a.partner, &a.providerKey, &a.patientKey, &a.currentID, &a.version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("payer: look up authorization: %w", err)
	}
	return &a, nil
}
