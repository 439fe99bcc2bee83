package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// recordTimeout bounds one append to the record store. An append that has
// not committed by then fails, and the exchange is answered with 503.
const recordTimeout = 10 * time.Second

// refuse is the single path for every refusal: it records the exchange with
// the response it is about to send, then sends it. The response is an
// OperationOutcome, or on the OAuth endpoints an RFC 6749 error. If the
// record cannot be committed, the client receives 503 instead, because
// nothing may be released unrecorded.
func (g *Gateway) refuse(w http.ResponseWriter, ex *exchange, ref *Refusal) {
	status, body := refusalBody(ex, ref)

	ex.entry.Phase = record.PhaseRefusal
	ex.entry.Decision = record.Deny
	ex.entry.Rule = ref.Rule
	ex.entry.Reason = ref.Message
	ex.entry.Status = status
	ex.entry.RequestBody = ex.recordedBody()
	ex.entry.ResponseBody = body
	if !g.commit(ex) {
		g.writeUnrecorded(w, ex)
		return
	}
	for k, vs := range ref.Header {
		w.Header()[k] = vs
	}
	g.writeRefusal(w, ex, status, body)
	g.logExchange(ex)
}

// refusalBody returns the status and body a refusal is sent with.
func refusalBody(ex *exchange, ref *Refusal) (int, []byte) {
	if ex.oauth {
		return oauthRefusal(ref)
	}
	oo := ref.Outcome
	if oo == nil {
		oo = outcome.New(outcome.Code(ref.Code), ref.Message)
	}
	return ref.Status, oo.Marshal()
}

// commit appends the current entry, in a "record" span, and reports
// whether it is durable.
func (g *Gateway) commit(ex *exchange) bool {
	ex.entry.TotalTime = g.now().Sub(ex.start)
	spanCtx, span := g.startSpan(ex, stageRecord, trace.SpanKindInternal)
	defer span.End()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(spanCtx), recordTimeout)
	defer cancel()
	started := g.now()
	err := g.append(ctx, ex)
	if g.opts.Observer != nil {
		g.opts.Observer.ObserveCommit(g.now().Sub(started), err)
	}
	if span.IsRecording() {
		span.SetAttributes(attrPhase.String(string(ex.entry.Phase)))
	}
	if err != nil {
		// The span gets no error text: store errors may quote the entry.
		span.SetStatus(codes.Error, "record not committed")
		g.log.Error("exchange record not committed",
			"exchange", ex.entry.ExchangeID, "phase", ex.entry.Phase, "error", err)
		return false
	}
	return true
}

// append commits the entry, keeping its tree index and leaf hash when the
// store is the tamper-evident log, for the receipt headers. The request
// entry of an exchange bound for the upstream skips the wait for the disk
// when the upstream writes to the record's own file
// (Options.UpstreamSharesRecordFile). Outbound exchanges go to partners,
// which never do.
func (g *Gateway) append(ctx context.Context, ex *exchange) error {
	if c, ok := g.opts.Records.(auditlog.CommitAppender); ok && g.opts.UpstreamSharesRecordFile &&
		(ex.entry.Phase == record.PhaseRequest || ex.entry.Phase == record.PhaseResponse && ex.syncBeforeRelease) &&
		ex.target == g.upstream {
		a, err := c.AppendCommitted(ctx, &ex.entry)
		return ex.setReceipt(a, false, err)
	}
	if r, ok := g.opts.Records.(auditlog.Receipter); ok {
		a, err := r.AppendEntry(ctx, &ex.entry)
		return ex.setReceipt(a, true, err)
	}
	seq, err := g.opts.Records.Append(ctx, &ex.entry)
	if err != nil {
		return err
	}
	ex.entry.Seq, ex.recordSynced = seq, true
	return nil
}

// syncsBeforeRelease reports whether forwardAndRespond can sync the record
// before it releases a response (syncRecord). The response entry of an
// exchange with the upstream may then commit without waiting for the
// disk. A refusal after it is appended with its own sync.
func (g *Gateway) syncsBeforeRelease() bool {
	_, ok := g.opts.Records.(auditlog.CommitSyncer)
	return ok
}

// syncRecord makes the exchange's committed entries durable, and the
// links written with them, unless the last entry already is. It reports
// whether the record is durable.
func (g *Gateway) syncRecord(ex *exchange) bool {
	if ex.recordSynced {
		return true
	}
	s, ok := g.opts.Records.(auditlog.CommitSyncer)
	if !ok {
		// The response entry skips its sync only with a CommitSyncer, so
		// this is not expected.
		g.log.Error("exchange record not synced: the record store cannot sync", "exchange", ex.entry.ExchangeID, "phase", ex.entry.Phase)
		return false
	}
	if err := s.SyncCommitted(); err != nil {
		g.log.Error("exchange record not synced", "exchange", ex.entry.ExchangeID, "phase", ex.entry.Phase, "error", err)
		return false
	}
	ex.recordSynced = true
	return true
}

// setReceipt keeps the log position of a committed entry, and whether the
// entry is on disk yet.
func (ex *exchange) setReceipt(a auditlog.Appended, synced bool, err error) error {
	if err != nil {
		return err
	}
	ex.entry.Seq, ex.receipt, ex.recordSynced = a.Seq, &a, synced
	return nil
}

// writeUnrecorded sends 503 when the record store failed. The refusal it
// sends is itself not recorded, which is why it carries no payload data.
// Once the request has been forwarded, the message must not claim that
// nothing happened: the target may have acted on it.
func (g *Gateway) writeUnrecorded(w http.ResponseWriter, ex *exchange) {
	w.Header().Set("Retry-After", "5")
	msg := "the exchange could not be recorded, so it was not processed; retry later"
	if ex.forwarded {
		msg = "the request was forwarded, but its outcome could not be recorded, so the response is withheld; " +
			"the recipient may have processed it, so check its status before you send it again"
	}
	ref := &Refusal{Status: http.StatusServiceUnavailable, Code: string(outcome.CodeTransient), Rule: "record.unavailable",
		Message: msg}
	status, body := refusalBody(ex, ref)
	g.writeRefusal(w, ex, status, body)
	g.annotateExchange(ex, http.StatusServiceUnavailable)
	g.log.Warn("exchange rejected: record store unavailable", "exchange", ex.entry.ExchangeID, "status", http.StatusServiceUnavailable)
}

// writeRefusal sends a refusal body in the endpoint's error form: RFC 6749 on
// the OAuth endpoints, an OperationOutcome elsewhere.
func (g *Gateway) writeRefusal(w http.ResponseWriter, ex *exchange, status int, body []byte) {
	if ex.oauth {
		g.writeOAuth(w, ex, status, body)
		return
	}
	g.writeFHIR(w, ex, status, body)
}

func (g *Gateway) writeFHIR(w http.ResponseWriter, ex *exchange, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", outcome.ContentType)
	setSecurityHeaders(h)
	h.Set("X-Request-Id", ex.entry.ExchangeID)
	setRecordHeaders(h, ex)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// logExchange finishes a completed exchange: it annotates the exchange's
// span, reports the exchange to the observer and writes one structured log
// line with ids, decision and timing, never the path, query, headers or
// bodies.
func (g *Gateway) logExchange(ex *exchange) {
	g.annotateExchange(ex, ex.entry.Status)
	observed := observedEntry(ex)
	if g.opts.Observer != nil {
		g.opts.Observer.ObserveExchange(observed)
		if po, ok := g.opts.Observer.(PayloadObserver); ok {
			po.ObservePayload(observed, ex.fhir, ex.bundle)
		}
	}
	level := slog.LevelInfo
	if ex.entry.Decision == record.Deny {
		level = slog.LevelWarn
	}
	g.log.Log(ex.r.Context(), level, "exchange",
		"exchange", ex.entry.ExchangeID,
		"record", ex.entry.Seq,
		"partner", ex.entry.Partner,
		"interaction", observed.Interaction,
		"decision", string(ex.entry.Decision),
		"rule", ex.entry.Rule,
		"status", ex.entry.Status,
		"duration_ms", float64(ex.entry.TotalTime.Microseconds())/1000,
	)
}

// setSecurityHeaders sets the headers that every response the gateway
// releases carries, on every listener, refusals and successes alike. A
// browser must not sniff a FHIR or OAuth body as another type, and no
// cache may keep one, because bodies contain PHI and tokens. Callers set
// them after copying the upstream's headers, which cannot override them.
func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// setRecordHeaders sets the headers that locate the exchange's record: the
// entry's sequence number and, for the tamper-evident log, its leaf index
// and RFC 6962 leaf hash, with which the partner can fetch a receipt (an
// inclusion proof against a signed checkpoint) from /receipts/{index}.
// An entry not yet on disk is never named: a power loss could erase it, and
// the log would then give its index to another entry.
func setRecordHeaders(h http.Header, ex *exchange) {
	if !ex.recordSynced {
		return
	}
	if ex.entry.Seq > 0 {
		h.Set("X-Gatehouse-Record", strconv.FormatInt(ex.entry.Seq, 10))
	}
	if ex.receipt != nil {
		h.Set("X-Gatehouse-Log-Index", strconv.FormatInt(ex.receipt.Index, 10))
		h.Set("X-Gatehouse-Leaf-Hash", ex.receipt.LeafHash.String())
	}
}

// unlistedOperation replaces the name of an operation that the partner's
// allowlist does not name. An operation name cannot contain "*", so the
// replacement never reads as a configured operation.
const unlistedOperation = "*"

// observedEntry returns the entry as the observer and the service log see
// it. The client chose the name of an operation that the partner's
// allowlist does not name, so only the record keeps that name. As a metric
// label, in the console or in the log, it would add one value per name
// without bound.
func observedEntry(ex *exchange) *record.Entry {
	if ex.fhir == nil || ex.allowlisted || ex.fhir.Operation == "" {
		return &ex.entry
	}
	observed := ex.entry
	observed.Interaction = fhirreq.Pattern{Kind: ex.fhir.Kind, Type: ex.fhir.Type, Operation: unlistedOperation}.String()
	return &observed
}
