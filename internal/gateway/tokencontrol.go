package gateway

import (
	"bytes"
	"context"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// Paths of the token revocation (RFC 7009) and introspection (RFC 7662)
// endpoints. Partners reach RevokePath on the inbound listener; the
// integration engine reaches both on the outbound listener.
const (
	RevokePath     = "/oauth/revoke"
	IntrospectPath = "/oauth/introspect"
)

// TokenControl runs the revocation and introspection endpoints;
// *token.Server implements it.
type TokenControl interface {
	Revoke(ctx context.Context, r *http.Request, scope token.RevocationScope) (*token.Revocation, *token.Error)
	WriteRevocation(w http.ResponseWriter, res *token.Revocation, e *token.Error)
	Introspect(ctx context.Context, r *http.Request) (*token.Introspection, *token.Error)
	WriteIntrospection(w http.ResponseWriter, in *token.Introspection, e *token.Error)
}

// servePartnerRevoke lets a partner revoke the tokens bound to the
// certificate of its connection. The kill switch does not apply, because a
// revocation only takes access away.
func (g *Gateway) servePartnerRevoke(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	ex.redact = token.RedactForm
	ex.oauth = true
	ex.entry.Interaction = "revoke"
	if ref := g.receiveControl(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if ref := g.identify(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}

	res, terr := g.opts.TokenControl.Revoke(r.Context(), ex.withBody(), token.TokensBoundTo(ex.leaf))
	buf := &bufferedResponse{header: http.Header{}}
	g.opts.TokenControl.WriteRevocation(buf, res, terr)
	recordRevocation(ex, res, terr, buf)
	g.releaseBuffered(w, ex, buf)
}

// serveEngineRevoke lets the integration engine revoke any token the
// gateway issued.
func (g *Gateway) serveEngineRevoke(w http.ResponseWriter, r *http.Request, opts OutboundOptions) {
	ex := g.beginEngineControl(r, "revoke")
	if ref := g.receiveEngineControl(ex, opts); ref != nil {
		g.refuse(w, ex, ref)
		return
	}

	res, terr := g.opts.TokenControl.Revoke(r.Context(), ex.withBody(), token.AnyToken())
	buf := &bufferedResponse{header: http.Header{}}
	g.opts.TokenControl.WriteRevocation(buf, res, terr)
	recordRevocation(ex, res, terr, buf)
	g.releaseBuffered(w, ex, buf)
}

// serveIntrospect runs the integration engine's introspection
// requests. A token that a kill-switch cut revoked is reported inactive,
// as the inbound pipeline would refuse it.
func (g *Gateway) serveIntrospect(w http.ResponseWriter, r *http.Request, opts OutboundOptions) {
	ex := g.beginEngineControl(r, "introspect")
	if ref := g.receiveEngineControl(ex, opts); ref != nil {
		g.refuse(w, ex, ref)
		return
	}

	in, terr := g.opts.TokenControl.Introspect(r.Context(), ex.withBody())
	if ks := g.opts.KillSwitch; in != nil && in.Active && ks != nil && ks.Revoked(in.ClientID, in.IssuedAt) {
		in.Deactivate("the token was revoked by the kill switch")
	}
	buf := &bufferedResponse{header: http.Header{}}
	g.opts.TokenControl.WriteIntrospection(buf, in, terr)
	recordIntrospection(ex, in, terr, buf)
	g.releaseBuffered(w, ex, buf)
}

func (g *Gateway) beginEngineControl(r *http.Request, interaction string) *exchange {
	ex := g.begin(r)
	ex.redact = token.RedactForm
	ex.oauth = true
	ex.direction = killswitch.Outbound
	ex.entry.Direction = "outbound"
	ex.entry.Interaction = interaction
	return ex
}

// receiveEngineControl reads the body and requires the engine's
// certificate.
func (g *Gateway) receiveEngineControl(ex *exchange, opts OutboundOptions) *Refusal {
	if ref := g.receiveControl(ex); ref != nil {
		return ref
	}
	return g.identifyEngine(ex, opts)
}

// receiveControl reads the body and refuses an oversized one at once: the
// token service parses only small forms.
func (g *Gateway) receiveControl(ex *exchange) *Refusal {
	if ref := g.receive(ex); ref != nil {
		return ref
	}
	if ex.oversized {
		return g.bodyTooLarge()
	}
	return nil
}

// withBody returns the request with the body receive kept, for the token
// service, which reads the form itself.
func (ex *exchange) withBody() *http.Request {
	ex.r.Body = readCloser{bytes.NewReader(ex.body)}
	return ex.r
}

// recordRevocation fills the entry for a revocation request. The token
// parameter is kept only as its fingerprint. The response is empty or an
// OAuth error, and contains no credential.
func recordRevocation(ex *exchange, res *token.Revocation, terr *token.Error, buf *bufferedResponse) {
	ex.entry.RequestBody = ex.recordedBody()
	ex.entry.ResponseBody = buf.body.Bytes()
	if terr != nil || res == nil {
		recordControlError(ex, "revocation.", terr)
		return
	}
	ex.entry.TokenID = res.TokenID
	if ex.entry.Partner == "" {
		ex.entry.Partner = res.ClientID
	}
	ex.entry.Phase, ex.entry.Decision = record.PhaseResponse, record.Allow
	if res.Revoked {
		ex.entry.Rule = "revocation.revoked"
		return
	}
	ex.entry.Rule, ex.entry.Reason = "revocation.ignored", res.Reason
}

// recordIntrospection fills the entry for an introspection request. The
// token parameter is kept only as its fingerprint, and the response contains
// claims but never the token.
func recordIntrospection(ex *exchange, in *token.Introspection, terr *token.Error, buf *bufferedResponse) {
	ex.entry.RequestBody = ex.recordedBody()
	ex.entry.ResponseBody = buf.body.Bytes()
	if terr != nil || in == nil {
		recordControlError(ex, "introspection.", terr)
		return
	}
	ex.entry.TokenID = in.TokenID
	ex.entry.Partner = in.ClientID
	ex.entry.Phase, ex.entry.Decision = record.PhaseResponse, record.Allow
	if in.Active {
		ex.entry.Rule = "introspection.active"
		return
	}
	ex.entry.Rule, ex.entry.Reason = "introspection.inactive", in.Reason
}

func recordControlError(ex *exchange, rulePrefix string, terr *token.Error) {
	ex.entry.Phase, ex.entry.Decision = record.PhaseRefusal, record.Deny
	if terr == nil {
		ex.entry.Rule = rulePrefix + token.CodeServerError
		return
	}
	ex.entry.Rule, ex.entry.Reason = rulePrefix+terr.Code, terr.Description
}

// releaseBuffered commits the entry with the buffered response's status,
// then releases the response. The caller has set the entry's bodies, with
// credentials redacted. If the entry cannot be committed, the client
// gets 503 instead.
func (g *Gateway) releaseBuffered(w http.ResponseWriter, ex *exchange, buf *bufferedResponse) {
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	ex.entry.Status = buf.status
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	for k, vs := range buf.header {
		w.Header()[k] = vs
	}
	w.Header().Set("X-Request-Id", ex.entry.ExchangeID)
	setRecordHeaders(w.Header(), ex)
	setSecurityHeaders(w.Header())
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
	g.logExchange(ex)
}
