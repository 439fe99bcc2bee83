package gateway

import (
	"net/http"
	"strconv"

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

// serveReceipt gives a registered partner the receipt of a log entry: the
// inclusion proof and the signed checkpoint covering it.
func (g *Gateway) serveReceipt(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	ex.entry.Interaction = "receipt"
	ex.entry.Rule = "allow:receipt"
	if !g.runStages(w, ex, stage{stageReceive, g.receive}, stage{stageIdentity, g.identify}) {
		return
	}
	buf := &bufferedResponse{header: http.Header{}}
	g.opts.Receipts.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	g.respondLocal(w, ex, buf.status, buf.header.Get("Content-Type"), buf.body.Bytes())
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
	h.Set("Cache-Control", "no-store")
	h.Set("X-Request-Id", ex.entry.ExchangeID)
	setRecordHeaders(h, ex)
	w.WriteHeader(status)
	_, _ = w.Write(body)
	g.logExchange(ex)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
