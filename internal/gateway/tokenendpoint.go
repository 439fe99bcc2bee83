package gateway

import (
	"bytes"
	"crypto/x509"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// PeerPartner adapts a certificate-to-partner mapping to the token
// server's PeerClient hook, reading the verified chain of the connection.
func PeerPartner(partnerOf func(*x509.Certificate) (string, bool)) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return "", false
		}
		return partnerOf(r.TLS.VerifiedChains[0][0])
	}
}

// bufferedResponse captures a handler's response so it can be recorded
// before it is released.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// serveToken runs the token endpoint. The token service authenticates the
// client; the gateway records the exchange with the assertion and the
// access token replaced by their ids, then releases the response.
func (g *Gateway) serveToken(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	ex.redact = token.RedactForm
	ex.oauth = true
	ex.entry.Interaction = "token"
	if ref := g.receive(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if ex.oversized {
		g.refuse(w, ex, g.bodyTooLarge())
		return
	}
	// Only a certificate that names a registered partner may ask for a
	// token; the token service then checks that the assertion's client is
	// that partner.
	if ref := g.identify(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if ref := g.reloadCuts(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if ref := g.checkCut(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	// The token service reads the form itself; give it the body back.
	r.Body = readCloser{bytes.NewReader(ex.body)}

	res, terr := g.opts.Issuer.Issue(r.Context(), r)
	buf := &bufferedResponse{header: http.Header{}}
	g.opts.Issuer.WriteResponse(buf, res, terr)

	// The entry keeps the partner that identify took from the verified
	// certificate. On a rejection, sum.ClientID is only the id that the
	// assertion claimed, and the metrics, the alerts and the console count
	// exchanges by the entry's partner. On success the token service has
	// checked that the client is the certificate's partner.
	sum := token.Summarize(res, terr)
	ex.entry.TokenID = sum.TokenID
	ex.entry.RequestBody = ex.recordedBody()
	ex.entry.ResponseBody = token.RedactJSON(buf.body.Bytes())
	if terr == nil && res != nil {
		ex.entry.Phase, ex.entry.Decision, ex.entry.Rule = record.PhaseResponse, record.Allow, "token.issued"
	} else {
		ex.entry.Phase, ex.entry.Decision, ex.entry.Rule = record.PhaseRefusal, record.Deny, "token."+sum.ErrorCode
		ex.entry.Reason = sum.Description
	}
	g.releaseBuffered(w, ex, buf)
}

// reloadCuts reads the kill-switch cuts from the database before a token
// is issued. A full cut revokes only the tokens issued before its engage
// time, and a cut engaged through another replica reaches this one's
// cached cuts only at the next poll. A token issued in between would
// outlive the cut's release, which a single gateway never allows.
func (g *Gateway) reloadCuts(ex *exchange) *Refusal {
	ks := g.opts.KillSwitch
	if ks == nil {
		return nil
	}
	if err := ks.Reload(ex.r.Context()); err != nil {
		g.log.Error("kill switch reload before issuing a token failed", "exchange", ex.entry.ExchangeID, "error", err)
		return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "killswitch.unavailable",
			Message: "the kill-switch state could not be read, so no token is issued; retry later"}
	}
	return nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
