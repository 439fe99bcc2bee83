package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// forwardedRequestHeaders are the only request headers passed upstream.
// Everything else is dropped: hop-by-hop headers, Authorization (the
// partner's token is for Gatehouse, not the upstream), cookies, and every
// client-supplied forwarding or identity header, which the gateway replaces
// with its own from verified state.
var forwardedRequestHeaders = []string{
	"Accept", "Accept-Language", "Content-Type", "Prefer",
	"If-Match", "If-None-Match", "If-None-Exist", "If-Modified-Since",
}

// returnedResponseHeaders are the only upstream response headers released.
var returnedResponseHeaders = []string{
	"Content-Type", "Content-Language", "ETag", "Last-Modified", "Location", "Content-Location",
}

// forwardAndRespond records the allowed request, forwards it, records the
// response and releases it. Each record is committed before the next step.
func (g *Gateway) forwardAndRespond(w http.ResponseWriter, ex *exchange) {
	ex.entry.Phase = record.PhaseRequest
	ex.entry.Decision = record.Allow
	ex.entry.RequestBody = ex.body
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}

	status, header, body, ref := g.forward(ex)
	if ref != nil {
		g.refuse(w, ex, ref)
		return
	}

	ex.entry.Phase = record.PhaseResponse
	ex.entry.Status = status
	ex.entry.UpstreamState = status
	ex.entry.ResponseBody = body
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	for _, k := range returnedResponseHeaders {
		if v := header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("X-Request-Id", ex.entry.ExchangeID)
	w.Header().Set("X-Gatehouse-Record", itoa(ex.entry.Seq))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	g.logExchange(ex)
}

// forward sends the request upstream and reads the whole response under a
// cap. Failures become 502 (unreachable, unreadable or oversized answer) or
// 504 (timed out) refusals.
func (g *Gateway) forward(ex *exchange) (int, http.Header, []byte, *Refusal) {
	started := g.now()
	defer func() { ex.entry.UpstreamTime = g.now().Sub(started) }()

	out, err := g.upstreamRequest(ex)
	if err != nil {
		return 0, nil, nil, &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.request",
			Message: "the request could not be prepared for the upstream"}
	}
	resp, err := g.opts.UpstreamClient.Do(out)
	if err != nil {
		return 0, nil, nil, upstreamFailure(err)
	}
	defer resp.Body.Close()
	limit := 4 * g.opts.MaxBodyBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, nil, upstreamFailure(err)
	}
	if int64(len(body)) > limit {
		return 0, nil, nil, &Refusal{Status: http.StatusBadGateway, Code: "too-long", Rule: "upstream.too-large",
			Message: "the upstream response exceeds the size limit"}
	}
	ex.entry.UpstreamState = resp.StatusCode
	return resp.StatusCode, resp.Header, body, nil
}

// upstreamRequest builds the outbound request: the upstream base joined
// with the path below the FHIR base, the original query, the allowlisted
// headers and the gateway's own identity headers.
func (g *Gateway) upstreamRequest(ex *exchange) (*http.Request, error) {
	u := *g.opts.Upstream
	rest := strings.TrimPrefix(ex.r.URL.EscapedPath(), FHIRBasePath)
	u.RawPath = strings.TrimRight(g.opts.Upstream.EscapedPath(), "/") + rest
	u.Path = strings.TrimRight(g.opts.Upstream.Path, "/") + strings.TrimPrefix(ex.r.URL.Path, FHIRBasePath)
	u.RawQuery = ex.r.URL.RawQuery

	var body io.Reader = http.NoBody
	if len(ex.body) > 0 {
		body = bytes.NewReader(ex.body)
	}
	out, err := http.NewRequestWithContext(ex.r.Context(), ex.r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for _, k := range forwardedRequestHeaders {
		if vs := ex.r.Header.Values(k); len(vs) > 0 {
			out.Header[k] = append([]string(nil), vs...)
		}
	}
	out.Header.Set("X-Request-Id", ex.entry.ExchangeID)
	out.Header.Set("X-Gatehouse-Partner", ex.partner.ID)
	out.Header.Set("X-Gatehouse-Client-Cert-Sha256", ex.entry.CertFingerprint)
	out.Header.Set("User-Agent", "gatehouse")
	return out, nil
}

func upstreamFailure(err error) *Refusal {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &Refusal{Status: http.StatusGatewayTimeout, Code: "timeout", Rule: "upstream.timeout",
			Message: "the upstream did not answer in time"}
	}
	return &Refusal{Status: http.StatusBadGateway, Code: "transient", Rule: "upstream.unavailable",
		Message: "the upstream could not be reached"}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
