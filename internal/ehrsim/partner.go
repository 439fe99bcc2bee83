package ehrsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

// ErrNotConnected is returned by the calling methods before Connect.
var ErrNotConnected = errors.New("ehrsim: not connected to a gateway; call Connect first")

// catchUpTimeout bounds one catch-up round against the gateway.
const catchUpTimeout = 30 * time.Second

// Do sends one FHIR request to the gateway with the EHR's credentials.
func (s *Sim) Do(ctx context.Context, method, path string, body []byte) (*ehrclient.Response, error) {
	c := s.client.Load()
	if c == nil {
		return nil, ErrNotConnected
	}
	return c.Do(ctx, method, path, body)
}

// Subscribe creates a Subscription to the PAS topic, filtered on the EHR's
// organisation, with full-resource payloads delivered to HookURL. It
// returns the gateway's response and, on 201, the new Subscription's id,
// which the simulator then tracks.
func (s *Sim) Subscribe(ctx context.Context) (*ehrclient.Response, string, error) {
	s.state.startCreating()
	defer s.state.creatingDone()
	resp, err := s.Do(ctx, http.MethodPost, "Subscription", s.subscriptionJSON())
	if err != nil {
		return nil, "", err
	}
	if resp.Status != http.StatusCreated {
		return resp, "", nil
	}
	var created struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &created); err != nil || created.ResourceType != "Subscription" || created.ID == "" {
		return resp, "", errors.New("ehrsim: the gateway returned 201 without a Subscription id")
	}
	s.state.track(created.ID)
	return resp, created.ID, nil
}

func (s *Sim) subscriptionJSON() []byte {
	filter := s.opts.OrganizationValue
	if s.opts.OrganizationSystem != "" {
		filter = s.opts.OrganizationSystem + "|" + filter
	}
	const backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	sub := map[string]any{
		"resourceType": "Subscription",
		"status":       "requested",
		"reason":       "Prior authorization results for " + s.opts.PartnerID,
		"criteria":     subscriptions.TopicPAS,
		"_criteria": map[string]any{"extension": []any{map[string]any{
			"url": backport + "backport-filter-criteria", "valueString": "org-identifier=" + filter}}},
		"channel": map[string]any{
			"type": "rest-hook", "endpoint": s.HookURL(), "payload": "application/fhir+json",
			"_payload": map[string]any{"extension": []any{map[string]any{
				"url": backport + "backport-payload-content", "valueCode": "full-resource"}}},
		},
	}
	body, _ := json.Marshal(sub) // maps of strings always encode
	return body
}

// Status reads a Subscription's status through the gateway ($status) and
// returns its events-since-subscription-start counter and status code.
func (s *Sim) Status(ctx context.Context, id string) (counter int64, code string, resp *ehrclient.Response, err error) {
	resp, err = s.Do(ctx, http.MethodGet, "Subscription/"+id+"/$status", nil)
	if err != nil {
		return 0, "", nil, err
	}
	if resp.Status != http.StatusOK {
		return 0, "", resp, fmt.Errorf("ehrsim: $status: status %d", resp.Status)
	}
	st, err := parseNotification(resp.Body, "searchset")
	if err != nil {
		return 0, "", resp, err
	}
	return st.eventsSinceStart, st.code, resp, nil
}

// Events fetches events from..to of a Subscription through $events, after
// the same strict checks as a notification. The payer returns one page, at
// most its page size (100 by default) from from on, so the result may end
// before to. CatchUp then requests the rest from the next number.
func (s *Sim) Events(ctx context.Context, id string, from, to int64) ([]Event, *ehrclient.Response, error) {
	if from < 1 || to < from {
		return nil, nil, fmt.Errorf("ehrsim: $events: invalid range %d to %d", from, to)
	}
	path := "Subscription/" + id + "/$events?eventsSinceNumber=" + strconv.FormatInt(from, 10) +
		"&eventsUntilNumber=" + strconv.FormatInt(to, 10)
	resp, err := s.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, resp, fmt.Errorf("ehrsim: $events: status %d", resp.Status)
	}

	oo, err := s.opts.Strict.CheckRequest(HookPath, resp.Body)
	if err != nil {
		return nil, resp, fmt.Errorf("ehrsim: $events: %w", err)
	}
	if oo != nil {
		return nil, resp, fmt.Errorf("ehrsim: $events: the response does not conform to FHIR R4: %s", firstError(oo))
	}
	st, err := parseNotification(resp.Body, "history")
	if err != nil {
		return nil, resp, err
	}
	if st.kind != TypeQueryEvent || st.subscriptionID != id {
		return nil, resp, fmt.Errorf("ehrsim: $events: the response is a %s for another Subscription", st.kind)
	}
	var out []Event
	for _, ev := range st.events {
		if ev.Number >= from && ev.Number <= to {
			out = append(out, ev)
		}
	}
	return out, resp, nil
}

// CheckStatus compares a Subscription's counter at the gateway ($status)
// with the events received, marks the numbers not received missing, and
// catches up through $events. It returns the numbers it found missing.
// An EHR calls it after an outage, when notifications may have been lost
// and no later one has arrived to reveal the gap.
func (s *Sim) CheckStatus(ctx context.Context, id string) ([]int64, error) {
	if !s.state.known(id) {
		return nil, fmt.Errorf("ehrsim: Subscription %q was not created by this simulator", id)
	}
	counter, _, _, err := s.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	gap := s.state.openGap(id, counter)
	if len(gap) == 0 {
		return nil, nil
	}
	return gap, s.CatchUp(ctx)
}

// CatchUp fetches every missing event through $events, page by page, and
// marks the ones it gets received. It returns the first error. Events
// fetched before it stay received.
func (s *Sim) CatchUp(ctx context.Context) error {
	for id, r := range s.state.missingRanges() {
		if err := s.catchUpRange(ctx, id, r[0], r[1]); err != nil {
			s.state.catchUpFailed()
			return err
		}
	}
	return nil
}

// catchUpRange requests from..to, then the rest after the last event each
// page returns, until a page reaches to.
func (s *Sim) catchUpRange(ctx context.Context, id string, from, to int64) error {
	for from <= to {
		events, _, err := s.Events(ctx, id, from, to)
		if err != nil {
			return err
		}
		s.state.recover(id, events)

		last := int64(0)
		for _, ev := range events {
			last = max(last, ev.Number)
		}
		if last < from {
			// An empty page means the payer no longer stores these events,
			// so requesting the same range again would loop forever.
			return fmt.Errorf("ehrsim: $events: Subscription %q returned no event from %d to %d", id, from, to)
		}
		from = last + 1
	}
	return nil
}

func (s *Sim) wakeCatchUp() {
	select {
	case s.catchUp <- struct{}{}:
	default:
	}
}

// runCatchUp catches up after each gap, once connected. A failed round
// waits for the next notification, which brings a new chance.
func (s *Sim) runCatchUp(ctx context.Context) {
	defer s.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.catchUp:
		}
		if s.client.Load() == nil {
			continue
		}
		round, cancel := context.WithTimeout(ctx, catchUpTimeout)
		if err := s.CatchUp(round); err != nil && ctx.Err() == nil {
			s.log.Warn("ehrsim: catch-up through $events failed", "error", err)
		}
		cancel()
	}
}

func firstError(oo *outcome.OperationOutcome) string {
	for _, is := range oo.Issue {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			return strings.Join(append([]string{is.Diagnostics}, is.Expression...), " at ")
		}
	}
	return "no detail"
}
