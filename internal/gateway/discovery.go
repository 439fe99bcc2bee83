package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// serveSmartConfiguration serves the SMART discovery document. It requires
// no token, but the connection is still mutually authenticated by the
// listener, and the exchange is recorded like any other.
func (g *Gateway) serveSmartConfiguration(w http.ResponseWriter, r *http.Request) {
	g.serveDocument(w, r, "smart-configuration", "application/json", g.opts.SmartConfiguration)
}

// serveJWKS serves the payer's public JWK set.
func (g *Gateway) serveJWKS(w http.ResponseWriter, r *http.Request) {
	g.serveDocument(w, r, "jwks", "application/jwk-set+json", g.opts.JWKS)
}

// serveDocument returns a fixed document to GET requests and records the
// exchange.
func (g *Gateway) serveDocument(w http.ResponseWriter, r *http.Request, name, contentType string, body []byte) {
	ex := g.begin(r)
	ex.entry.Interaction = name
	ex.entry.Rule = "allow:" + name
	if ref := g.receive(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if r.Method != http.MethodGet {
		g.refuse(w, ex, &Refusal{Status: http.StatusMethodNotAllowed, Code: "not-supported", Rule: "request.method",
			Message: "use GET for " + name, Header: http.Header{"Allow": {"GET"}}})
		return
	}
	g.respondLocal(w, ex, http.StatusOK, contentType, body)
}

// ReceiptSource is the audit log's lookup of receipts, as
// *auditlog.Reader implements it.
type ReceiptSource interface {
	// PartnerReceipt returns the receipt of the entry at index if that
	// entry records an exchange of partner. It returns an error wrapping
	// auditlog.ErrNotFound both for an index beyond the log and for
	// another party's entry, and auditlog.ErrNotCovered while no
	// checkpoint covers the entry.
	PartnerReceipt(ctx context.Context, index int64, partner string) (*auditlog.Proof, error)
}

// receiptNotFound returns the same rejection for an index beyond the log
// and for another party's entry, so that a partner cannot probe the index
// space for other partners' exchanges. Only the recorded rule differs.
func receiptNotFound(rule string) *Refusal {
	return &Refusal{Status: http.StatusNotFound, Code: "not-found", Rule: rule,
		Message: "no receipt of this partner's exchanges at that index"}
}

// serveReceipt serves a registered partner the receipt of an entry of one
// of its own exchanges: the inclusion proof and the signed checkpoint
// covering it.
func (g *Gateway) serveReceipt(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	ex.entry.Interaction = "receipt"
	ex.entry.Rule = "allow:receipt"
	if !g.runStages(w, ex, stage{stageReceive, g.receive}, stage{stageIdentity, g.identify}) {
		return
	}
	text := r.PathValue("index")
	index, err := strconv.ParseInt(text, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != text {
		g.refuse(w, ex, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "receipt.invalid-index",
			Message: "the receipt index must be a log index as sent in X-Gatehouse-Log-Index"})
		return
	}

	p, err := g.opts.Receipts.PartnerReceipt(r.Context(), index, ex.partner.ID)
	switch {
	case errors.Is(err, auditlog.ErrNotPartyToEntry):
		g.refuse(w, ex, receiptNotFound("receipt.other-party"))
	case errors.Is(err, auditlog.ErrNotFound):
		g.refuse(w, ex, receiptNotFound("receipt.not-found"))
	case errors.Is(err, auditlog.ErrNotCovered):
		w.Header().Set("Retry-After", "10")
		g.respondLocal(w, ex, http.StatusAccepted, "text/plain; charset=utf-8",
			[]byte("entry recorded, but no checkpoint covers it yet: retry after Retry-After seconds\n"))
	case err != nil:
		g.log.Error("receipt lookup failed", "exchange", ex.entry.ExchangeID, "error", err)
		g.refuse(w, ex, &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "receipt.unavailable",
			Message: "receipt lookup failed because the audit log is unavailable: retry later", Header: http.Header{"Retry-After": {"5"}}})
	default:
		g.respondLocal(w, ex, http.StatusOK, "text/plain; charset=utf-8", p.Format())
	}
}

// respondLocal records and releases a response the gateway produced itself.
func (g *Gateway) respondLocal(w http.ResponseWriter, ex *exchange, status int, contentType string, body []byte) {
	ex.entry.Phase = record.PhaseResponse
	ex.entry.Decision = record.Allow
	ex.entry.Status = status
	ex.entry.RequestBody = ex.recordedBody()
	ex.entry.ResponseBody = body
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	setSecurityHeaders(h)
	h.Set("X-Request-Id", ex.entry.ExchangeID)
	setRecordHeaders(h, ex)
	w.WriteHeader(status)
	_, _ = w.Write(body)
	g.logExchange(ex)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
