package payer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// ErrNoRecord means the service has no exchange record (Options.Records)
// to write an operator's decision to, so it makes none.
var ErrNoRecord = errors.New("payer: no exchange record is configured, so operator decisions are rejected")

// ErrRecordUnavailable means the entry that names an operator's decision
// could not be appended to the exchange record, so the decision was not
// made. The caller may retry.
var ErrRecordUnavailable = errors.New("payer: the exchange record is unavailable, so the decision was not made")

// Operator decisions in the exchange record. One decision is two control
// entries with the same exchange id, both naming who decided in Source.
// The first is appended before the decision is made and carries the
// request body: the authorization, the item and the decision. The second
// carries the outcome: on success the new ClaimResponse, the outcome and
// the number of Subscriptions notified, otherwise the error. The record
// hashes and encrypts those bodies like every other body.
const (
	operatorInteraction = "payer.decide"
	operatorRule        = "payer.operator-decision"
)

// operatorRequest and operatorResponse are the bodies of the control entry.
type operatorRequest struct {
	PreAuthRef   string `json:"preAuthRef"`
	Item         int    `json:"item"`
	ReviewAction string `json:"reviewAction"`
	By           string `json:"by"`
}

type operatorResponse struct {
	ClaimResponse string `json:"claimResponse"`
	Outcome       string `json:"outcome"`
	Notified      int    `json:"notified"`
}

// DecideAsOperator makes a person's decision d (d.By is
// "operator:<name>") with Decide, recording it in the exchange record
// first. Without a record it rejects the decision with ErrNoRecord, and
// when the first entry cannot be appended, with ErrRecordUnavailable. The
// sequence number of the outcome entry is returned in
// DecisionResult.Record. If the decision is made but its outcome entry
// cannot be appended, it returns both the result and an error: the
// decision remains in force, named by the first entry, and the caller must
// report the outcome as unrecorded.
func (s *Service) DecideAsOperator(ctx context.Context, d ItemDecision) (*DecisionResult, error) {
	if s.records == nil {
		return nil, ErrNoRecord
	}
	if !strings.HasPrefix(d.By, "operator:") || len(d.By) == len("operator:") {
		return nil, fmt.Errorf("payer: an operator decision must name its operator as operator:<name>, not %q", d.By)
	}
	partner, err := s.partnerOf(ctx, d.PreAuthRef)
	if err != nil {
		return nil, err
	}

	exchange, received := s.newID(), s.now()
	requested, err := operatorRequestEntry(exchange, partner, d, received)
	if err == nil {
		_, err = s.records.Append(ctx, requested)
	}
	if err != nil {
		s.log.Error("payer: operator decision rejected: record unavailable", "review_action", string(d.Action), "by", d.By, "error", err)
		return nil, fmt.Errorf("%w: %w", ErrRecordUnavailable, err)
	}

	res, err := s.Decide(ctx, d)
	if err != nil {
		s.recordOperatorFailure(ctx, exchange, partner, d, err, received)
		return nil, err
	}
	entry, err := operatorEntry(exchange, d, res, received, s.now())
	if err == nil {
		res.Record, err = s.records.Append(ctx, entry)
	}
	if err != nil {
		s.log.Error("payer: operator decision made but its outcome not recorded", "review_action", string(d.Action), "by", d.By, "error", err)
		return res, fmt.Errorf("payer: the decision is made but its outcome could not be added to the exchange record: %w", err)
	}
	return res, nil
}

// partnerOf returns the partner an authorization belongs to, or
// ErrNotFound.
func (s *Service) partnerOf(ctx context.Context, preAuthRef string) (string, error) {
	var a authorization
	err := s.store.db.QueryRowContext(ctx, sqlAuthorizationByRef, preAuthRef).
		Scan(&a.preAuthRef, &a.partner, &a.providerKey, &a.patientKey, &a.currentID, &a.version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("payer: look up authorization: %w", err)
	}
	return a.partner, nil
}

// recordOperatorFailure appends the outcome entry of a decision that
// failed. Nothing changed, so a failed append is only logged.
func (s *Service) recordOperatorFailure(ctx context.Context, exchange, partner string, d ItemDecision, cause error, received time.Time) {
	status := http.StatusInternalServerError
	if errors.Is(cause, ErrNotFound) || errors.Is(cause, ErrNotPended) {
		status = http.StatusNotFound
	}
	e, err := operatorRequestEntry(exchange, partner, d, received)
	if err == nil {
		e.Decision, e.Status, e.Reason = record.Deny, status, "an operator's decision on a pended item failed"
		e.ResponseBody, err = json.Marshal(map[string]string{"error": cause.Error()})
	}
	if err == nil {
		e.TotalTime = s.now().Sub(received)
		_, err = s.records.Append(ctx, e)
	}
	if err != nil {
		s.log.Error("payer: failed operator decision not recorded", "by", d.By, "error", err)
	}
}

// operatorRequestEntry builds the entry appended before an operator's
// decision is made. Its Status is zero, and the outcome entry that
// follows it carries the result.
func operatorRequestEntry(id, partner string, d ItemDecision, received time.Time) (*record.Entry, error) {
	req, err := json.Marshal(operatorRequest{PreAuthRef: d.PreAuthRef, Item: d.Sequence, ReviewAction: string(d.Action), By: d.By})
	if err != nil {
		return nil, err
	}
	return &record.Entry{
		ExchangeID:  id,
		Phase:       record.PhaseControl,
		Direction:   "admin",
		Partner:     partner,
		Source:      d.By,
		Method:      http.MethodPost,
		Interaction: operatorInteraction,
		Decision:    record.Allow,
		Rule:        operatorRule,
		Reason:      "an operator requested a decision on a pended item",
		RequestType: "application/json",
		RequestBody: req,
		Received:    received,
	}, nil
}

// operatorEntry builds the control entry of an operator decision: the
// request entry completed with the outcome. The clear fields carry no
// identifier of the authorization, but the bodies do.
func operatorEntry(id string, d ItemDecision, res *DecisionResult, received, now time.Time) (*record.Entry, error) {
	e, err := operatorRequestEntry(id, res.Partner, d, received)
	if err != nil {
		return nil, err
	}
	resp, err := json.Marshal(operatorResponse{ClaimResponse: res.ClaimResponseID, Outcome: res.Outcome, Notified: res.Notified})
	if err != nil {
		return nil, err
	}
	e.Reason = "an operator decided a pended item"
	e.Status = http.StatusOK
	e.ResponseBody = resp
	e.TotalTime = now.Sub(received)
	return e, nil
}
