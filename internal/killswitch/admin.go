package killswitch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/admin"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// EngageRequest is the body of POST /killswitch.
type EngageRequest struct {
	Mode      Mode      `json:"mode"`
	Scope     string    `json:"scope"`
	Direction Direction `json:"direction"`
	Reason    string    `json:"reason"`
}

// Handlers returns the admin routes of the switch: GET /killswitch lists
// the engaged cuts, POST /killswitch engages one, POST
// /killswitch/{id}/release releases one. Every change is appended to
// records before the response. An engage that cannot be recorded stays in
// force and is reported as unrecorded. A release that cannot be recorded
// is not made (503), and a release of a released cut gets 409.
func Handlers(sw *Switch, records record.Store) map[string]http.Handler {
	return map[string]http.Handler{
		"GET /killswitch": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"cuts": sw.Cuts()})
		}),
		"POST /killswitch": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			engage(w, r, sw, records)
		}),
		"POST /killswitch/{id}/release": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			release(w, r, sw, records)
		}),
	}
}

// engage engages a cut and records it. It ignores the cancellation of the
// request's context when the client closes the connection, because an
// engage interrupted between the database and the record would leave a cut
// in force that the log never names.
func engage(w http.ResponseWriter, r *http.Request, sw *Switch, records record.Store) {
	ctx := context.WithoutCancel(r.Context())
	var req EngageRequest
	if err := admin.DecodeBody(r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return
	}
	c := &Cut{Mode: req.Mode, Scope: req.Scope, Direction: req.Direction, Reason: req.Reason, EngagedBy: admin.Name(r.Context())}
	if c.Scope == "" {
		c.Scope = "all"
	}
	if err := sw.Engage(ctx, c); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err := recordChange(ctx, records, "killswitch.engage", c, http.StatusCreated); err != nil {
		// The cut is in force already; it stays, because failing open is
		// worse than an unrecorded cut. The operator is told.
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "the cut is engaged but could not be recorded: " + err.Error(), "cut": c})
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// release records the release of a cut and then releases it. Releasing
// ends the containment of an incident, so unlike an engage it fails
// closed: when the record cannot take the entry, the cut stays engaged.
// It claims the release in the database first, so that when callers on
// any replicas release one cut at once, only one records and releases it.
// The others get 409 Conflict, naming who released the cut and when or
// reporting a release in progress, and record nothing. Like engage, it
// ignores the client closing the connection, so that a recorded release
// is also made.
func release(w http.ResponseWriter, r *http.Request, sw *Switch, records record.Store) {
	ctx := context.WithoutCancel(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid cut id"})
		return
	}
	log := sw.log.With("cut", id, "admin", admin.Name(r.Context()))
	claim, c, err := sw.claimRelease(ctx, id)
	var released *ReleasedError
	switch {
	case errors.As(err, &released):
		log.Warn("kill switch release rejected: the cut is already released", "released_by", released.ReleasedBy)
		writeJSON(w, http.StatusConflict, map[string]any{"error": released.Error(),
			"released": id, "released_by": released.ReleasedBy, "released_at": released.ReleasedAt.UTC()})
		return
	case errors.Is(err, ErrReleaseInProgress):
		log.Warn("kill switch release rejected: another release of the cut is in progress")
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error() + ". List the cuts with GET /killswitch to see whether it was released."})
		return
	case errors.Is(err, ErrNotEngaged):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNotEngaged.Error()})
		return
	case err != nil:
		log.Error("kill switch release failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}

	if err := recordChange(ctx, records, "killswitch.release", c, http.StatusOK); err != nil {
		if abandonErr := sw.abandonRelease(ctx, id, claim); abandonErr != nil {
			err = errors.Join(err, abandonErr)
		}
		log.Error("kill switch release not made: the release could not be recorded", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the release could not be recorded, so the cut stays engaged; retry later: " + err.Error()})
		return
	}
	// NOTE: the record now names a release. If finishRelease fails on a
	// database error, the cut may stay engaged and the error reaches the
	// operator, but the record is not corrected.
	if err := sw.finishRelease(ctx, id, claim, admin.Name(ctx)); err != nil {
		log.Error("kill switch release recorded but failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"released": id})
}

// engagedCut returns the engaged cut with id, or nil.
func engagedCut(sw *Switch, id int64) *Cut {
	for _, c := range sw.Cuts() {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// recordChange appends a control entry describing the change.
func recordChange(ctx context.Context, records record.Store, action string, c *Cut, status int) error {
	body, _ := json.Marshal(c)
	partner, _ := c.Partner()
	e := &record.Entry{
		ExchangeID:   record.NewExchangeID(),
		Phase:        record.PhaseControl,
		Direction:    "admin",
		Partner:      partner,
		Method:       http.MethodPost,
		Interaction:  action,
		Rule:         "killswitch.cut-" + strconv.FormatInt(c.ID, 10),
		Reason:       c.Reason,
		Status:       status,
		RequestType:  "application/json",
		ResponseBody: body,
		Received:     time.Now(),
		Source:       "admin:" + admin.Name(ctx),
	}
	_, err := records.Append(ctx, e)
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
