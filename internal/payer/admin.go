package payer

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/admin"
)

// DecisionRequest is the body of POST /payer/decisions on the admin
// listener.
type DecisionRequest struct {
	// Claim is a preAuthRef, a Claim identifier as system|value, or a
	// bare Claim identifier value (see ResolveAuthorization).
	Claim string `json:"claim"`
	// Item is the Claim.item sequence.
	Item int `json:"item"`
	// Decision is approve, partial, deny, modify, contact or none.
	Decision string `json:"decision"`
}

// pendedJSON is one work-queue item as the admin API lists it.
type pendedJSON struct {
	PreAuthRef string    `json:"preAuthRef"`
	Item       int       `json:"item"`
	System     string    `json:"system"`
	Code       string    `json:"code"`
	PendedAt   time.Time `json:"pendedAt"`
	DueAt      time.Time `json:"dueAt,omitzero"`
	DueAction  string    `json:"dueAction,omitempty"`
}

// AdminHandlers returns the payer's routes for the admin listener, which
// authenticates administrators (internal/admin):
//
//	GET  /payer/pended     the work queue, oldest first, as JSON
//	POST /payer/decisions  decide a pended item: a DecisionRequest body;
//	                       200 with the new ClaimResponse id, 404 when no
//	                       authorization or pended item matches, 400 for
//	                       a bad body or decision, 503 without an
//	                       exchange record
//
// A decision is made by "operator:<administrator name>" and appended to
// the exchange record (DecideAsOperator). The 200 body names the entry's
// sequence number as "record", and so does the X-Gatehouse-Record header.
func (s *Service) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /payer/pended":     http.HandlerFunc(s.adminPended),
		"POST /payer/decisions": http.HandlerFunc(s.adminDecide),
	}
}

func (s *Service) adminPended(w http.ResponseWriter, r *http.Request) {
	items, err := s.ListPended(r.Context(), 0)
	if err != nil {
		s.log.Error("payer: list work queue failed", "error", err)
		writeAdminJSON(w, http.StatusInternalServerError, map[string]string{"error": "the work queue could not be read"})
		return
	}
	out := make([]pendedJSON, 0, len(items))
	for _, it := range items {
		out = append(out, pendedJSON{PreAuthRef: it.PreAuthRef, Item: it.Sequence, System: it.Coding.System, Code: it.Coding.Code,
			PendedAt: it.PendedAt, DueAt: it.DueAt, DueAction: string(it.DueAction)})
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"pended": out})
}

func (s *Service) adminDecide(w http.ResponseWriter, r *http.Request) {
	var req DecisionRequest
	if err := admin.DecodeBody(r, &req); err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: use {\"claim\":..., \"item\":..., \"decision\":...}"})
		return
	}
	action, err := ParseDecision(req.Decision)
	if err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ref, err := s.ResolveAuthorization(r.Context(), req.Claim)
	var res *DecisionResult
	if err == nil {
		res, err = s.DecideAsOperator(r.Context(), ItemDecision{PreAuthRef: ref, Sequence: req.Item, Action: action, By: "operator:" + admin.Name(r.Context())})
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotPended), errors.Is(err, ErrAmbiguous):
		writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case res != nil && err != nil:
		// DecideAsOperator has logged it. The decision remains in force,
		// and the record names it but lacks its outcome.
		writeAdminJSON(w, http.StatusInternalServerError, map[string]any{
			"error": "the decision is made but could not be added to the exchange record", "claimResponse": res.ClaimResponseID,
		})
	case errors.Is(err, ErrNoRecord), errors.Is(err, ErrRecordUnavailable):
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	case err != nil:
		s.log.Error("payer: operator decision failed", "error", err)
		writeAdminJSON(w, http.StatusInternalServerError, map[string]string{"error": "the decision could not be recorded"})
	default:
		w.Header().Set("X-Gatehouse-Record", strconv.FormatInt(res.Record, 10))
		writeAdminJSON(w, http.StatusOK, map[string]any{
			"preAuthRef": ref, "item": req.Item, "reviewAction": string(action),
			"claimResponse": res.ClaimResponseID, "outcome": res.Outcome, "notified": res.Notified, "record": res.Record,
		})
	}
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
