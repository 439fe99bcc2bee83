package payer

import (
	"context"
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

// Operator decisions in the exchange record. A control entry names who
// decided in Source and what was decided in its bodies. The record hashes
// and encrypts those bodies like every other body. The request body
// contains the authorization, the item and the decision. The response body
// contains the new ClaimResponse, the outcome and the number of
// Subscriptions notified.
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

// DecideAsOperator records a person's decision d (d.By is
// "operator:<name>") with Decide and then appends it to the exchange
// record as a control entry, whose sequence number it returns in
// DecisionResult.Record. Without a record it rejects the decision with
// ErrNoRecord. If the decision is made but the entry cannot be appended,
// it returns both the result and an error. The decision remains in force,
// and the caller must report it as unrecorded.
func (s *Service) DecideAsOperator(ctx context.Context, d ItemDecision) (*DecisionResult, error) {
	if s.records == nil {
		return nil, ErrNoRecord
	}
	if !strings.HasPrefix(d.By, "operator:") || len(d.By) == len("operator:") {
		return nil, fmt.Errorf("payer: an operator decision must name its operator as operator:<name>, not %q", d.By)
	}

	received := s.now()
	res, err := s.Decide(ctx, d)
	if err != nil {
		return nil, err
	}
	entry, err := operatorEntry(s.newID(), d, res, received, s.now())
	if err == nil {
		res.Record, err = s.records.Append(ctx, entry)
	}
	if err != nil {
		s.log.Error("payer: operator decision made but not recorded", "review_action", string(d.Action), "by", d.By, "error", err)
		return res, fmt.Errorf("payer: the decision is made but could not be added to the exchange record: %w", err)
	}
	return res, nil
}

// operatorEntry builds the control entry of an operator decision. The
// clear fields carry no identifier of the authorization, but the bodies do.
func operatorEntry(id string, d ItemDecision, res *DecisionResult, received, now time.Time) (*record.Entry, error) {
	req, err := json.Marshal(operatorRequest{PreAuthRef: d.PreAuthRef, Item: d.Sequence, ReviewAction: string(d.Action), By: d.By})
	if err != nil {
		return nil, err
	}
	resp, err := json.Marshal(operatorResponse{ClaimResponse: res.ClaimResponseID, Outcome: res.Outcome, Notified: res.Notified})
	if err != nil {
		return nil, err
	}
	return &record.Entry{
		ExchangeID:   id,
		Phase:        record.PhaseControl,
		Direction:    "admin",
		Partner:      res.Partner,
		Source:       d.By,
		Method:       http.MethodPost,
		Interaction:  operatorInteraction,
		Decision:     record.Allow,
		Rule:         operatorRule,
		Reason:       "an operator decided a pended item",
		Status:       http.StatusOK,
		RequestType:  "application/json",
		RequestBody:  req,
		ResponseBody: resp,
		Received:     received,
		TotalTime:    now.Sub(received),
	}, nil
}
