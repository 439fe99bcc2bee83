package subscriptions

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// PartnerHeader carries the partner id of the gateway's verified client,
// as in internal/payer.
const PartnerHeader = "X-Gatehouse-Partner"

// maxSubscriptionBytes caps a Subscription body. The resources this
// package accepts are well under 8 KiB.
const maxSubscriptionBytes = 64 << 10

// Handler serves the Subscription endpoints below a FHIR base:
//
//	POST   /Subscription                   create (201)
//	GET    /Subscription/{id}              read
//	DELETE /Subscription/{id}              set status off
//	GET    /Subscription/{id}/$status      SubscriptionStatus (query-status)
//	GET    /Subscription/{id}/$events      stored events (query-event)
//
// The two operations also accept POST with a Parameters body, as FHIR
// allows for every operation.
//
// Other paths get 404, other methods 405, each with an OperationOutcome.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		partner := r.Header.Get(PartnerHeader)
		rest, _ := strings.CutPrefix(r.URL.Path, "/Subscription")
		segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		switch {
		case rest == "":
			h.route(w, r, http.MethodPost, func() { h.handleCreate(w, r, partner) })
		case len(segs) == 1 && validID(segs[0]):
			if r.Method == http.MethodDelete {
				h.handleDelete(w, r, partner, segs[0])
				return
			}
			h.route(w, r, http.MethodGet+", "+http.MethodDelete, func() { h.handleRead(w, r, partner, segs[0]) })
		case len(segs) == 2 && validID(segs[0]) && segs[1] == "$status":
			h.routeOperation(w, r, func(url.Values) { h.handleStatus(w, r, partner, segs[0]) })
		case len(segs) == 2 && validID(segs[0]) && segs[1] == "$events":
			h.routeOperation(w, r, func(q url.Values) { h.handleEvents(w, r, partner, segs[0], q) })
		default:
			fail(w, http.StatusNotFound, outcome.CodeNotFound, "no Subscription endpoint at this path")
		}
	})
}

// routeOperation runs an operation invoked with GET and a query string, or
// with POST and a Parameters body whose parameters are strings, codes or
// integers.
func (h *Hub) routeOperation(w http.ResponseWriter, r *http.Request, serve func(url.Values)) {
	switch r.Method {
	case http.MethodGet:
		serve(r.URL.Query())
	case http.MethodPost:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		q, err := parametersQuery(body)
		if err != nil {
			fail(w, http.StatusBadRequest, outcome.CodeInvalid, "the body must be a Parameters resource with string, code or integer values")
			return
		}
		serve(q)
	default:
		w.Header().Set("Allow", "GET, POST")
		fail(w, http.StatusMethodNotAllowed, outcome.CodeNotSupported, "use GET or POST for this operation")
	}
}

// parametersQuery turns an operation's Parameters body into name=value
// pairs.
func parametersQuery(body []byte) (url.Values, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name         string `json:"name"`
			ValueString  string `json:"valueString"`
			ValueCode    string `json:"valueCode"`
			ValueInteger *int64 `json:"valueInteger"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, errors.New("subscriptions: not a Parameters resource")
	}
	q := url.Values{}
	for _, param := range p.Parameter {
		v := param.ValueString + param.ValueCode
		if param.ValueInteger != nil {
			v = strconv.FormatInt(*param.ValueInteger, 10)
		}
		q.Add(param.Name, v)
	}
	return q, nil
}

// route runs serve when the method is the first one allowed.
func (h *Hub) route(w http.ResponseWriter, r *http.Request, allow string, serve func()) {
	method, _, _ := strings.Cut(allow, ",")
	if r.Method != method {
		w.Header().Set("Allow", allow)
		fail(w, http.StatusMethodNotAllowed, outcome.CodeNotSupported, "use "+allow+" for this endpoint")
		return
	}
	serve()
}

func (h *Hub) handleCreate(w http.ResponseWriter, r *http.Request, partner string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if partner == "" {
		fail(w, http.StatusForbidden, outcome.CodeForbidden, "Subscriptions are available to registered partners only")
		return
	}
	sub, err := h.parseSubscription(body, partner)
	var inv *invalidError
	if errors.As(err, &inv) {
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule, inv.Reason, inv.Path)
		return
	}
	if err == nil {
		err = h.create(r.Context(), sub)
	}
	if errors.Is(err, errTooMany) {
		h.log.Info("subscriptions: create rejected: limit reached", "partner", partner, "limit", h.maxLive)
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule,
			"this partner already has "+strconv.Itoa(h.maxLive)+" live Subscriptions, the maximum; delete one it no longer needs first", "Subscription")
		return
	}
	if err != nil {
		h.log.Error("subscriptions: create failed", "partner", partner, "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the Subscription could not be stored; retry later")
		return
	}
	h.log.Info("subscriptions: created", "subscription", sub.ID, "partner", partner, "content", sub.Content)
	w.Header().Set("Location", "Subscription/"+sub.ID)
	writeFHIR(w, http.StatusCreated, h.resource(sub))
}

// owned returns the partner's Subscription, or writes 404: another
// partner's Subscription looks the same as a missing one.
func (h *Hub) owned(w http.ResponseWriter, r *http.Request, partner, id string) (*subscription, bool) {
	sub, err := h.get(r.Context(), id)
	switch {
	case errors.Is(err, errNotFound) || (err == nil && sub.Partner != partner):
		fail(w, http.StatusNotFound, outcome.CodeNotFound, "no Subscription with this id")
		return nil, false
	case err != nil:
		h.log.Error("subscriptions: read failed", "subscription", id, "partner", partner, "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the Subscription could not be read; retry later")
		return nil, false
	}
	return sub, true
}

func (h *Hub) handleRead(w http.ResponseWriter, r *http.Request, partner, id string) {
	if sub, ok := h.owned(w, r, partner, id); ok {
		writeFHIR(w, http.StatusOK, h.resource(sub))
	}
}

func (h *Hub) handleDelete(w http.ResponseWriter, r *http.Request, partner, id string) {
	if _, ok := h.owned(w, r, partner, id); !ok {
		return
	}
	if err := h.turnOff(r.Context(), id); err != nil {
		h.log.Error("subscriptions: delete failed", "subscription", id, "partner", partner, "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the Subscription could not be turned off; retry later")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleStatus returns a searchset Bundle holding the Subscription's
// SubscriptionStatus of type query-status.
func (h *Hub) handleStatus(w http.ResponseWriter, r *http.Request, partner, id string) {
	sub, ok := h.owned(w, r, partner, id)
	if !ok {
		return
	}
	status, err := h.status(notice{sub: sub, kind: kindQueryState})
	if err != nil {
		h.log.Error("subscriptions: $status failed", "subscription", id, "partner", partner, "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the status could not be built; retry later")
		return
	}
	total := 1
	b := bundleJSON{
		ResourceType: "Bundle", ID: h.newID(), Type: "searchset", Total: &total,
		Timestamp: h.now().UTC().Format("2006-01-02T15:04:05Z07:00"),
		Entry:     []entryJSON{{FullURL: "urn:uuid:" + h.newID(), Resource: status, Search: &searchJSON{Mode: "match"}}},
	}
	writeJSON(w, b)
}

// handleEvents returns the events eventsSinceNumber..eventsUntilNumber as
// a history Bundle of type query-event, at most the page size
// (Options.EventsPerQuery) of them.
func (h *Hub) handleEvents(w http.ResponseWriter, r *http.Request, partner, id string, q url.Values) {
	sub, ok := h.owned(w, r, partner, id)
	if !ok {
		return
	}
	from, okFrom := eventNumber(q.Get("eventsSinceNumber"), 1)
	to, okTo := eventNumber(q.Get("eventsUntilNumber"), sub.EventsCount)
	content := q.Get("content")
	switch content {
	case "":
		content = sub.Content
	case ContentEmpty, ContentIDOnly, ContentFullResource:
	default:
		okTo = false
	}
	if !okFrom || !okTo {
		fail(w, http.StatusBadRequest, outcome.CodeInvalid, "eventsSinceNumber and eventsUntilNumber must be positive integers, content empty, id-only or full-resource")
		return
	}

	to = min(to, sub.EventsCount, from+h.perQuery-1)
	events, err := h.events(r.Context(), id, from, to)
	var body []byte
	if err == nil {
		body, err = h.bundle(notice{sub: sub, kind: kindQueryEvent, events: events, content: content})
	}
	if err != nil {
		h.log.Error("subscriptions: $events failed", "subscription", id, "partner", partner, "from", from, "to", to, "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the events could not be read; retry later")
		return
	}
	writeFHIR(w, http.StatusOK, body)
}

// eventNumber parses an event number, def when s is empty.
func eventNumber(s string, def int64) (int64, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 1
}

// readBody applies the FHIR JSON intake: media type (415), size (413) and
// strict JSON (400).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		fail(w, http.StatusUnsupportedMediaType, outcome.CodeNotSupported, "the body must be FHIR JSON: Content-Type application/fhir+json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSubscriptionBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, http.StatusRequestEntityTooLarge, outcome.CodeTooLong, "the Subscription is larger than "+strconv.Itoa(maxSubscriptionBytes)+" bytes")
		return nil, false
	case err != nil:
		fail(w, http.StatusBadRequest, outcome.CodeStructure, "the request body could not be read")
		return nil, false
	}
	limits := fhirjson.DefaultLimits
	limits.MaxBytes = maxSubscriptionBytes
	if err := fhirjson.CheckObject(body, limits); err != nil {
		fail(w, http.StatusBadRequest, outcome.CodeStructure, err.Error())
		return nil, false
	}
	return body, true
}

// validID reports whether s matches the FHIR id grammar.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func fail(w http.ResponseWriter, status int, code outcome.Code, diagnostics string, expression ...string) {
	oo := outcome.New(code, diagnostics)
	oo.Issue[0].Expression = expression
	w.Header().Set("Cache-Control", "no-store")
	outcome.Write(w, status, oo)
}

func writeFHIR(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", outcome.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the response could not be encoded")
		return
	}
	writeFHIR(w, http.StatusOK, body)
}
