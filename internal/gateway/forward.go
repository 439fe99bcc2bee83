package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/httpbody"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// forwardAndRespond records the allowed request, forwards it, records the
// response and releases it. Each record is committed before the next step.
func (g *Gateway) forwardAndRespond(w http.ResponseWriter, ex *exchange) {
	if ref := g.addDefaultCount(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	ex.entry.Phase = record.PhaseRequest
	ex.entry.Decision = record.Allow
	ex.entry.RequestBody = ex.recordedBody()
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	// Later entries of the exchange need not store the request again.
	ex.entry.RequestSeq = ex.entry.Seq

	status, header, body, ref := g.forward(ex)
	if ref != nil {
		g.refuse(w, ex, ref)
		return
	}

	ex.entry.Phase = record.PhaseResponse
	ex.entry.Status = status
	ex.entry.UpstreamState = status
	ex.entry.ResponseBody = body
	ex.syncBeforeRelease = g.syncsBeforeRelease()
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	// The record contains the upstream's response as received. A refusal below
	// adds a refusal entry with what the partner gets instead.
	check := stage{stageResponseCheck, func(ex *exchange) *Refusal {
		if ref := g.checkResponse(ex, status, header, body); ref != nil {
			return ref
		}
		// The record keeps the upstream's links; the client gets page
		// tokens that seal them.
		var ref *Refusal
		body, ref = g.sealPageLinks(ex, status, body)
		return ref
	}}
	if ref := g.runStage(ex, check); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	if ex.direction != killswitch.Outbound {
		g.runStage(ex, stage{stagePatientLinks, func(ex *exchange) *Refusal {
			if rejectedResponse(body) {
				return nil
			}
			g.rememberLinks(ex, status, body)
			return nil
		}})
	}
	if !g.syncRecord(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	released, dropped := releasedHeaders(header, ex.target)
	for k, vs := range released {
		w.Header()[k] = vs
	}
	if len(dropped) > 0 {
		g.log.Warn("response headers dropped as invalid", "exchange", ex.entry.ExchangeID, "headers", dropped)
	}
	if len(body) > 0 {
		w.Header().Set("Content-Type", releasedJSONType(ex.accept, header.Get("Content-Type")))
	}
	w.Header().Set("X-Request-Id", ex.entry.ExchangeID)
	setRecordHeaders(w.Header(), ex)
	setSecurityHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
	g.logExchange(ex)
}

// forward sends the request upstream, in a "forward" span, and reads the
// whole response under a cap. Failures become 502 (unreachable, unreadable
// or oversized response) or 504 (timed out) refusals.
func (g *Gateway) forward(ex *exchange) (int, http.Header, []byte, *Refusal) {
	started := g.now()
	defer func() { ex.entry.UpstreamTime = g.now().Sub(started) }()
	ctx, span := g.startSpan(ex, stageForward, trace.SpanKindClient)
	defer span.End()

	status, header, body, ref := g.roundTrip(ctx, ex)
	if span.IsRecording() {
		if ref != nil {
			span.SetAttributes(attrRule.String(ref.Rule), attrStatus.Int(ref.Status))
			span.SetStatus(codes.Error, ref.Rule)
		} else {
			span.SetAttributes(attrStatus.Int(status))
		}
	}
	return status, header, body, ref
}

// roundTrip sends the forwarded request and reads the response.
func (g *Gateway) roundTrip(ctx context.Context, ex *exchange) (int, http.Header, []byte, *Refusal) {
	// A target served in process offers its buffered body in the slot.
	ctx, buffered := httpbody.WithBufferedSlot(ctx)
	out, ref := g.upstreamRequest(ctx, ex)
	if ref != nil {
		return 0, nil, nil, ref
	}
	ex.forwarded = true
	resp, err := ex.target.client.Do(out)
	if err != nil {
		if ref := cancelledRefusal(ex); ref != nil {
			return 0, nil, nil, ref
		}
		return 0, nil, nil, upstreamFailure(err)
	}
	defer resp.Body.Close()
	limit := 4 * g.opts.MaxBodyBytes
	body, ok := buffered.Body(resp, limit)
	if !ok {
		body, err = httpbody.Read(resp.Body, resp.ContentLength, limit)
		if err != nil {
			return 0, nil, nil, unreadableResponse(err)
		}
	}
	if int64(len(body)) > limit {
		return 0, nil, nil, &Refusal{Status: http.StatusBadGateway, Code: "too-long", Rule: "upstream.too-large",
			Message: "the upstream response exceeds the size limit"}
	}
	ex.entry.UpstreamState = resp.StatusCode
	return resp.StatusCode, resp.Header, body, nil
}

// addDefaultCount sets _count to the partner's MaxCount on a type or
// system search that has none, and on each such search entry of a batch
// or transaction. Without it the target's default page size applies,
// which may exceed the limit a partner or the engine may request. The
// recorded request-target, or the recorded Bundle, gets the same
// parameter, so that the request entry parses to what was forwarded.
func (g *Gateway) addDefaultCount(ex *exchange) *Refusal {
	n := ex.partner.MaxCount
	if n <= 0 {
		n = policy.DefaultMaxCount
	}
	if ex.fhir != nil && ex.fhir.Kind == fhirreq.BatchTransaction {
		b, err := ex.parsedBatch()
		if err != nil {
			// The policy stage or checkOutboundEntries parsed this Bundle
			// before, so this is not expected.
			return bundleUnreadable()
		}
		body, ref := addEntryCounts(ex.body, b, n, g.opts.MaxBodyBytes)
		if ref != nil {
			return ref
		}
		if len(body) != len(ex.body) {
			ex.body = body
			ex.batch, ex.batchErr = nil, nil
			// The JSON intake checked the old bytes, so the built-in payer
			// service must check these itself.
			ex.jsonChecked = false
		}
		return nil
	}
	if !isSearch(ex.fhir) || ex.fhir.Query == nil || ex.fhir.Query.Count >= 0 {
		return nil
	}
	ex.fhir.Query.Count = n
	sep := "?"
	if strings.Contains(ex.entry.Target, "?") {
		sep = "&"
	}
	ex.entry.Target += sep + "_count=" + strconv.Itoa(n)
	return nil
}

// target is the destination of an allowed exchange: the payer's upstream
// for inbound exchanges, a partner's FHIR API for outbound ones.
type target struct {
	base   *url.URL     // FHIR base the path below prefix is appended to
	prefix string       // path prefix of the gateway's own FHIR base
	client *http.Client // never follows redirects
	// authorize, when set, adds the credential the target requires.
	authorize func(ctx context.Context, r *http.Request) error
	// identityHeaders sends the verified partner identity, which only the
	// payer's own upstream may trust.
	identityHeaders bool
	// pageBase is the gateway's FHIR base as the client addresses it,
	// under which page links are written.
	pageBase string
}

// upstreamRequest builds the forwarded request: the target base joined
// with the path below the gateway's FHIR base, the parsed query (as the
// form of a POST _search), the allowlisted headers and, for the payer's upstream, the gateway's own
// identity headers and, with tracing on, the traceparent of ctx's span.
func (g *Gateway) upstreamRequest(ctx context.Context, ex *exchange) (*http.Request, *Refusal) {
	t := ex.target
	u := *t.base
	u.RawPath = strings.TrimRight(t.base.EscapedPath(), "/") + strings.TrimPrefix(ex.r.URL.EscapedPath(), t.prefix)
	u.Path = strings.TrimRight(t.base.Path, "/") + strings.TrimPrefix(ex.r.URL.Path, t.prefix)
	// Forward the query the policy decided on, re-encoded canonically, not
	// the client's bytes, so the upstream cannot read it differently.
	content, searchForm := ex.body, isSearch(ex.fhir) && ex.r.Method == http.MethodPost
	switch {
	case searchForm:
		// A POST _search sends the parameters of its URL and its form,
		// merged, as its form alone: each parameter once, and none in the
		// URL, which proxies and access logs may keep.
		content = []byte(ex.fhir.Query.Encode())
	case ex.page != nil:
		// The upstream's own link, sealed when the search was released.
		pu, err := pageURL(t, ex.page)
		if err != nil {
			return nil, &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.request",
				Message: "the request could not be prepared for the upstream"}
		}
		u = *pu
	case ex.fhir != nil && ex.fhir.Query != nil:
		u.RawQuery = ex.fhir.Query.Encode()
	}

	var body io.Reader = http.NoBody
	if len(content) > 0 {
		body = bytes.NewReader(content)
	}
	if !searchForm && ex.jsonChecked && ex.conformed {
		// The built-in payer service, when served in process, takes these
		// bytes from ctx instead of copying and checking them again. A
		// context value is not sent over a connection, so a remote target
		// cannot receive the mark.
		ctx = fhirjson.WithCheckedObject(ctx, content, g.intakeLimits())
	}
	out, err := http.NewRequestWithContext(ctx, ex.r.Method, u.String(), body)
	if err != nil {
		return nil, &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.request",
			Message: "the request could not be prepared for the upstream"}
	}
	// Of the request's own headers the target receives only the canonical
	// forms checkForwardedHeaders stored, Prefer as forwardedPrefer
	// rewrites it and If-None-Exist below. Everything else is dropped:
	// hop-by-hop headers, Authorization (the partner's token is for
	// Gatehouse, not the target), cookies, and every client-supplied
	// forwarding or identity header, which the gateway sets again from
	// verified state.
	//
	// NOTE: the exchange record does not contain these headers, nor the
	// response headers releasedHeaders lets through. Their grammar still
	// leaves the sender the choice of a version id (up to 64 characters),
	// a date, a few language tags and the values of the FHIR preferences.
	for k, vs := range ex.forwardHeaders {
		out.Header[k] = append([]string(nil), vs...)
	}
	if ex.fhir != nil && ex.fhir.IfNoneExist != nil {
		// As with the query, the target gets the criteria that were checked,
		// not the client's bytes.
		out.Header.Set("If-None-Exist", ex.fhir.IfNoneExist.Encode())
	}
	out.Header.Set("Accept", upstreamAccept)
	switch {
	case searchForm:
		out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case len(content) > 0:
		// checkPayload accepted exactly one FHIR JSON Content-Type.
		out.Header.Set("Content-Type", canonicalJSONType(ex.r.Header.Get("Content-Type")))
	}
	if prefer := forwardedPrefer(ex.r.Header.Values("Prefer"), runsSearch(ex.fhir)); prefer != "" {
		out.Header.Set("Prefer", prefer)
	}
	out.Header.Set("X-Request-Id", ex.entry.ExchangeID)
	out.Header.Set("User-Agent", "gatehouse")
	if t.identityHeaders {
		out.Header.Set("X-Gatehouse-Partner", ex.partner.ID)
		out.Header.Set("X-Gatehouse-Client-Cert-Sha256", ex.entry.CertFingerprint)
		// Partners get no traceparent: the trace ids stay with the payer.
		injectTraceContext(ctx, out.Header)
	}
	if t.authorize != nil {
		if err := t.authorize(ctx, out); err != nil {
			g.log.Warn("outbound credential unavailable", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
			return nil, &Refusal{Status: http.StatusBadGateway, Code: "transient", Rule: "outbound.token",
				Message: OutboundTokenRefusal}
		}
	}
	return out, nil
}

// OutboundTokenRefusal is the message of the 502 the outbound listener
// sends when no access token could be obtained for the partner. The
// payer's notification sender reads it to name the failed step.
const OutboundTokenRefusal = "no access token could be obtained from the partner's authorization server"

// runsSearch reports whether the upstream runs searches for req: a type or
// system search, or a batch or transaction, whose entries may be searches.
// NOTE: FHIR R4 does not say whether a server applies the Prefer field of
// a batch to the searches among its entries, so handling=strict there
// depends on the server.
func runsSearch(req *fhirreq.Request) bool {
	return isSearch(req) || req != nil && req.Kind == fhirreq.BatchTransaction
}

func upstreamFailure(err error) *Refusal {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &Refusal{Status: http.StatusGatewayTimeout, Code: "timeout", Rule: "upstream.timeout",
			Message: "the upstream did not answer in time"}
	}
	return &Refusal{Status: http.StatusBadGateway, Code: "transient", Rule: "upstream.unavailable",
		Message: "the upstream could not be reached"}
}

// unreadableResponse returns the refusal for a response whose headers
// arrived but whose body could not be read: a malformed chunk, a body
// shorter than its Content-Length, or a connection closed mid-body. The
// upstream was reached, so upstream.unavailable would send an operator to
// the network instead of to the engine's framing.
func unreadableResponse(err error) *Refusal {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return upstreamFailure(err)
	}
	return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.unreadable",
		Message: "the upstream response body could not be read"}
}

// statusClientClosedRequest is the status recorded for a request the
// partner cancelled before the response: the 499 of nginx's logs, since
// HTTP defines none. The partner never receives it.
const statusClientClosedRequest = 499

// cancelledRefusal returns the refusal for a request whose partner
// cancelled it (an HTTP/2 RST_STREAM or a closed connection) while a
// lookup or the upstream call was under way, or nil when the request is
// still live. Without it the record, the logs and the metrics would show
// the cancelled lookup as a revocation store outage and the cancelled call
// as an unreachable upstream. An HTTP/2 client that resets its streams at
// once could then fill them with those false failures.
func cancelledRefusal(ex *exchange) *Refusal {
	if !errors.Is(ex.r.Context().Err(), context.Canceled) {
		return nil
	}
	return &Refusal{Status: statusClientClosedRequest, Code: "incomplete", Rule: "request.cancelled",
		Message: "the client cancelled the request before the response"}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
