package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// exchange is the state one request accumulates as it passes the stages.
// Each stage reads what earlier stages set and adds its own result.
type exchange struct {
	r     *http.Request
	start time.Time

	body []byte // request body, at most MaxBodyBytes
	// redact, when set, turns the body into what the record keeps: the
	// OAuth endpoints replace credentials by their fingerprints, on every
	// path, refusals included.
	redact    func([]byte) []byte
	oversized bool // the body exceeded MaxBodyBytes and was not kept
	// oauth marks the token, revocation and introspection endpoints, whose
	// refusals are RFC 6749 JSON errors rather than OperationOutcomes.
	oauth bool

	leaf    *x509.Certificate // verified client certificate
	partner *Partner
	claims  *token.AccessClaims
	fhir    *fhirreq.Request
	// jsonChecked is set once checkPayload's JSON intake accepted body
	// under intakeLimits, and conformed once strict mode validated body
	// and found no error. With both set, the body is forwarded with a
	// fhirjson.WithCheckedObject mark (see upstreamRequest).
	jsonChecked, conformed bool
	// bundle is the request Bundle the policy engine parsed to allow a
	// PAS operation, nil otherwise; it refers to body.
	bundle *fhirreq.Bundle
	// batch and batchErr are the result of parsing body as a batch or
	// transaction Bundle, which parsedBatch does on first use, so that
	// the kill switch, the outbound checks and the added _count share one
	// parse. addDefaultCount resets both when it replaces body.
	batch    *fhirreq.Bundle
	batchErr error
	// allowlisted is set once the partner's allowlist names fhir.
	allowlisted bool
	// accept is the q values of the request's Accept once checkAccept has
	// admitted it, from which the released response takes its media type.
	accept *jsonAcceptance
	// forwardHeaders contains the canonical encoding of the conditional
	// and Accept-Language headers once checkForwardedHeaders has admitted
	// them: the only form of them the target receives.
	forwardHeaders http.Header
	target         *target // destination of the exchange once allowed
	// page is the opened token of a page request: the upstream's link
	// is forwarded in place of the search's query. Nil otherwise.
	page *pagelink.Page
	// forwarded is set once the request has been handed to the target's
	// client, after which the target may have acted on it.
	forwarded bool
	// direction is the flow the kill switch checks: inbound from a partner
	// or outbound from the payer's engine.
	direction killswitch.Direction

	// linkReads counts the patient link reads of the outbound checks, which
	// lookupLinks caps at maxPayloadLookups for the whole request.
	linkReads int

	entry   record.Entry       // the record under construction
	receipt *auditlog.Appended // log position of the last entry, if known
	// recordSynced is set when the last committed entry is on disk, so
	// that its position may be given to the partner.
	recordSynced bool
	// syncBeforeRelease is set by forwardAndRespond when it syncs the
	// record before it releases the response (syncRecord), so that the
	// response entry may commit without waiting for the disk.
	syncBeforeRelease bool
}

// begin starts an exchange for r, filling the record fields known before
// any stage runs.
func (g *Gateway) begin(r *http.Request) *exchange {
	ex := &exchange{r: r, start: g.now(), direction: killswitch.Inbound, target: g.upstream}
	ex.entry = record.Entry{
		ExchangeID:  record.NewExchangeID(),
		Direction:   "inbound",
		Source:      r.RemoteAddr,
		Method:      r.Method,
		Target:      redactTarget(r.URL),
		RequestType: r.Header.Get("Content-Type"),
		Received:    ex.start,
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		ex.leaf = r.TLS.VerifiedChains[0][0]
		sum := sha256.Sum256(ex.leaf.Raw)
		ex.entry.CertFingerprint = hex.EncodeToString(sum[:])
	}
	return ex
}

// Refusal is a stage's decision to stop the exchange. Rule is a stable id
// for the rule that refused, recorded and counted; Message goes to the
// client in the OperationOutcome and must not echo request content.
type Refusal struct {
	Status  int
	Code    string // FHIR issue-type code
	Rule    string
	Message string
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header
	// Outcome, when set, is sent instead of the one built from Code and
	// Message, for refusals that carry many issues (strict mode).
	Outcome *outcome.OperationOutcome
}

// redactTarget returns the request-target with any access_token query
// parameter replaced, so that a token sent against the rules does not end
// up in the record.
func redactTarget(u *url.URL) string {
	if strings.Contains(strings.ToLower(u.RawQuery), "access_token") {
		// The query may hide the token in a pair url.Query cannot parse,
		// so none of it is kept.
		return u.EscapedPath() + "?REDACTED"
	}
	return u.RequestURI()
}

// recordedBody returns the request body as the record keeps it.
func (ex *exchange) recordedBody() []byte {
	if ex.redact != nil && len(ex.body) > 0 {
		return ex.redact(ex.body)
	}
	return ex.body
}

// parsedBatch returns body parsed as a batch or transaction Bundle,
// parsing it on the first call. The Bundle refers to body.
func (ex *exchange) parsedBatch() (*fhirreq.Bundle, error) {
	if ex.batch == nil && ex.batchErr == nil {
		ex.batch, ex.batchErr = fhirreq.ParseBundle(ex.body)
	}
	return ex.batch, ex.batchErr
}
