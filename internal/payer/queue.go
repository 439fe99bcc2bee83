package payer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// PendedItem is one entry of the work queue.
type PendedItem struct {
	PreAuthRef string
	Sequence   int
	// Coding is the item's first productOrService coding.
	Coding   pas.Coding
	PendedAt time.Time
	// DueAt and DueAction are the rule table's later decision; DueAt is
	// zero when an operator must decide.
	DueAt     time.Time
	DueAction pas.ReviewAction
}

// maxListPended caps ListPended.
const maxListPended = 1000

// ListPended returns up to limit items of the work queue (at most 1000),
// oldest first.
func (s *Service) ListPended(ctx context.Context, limit int) ([]PendedItem, error) {
	if limit <= 0 || limit > maxListPended {
		limit = maxListPended
	}
	rows, err := s.store.db.QueryContext(ctx, sqlListPended, limit)
	if err != nil {
		return nil, fmt.Errorf("payer: list work queue: %w", err)
	}
	defer rows.Close()
	var out []PendedItem
	for rows.Next() {
		var it PendedItem
		var pendedAt, dueAt, dueAction string
		if err := rows.Scan(&it.PreAuthRef, &it.Sequence, &it.Coding.System, &it.Coding.Code, &pendedAt, &dueAt, &dueAction); err != nil {
			return nil, fmt.Errorf("payer: list work queue: %w", err)
		}
		it.PendedAt, _ = time.Parse(stampLayout, pendedAt)
		it.DueAt, _ = time.Parse(stampLayout, dueAt)
		it.DueAction = pas.ReviewAction(dueAction)
		out = append(out, it)
	}
	return out, rows.Err()
}

// ResolveAuthorization returns the preAuthRef that ref names: a preAuthRef
// itself, a Claim identifier as "system|value", or a bare Claim identifier
// value that belongs to exactly one authorization. It returns ErrNotFound
// or ErrAmbiguous otherwise.
func (s *Service) ResolveAuthorization(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", ErrNotFound
	}
	var found string
	err := s.store.db.QueryRowContext(ctx, sqlAuthorizationExists, ref).Scan(&found)
	if err == nil {
		return found, nil
	}
	if system, value, ok := strings.Cut(ref, "|"); ok {
		return s.resolveOne(ctx, sqlClaimKeysByIdentifier, system, value)
	}
	return s.resolveOne(ctx, sqlClaimKeysByValue, ref)
}

// resolveOne runs a query for preAuthRefs and returns the one it finds,
// ErrNotFound for none and ErrAmbiguous for more: identifiers are unique
// per partner only, so two partners may use the same one.
func (s *Service) resolveOne(ctx context.Context, query string, args ...any) (string, error) {
	rows, err := s.store.db.QueryContext(ctx, query, args...)
	if err != nil {
		return "", fmt.Errorf("payer: look up claim identifier: %w", err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return "", fmt.Errorf("payer: look up claim identifier: %w", err)
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("payer: look up claim identifier: %w", err)
	}
	switch len(refs) {
	case 0:
		return "", ErrNotFound
	case 1:
		return refs[0], nil
	}
	return "", ErrAmbiguous
}

// duePendedBatch is how many due items DecideDue reads at a time.
var duePendedBatch = 100

// dueItem is a pended item whose rule-table decision is due.
type dueItem struct {
	ref    string
	seq    int
	action string
}

// DecideDue applies the rule table's later decision to every pended item
// whose delay has passed, and returns how many it decided. It reads the
// due items in batches until one comes back short, so a backlog larger
// than a batch clears in one call rather than a batch per poll. An item
// an operator or another replica decided meanwhile is skipped.
func (s *Service) DecideDue(ctx context.Context) (int, error) {
	decided := 0
	for {
		items, err := s.dueItems(ctx)
		if err != nil {
			return decided, err
		}
		before := decided
		for _, it := range items {
			_, err := s.Decide(ctx, ItemDecision{PreAuthRef: it.ref, Sequence: it.seq, Action: pas.ReviewAction(it.action), By: "rules"})
			switch {
			case errors.Is(err, ErrNotPended) || errors.Is(err, ErrNotFound):
			case err != nil:
				return decided, err
			default:
				decided++
			}
		}
		// A full batch of items this call could not decide would come back
		// again, so it ends the call too.
		if len(items) < duePendedBatch || decided == before || ctx.Err() != nil {
			return decided, nil
		}
	}
}

// dueItems reads the next batch of due items, oldest first.
func (s *Service) dueItems(ctx context.Context) ([]dueItem, error) {
	rows, err := s.store.db.QueryContext(ctx, sqlDuePended, s.now().UTC().Format(stampLayout), duePendedBatch)
	if err != nil {
		return nil, fmt.Errorf("payer: read work queue: %w", err)
	}
	defer rows.Close()
	var items []dueItem
	for rows.Next() {
		var d dueItem
		if err := rows.Scan(&d.ref, &d.seq, &d.action); err != nil {
			return nil, fmt.Errorf("payer: read work queue: %w", err)
		}
		items = append(items, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payer: read work queue: %w", err)
	}
	return items, nil
}

// Run applies the rule table's later decisions every Options.PollInterval
// and, when Options.Delivery is set, delivers Subscription notifications,
// until ctx ends. It returns nil when ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	if s.delivering {
		go func() {
			if err := s.subs.Run(ctx); err != nil {
				s.log.Error("payer: notification delivery stopped", "error", err)
			}
		}()
	}
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	for {
		if _, err := s.DecideDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("payer: automatic decision failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
