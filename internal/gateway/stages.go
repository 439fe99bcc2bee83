package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/httpbody"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// receive reads the request body, keeping at most MaxBodyBytes. An oversized
// body is not an immediate refusal: the payload stage answers 413, so that an
// unauthenticated caller learns nothing beyond 401.
func (g *Gateway) receive(ex *exchange) *Refusal {
	if ref := checkContentLength(ex.r); ref != nil {
		return ref
	}
	if ex.r.Body == nil || ex.r.Body == http.NoBody {
		return nil
	}
	limit := g.opts.MaxBodyBytes
	hold, _ := ex.r.Context().Value(bodyHoldKey{}).(*httpbody.Hold)
	body, err := httpbody.ReadHeld(ex.r.Body, ex.r.ContentLength, limit, hold)
	if errors.Is(err, httpbody.ErrBudgetExhausted) {
		return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "payload.busy",
			Message: "the gateway holds too many request bodies at once; retry later",
			Header:  http.Header{"Retry-After": {"1"}}}
	}
	if err != nil {
		return &Refusal{Status: http.StatusBadRequest, Code: "incomplete", Rule: "payload.unreadable",
			Message: "the request body could not be read completely"}
	}
	if int64(len(body)) > limit {
		ex.oversized = true
		// The body is dropped, so its buffer no longer counts.
		hold.Release()
		// Read on, up to a bound, so the client finishes sending and can
		// read the refusal; over HTTP/2 an unread body resets the stream.
		_, _ = io.Copy(io.Discard, io.LimitReader(ex.r.Body, 4*limit))
		return nil
	}
	ex.body = body
	return nil
}

// checkContentLength rejects a request whose Content-Length field lines
// disagree, which RFC 9110 section 8.6 makes invalid. Go's HTTP/1.1 server
// (1.26) rejects such a request with 400 itself, but its HTTP/2 server
// frames the body by the first value and ignores the others.
func checkContentLength(r *http.Request) *Refusal {
	values := r.Header.Values("Content-Length")
	for _, v := range values[min(1, len(values)):] {
		if strings.TrimSpace(v) != strings.TrimSpace(values[0]) {
			return &Refusal{Status: http.StatusBadRequest, Code: "structure", Rule: "payload.framing",
				Message: "the request has conflicting Content-Length values; send one Content-Length that matches the body"}
		}
	}
	return nil
}

// bodyHoldKey is the request context key of the *httpbody.Hold that the
// exchange's body takes from Options.BodyBudget.
type bodyHoldKey struct{}

// identify maps the verified client certificate to a registered partner.
// Identity comes only from a verified chain, never from the presented
// certificates alone.
func (g *Gateway) identify(ex *exchange) *Refusal {
	if ex.leaf == nil {
		return &Refusal{Status: http.StatusUnauthorized, Code: "login", Rule: "identity.no-certificate",
			Message: "a client certificate issued by the partner CA is required"}
	}
	if ref := verifyConnection(ex, g.opts.VerifyConnection); ref != nil {
		return ref
	}
	if !hasClientAuth(ex.leaf) {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.no-client-auth-usage",
			Message: "the client certificate must carry the clientAuth extended key usage"}
	}
	id, ok := g.opts.PartnerOf(ex.leaf)
	if !ok {
		problem := pki.PartnerIdentityProblem(ex.leaf)
		if problem == "" {
			problem = "carries no partner identity"
		}
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.no-partner-uri",
			Message: "the client certificate " + problem}
	}
	p, ok := g.opts.Partners[id]
	if !ok {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.unregistered",
			Message: "the client certificate names a partner that is not registered"}
	}
	ex.partner = p
	ex.entry.Partner = p.ID
	if p.IssuingCAs != nil && !chainsIncludeCA(ex.r.TLS.VerifiedChains, p.IssuingCAs()) {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.issuer",
			Message: "the client certificate was not issued by the CA registered for this partner"}
	}
	if ref := g.checkSource(ex); ref != nil {
		return ref
	}
	if p.Limiter != nil && !p.Limiter.Allow(g.now()) {
		return &Refusal{Status: http.StatusTooManyRequests, Code: "throttled", Rule: "rate.partner",
			Message: "request rate limit exceeded for this partner; retry later",
			Header:  http.Header{"Retry-After": {"1"}}}
	}
	return nil
}

// verifyConnection runs the listener's handshake check again for this
// request, so that a certificate revoked since the handshake, or whose
// CA's revocation list has expired since, is refused on a connection that
// is already open.
func verifyConnection(ex *exchange, verify func(tls.ConnectionState) error) *Refusal {
	if verify == nil || ex.r.TLS == nil {
		return nil
	}
	if err := verify(*ex.r.TLS); err != nil {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.revoked",
			Message: "the client certificate is revoked, or its CA has no current revocation list; connect with a valid certificate"}
	}
	return nil
}

// chainsIncludeCA reports whether a CA certificate (any element after
// the leaf) of one of the verified chains has one of the fingerprints.
// An empty fingerprint list matches nothing, so a partner whose CA file
// contains no usable certificate is rejected rather than let through.
func chainsIncludeCA(chains [][]*x509.Certificate, fingerprints [][sha256.Size]byte) bool {
	for _, chain := range chains {
		if len(chain) < 2 {
			continue
		}
		for _, ca := range chain[1:] {
			sum := sha256.Sum256(ca.Raw)
			for _, fp := range fingerprints {
				if sum == fp {
					return true
				}
			}
		}
	}
	return false
}

// checkSource applies the partner's own source allowlist to the client
// address, which is the connection's peer unless a trusted proxy names
// another.
func (g *Gateway) checkSource(ex *exchange) *Refusal {
	if g.opts.Sources == nil {
		return nil
	}
	src, err := g.opts.Sources.ClientAddr(ex.r)
	if err != nil {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "source.forwarded",
			Message: "the request's source address is not allowed"}
	}
	ex.entry.Source = src.String()
	if err := g.opts.Sources.CheckPartner(ex.partner.ID, src); err != nil {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "source.partner",
			Message: "this partner may not connect from this address"}
	}
	return nil
}

// authenticate verifies the bearer token: signature, lifetime, binding to
// the certificate of this connection, revocation (by request or by the kill
// switch), and that it was issued to the same partner the certificate
// names.
func (g *Gateway) authenticate(ex *exchange) *Refusal {
	// url.Query drops pairs it cannot parse, so a token hidden in such a
	// pair would pass BearerToken's own query check.
	if strings.Contains(strings.ToLower(ex.r.URL.RawQuery), "access_token") {
		return tokenRefusal(token.ErrMalformedRequest, "token.malformed", "access tokens must not be sent in the URL")
	}
	raw, err := token.BearerToken(ex.r)
	if err != nil {
		rule, msg := "token.missing", "an access token is required: send Authorization: Bearer <token>"
		if errors.Is(err, token.ErrMalformedRequest) {
			rule, msg = "token.malformed", "the Authorization header is not a valid Bearer token"
		}
		return tokenRefusal(err, rule, msg)
	}
	claims, err := g.opts.Tokens.VerifyContext(ex.r.Context(), raw, ex.leaf)
	if err != nil {
		if ref := cancelledRefusal(ex); ref != nil {
			return ref
		}
		return verifyRefusal(err)
	}
	ex.claims = claims
	ex.entry.TokenID = claims.TokenID
	if ks := g.opts.KillSwitch; ks != nil && ks.Revoked(ex.partner.ID, claims.IssuedAt) {
		return tokenRefusal(token.ErrRevokedToken, "token.revoked", "the access token was revoked; request a new one")
	}
	if claims.ClientID != ex.partner.ID {
		return tokenRefusal(token.ErrInvalidToken, "token.client-mismatch", "the access token was issued to another client")
	}
	return nil
}

// verifyRefusal maps a failed token verification to its rule. A failed
// revocation lookup is rejected with 503, because the token may be valid.
func verifyRefusal(err error) *Refusal {
	rule, msg := "token.invalid", "the access token is invalid"
	switch {
	case errors.Is(err, token.ErrRevocationUnavailable):
		return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "token.revocation-unavailable",
			Message: "the token's revocation state could not be checked; retry later", Header: http.Header{"Retry-After": {"5"}}}
	case errors.Is(err, token.ErrExpiredToken):
		rule, msg = "token.expired", "the access token has expired"
	case errors.Is(err, token.ErrRevokedToken):
		rule, msg = "token.revoked", "the access token was revoked; request a new one"
	case errors.Is(err, token.ErrCertificateMismatch):
		rule, msg = "token.certificate-mismatch", "the access token is bound to another client certificate"
	}
	return tokenRefusal(err, rule, msg)
}

// tokenRefusal builds the RFC 6750 refusal for a failed bearer token check.
func tokenRefusal(err error, rule, msg string) *Refusal {
	status, challenge := token.BearerChallenge(err)
	return &Refusal{Status: status, Code: "login", Rule: rule, Message: msg,
		Header: http.Header{"Www-Authenticate": {challenge}}}
}

// checkCut refuses the request if an engaged kill-switch cut covers it.
// Before authorization only full cuts of the partner apply; afterwards the
// parsed interaction is matched too, and so is each entry of a batch or
// transaction. Outbound, a partial cut also refuses a request with a body
// or with a method other than GET or HEAD (killswitch.Switch.CheckBody).
func (g *Gateway) checkCut(ex *exchange) *Refusal {
	ks := g.opts.KillSwitch
	if ks == nil {
		return nil
	}
	cut := ks.CheckBody(ex.partner.ID, ex.direction, ex.fhir, len(ex.body) > 0)
	if cut == nil {
		cut = checkEntryCuts(ks, ex)
	}
	if cut == nil {
		return nil
	}
	return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "killswitch.cut-" + itoa(cut.ID),
		Message: "the payer has suspended this exchange (kill switch, mode " + string(cut.Mode) + "); contact the payer's security team"}
}

// checkEntryCuts returns the first cut that covers an entry of a batch or
// transaction, so that a route cut (route:Claim.read) also stops the
// interaction sent inside a batch. A Bundle whose entries cannot be read
// is left to the policy stage inbound and to checkOutboundEntries
// outbound, which both refuse it.
func checkEntryCuts(ks *killswitch.Switch, ex *exchange) *killswitch.Cut {
	if ex.fhir == nil || ex.fhir.Kind != fhirreq.BatchTransaction || len(ks.Cuts()) == 0 {
		return nil
	}
	b, err := ex.parsedBatch()
	if err != nil {
		return nil
	}
	for i := range b.Entries {
		if req := b.Entries[i].Request; req != nil {
			if cut := ks.Check(ex.partner.ID, ex.direction, req); cut != nil {
				return cut
			}
		}
	}
	return nil
}

// authorize parses the FHIR interaction and allows it only if the partner's
// allowlist names it. Deny by default.
func (g *Gateway) authorize(ex *exchange) *Refusal {
	req, ref := g.parseInteraction(ex)
	if ref != nil {
		return ref
	}
	ex.fhir = req
	ex.entry.Interaction = req.Describe()
	if missing, ok := ex.partner.Allowed.Missing(req); ok {
		return notAllowed("", missing)
	}
	if ex.direction == killswitch.Outbound {
		if ref := checkOutboundQuery(ex.partner, req, ""); ref != nil {
			return ref
		}
	}
	if ref := checkOutboundEntries(ex, req); ref != nil {
		return ref
	}
	ex.allowlisted = true
	ex.entry.Rule = "allow:" + req.Describe()
	return nil
}

// parseInteraction parses the FHIR interaction of the request or, for a
// page request, of the search its token was sealed for.
func (g *Gateway) parseInteraction(ex *exchange) (*fhirreq.Request, *Refusal) {
	if isPageRequest(ex) {
		return g.parsePageRequest(ex)
	}
	req, err := fhirreq.ParseWithBody(ex.r, ex.target.prefix, ex.body)
	if err != nil {
		var fe *fhirreq.Error
		if errors.As(err, &fe) {
			return nil, &Refusal{Status: fe.Status, Code: codeForStatus(fe.Status), Rule: "request.noncanonical", Message: fe.Reason}
		}
		return nil, &Refusal{Status: http.StatusNotFound, Code: "not-found", Rule: "request.unknown", Message: "no FHIR interaction at this path"}
	}
	return req, nil
}

// decide runs the policy engine: scopes, roles per data class, refused
// features, search reach and identity congruence. A candidate policy in
// shadow mode decides too; disagreements are counted and logged, and only
// the enforced decision acts.
//
// It runs after the payload stage, so the engine's parsers read only bodies
// that passed strict intake.
func (g *Gateway) decide(ex *exchange) *Refusal {
	if ex.partner.Policy == nil || g.opts.Policy == nil {
		return nil
	}
	in := policy.Input{
		Partner:   ex.partner.Policy,
		Allowlist: ex.partner.Allowed,
		Scopes:    grantedScopes(ex.claims.Scopes, ex.partner.Scopes),
		Request:   ex.fhir,
		Body:      ex.body,
		Identity: congruence.Identity{
			PartnerID:                ex.partner.ID,
			TokenClientID:            ex.claims.ClientID,
			Organization:             ex.partner.Policy.Organization,
			CertificateOrganizations: congruence.OrganizationsFromURIs(uriStrings(ex.leaf)),
		},
	}
	res := policy.Shadow{Enforced: g.opts.Policy, Candidate: g.opts.ShadowPolicy}.Decide(in)
	if res.Disagree {
		g.log.Info("shadow policy disagrees", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID,
			"enforced", res.Decision.Rule, "candidate", res.Candidate.Rule)
		if g.opts.Observer != nil {
			g.opts.Observer.ObserveShadow(ex.partner.ID, res.Decision.Rule, res.Candidate.Rule)
		}
	}
	d := res.Decision
	ex.entry.Rule = d.Rule
	if !d.Allow {
		ex.entry.Reason = d.Reason
		return &Refusal{Status: d.Status, Code: d.Code, Rule: d.Rule, Message: d.Reason}
	}
	ex.bundle = d.Bundle
	return nil
}

// grantedScopes returns the token's scopes, limited to the partner's
// current registration when one is set.
func grantedScopes(issued []string, registered *scope.Set) scope.Set {
	granted := scope.ParseGranted(issued)
	if registered == nil {
		return granted
	}
	return scope.Intersect(granted, *registered)
}

func uriStrings(leaf *x509.Certificate) []string {
	out := make([]string, 0, len(leaf.URIs))
	for _, u := range leaf.URIs {
		out = append(out, u.String())
	}
	return out
}

// bodyTooLarge returns the refusal of a request body over the limit,
// which it names so that the client can split or shrink what it sends.
func (g *Gateway) bodyTooLarge() *Refusal {
	return &Refusal{Status: http.StatusRequestEntityTooLarge, Code: "too-long", Rule: "payload.too-large",
		Message: "the request body exceeds the size limit of " + byteSize(g.opts.MaxBodyBytes)}
}

// byteSize formats n bytes for a message, in MiB or KiB as well when n is
// a whole number of them.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkPayload enforces the media types and the body rules: size,
// encoding, the Accept header, the body's media type and strict JSON.
func (g *Gateway) checkPayload(ex *exchange) *Refusal {
	if ex.oversized {
		return g.bodyTooLarge()
	}
	hasBody := len(ex.body) > 0
	if ref := checkContentEncoding(ex, hasBody); ref != nil {
		return ref
	}
	if ref := checkAccept(ex); ref != nil {
		return ref
	}
	if ref := checkForwardedHeaders(ex); ref != nil {
		return ref
	}
	switch ex.r.Method {
	case http.MethodGet, http.MethodDelete:
		if hasBody {
			return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "payload.unexpected",
				Message: "this interaction takes no request body"}
		}
		return nil
	}
	if isSearch(ex.fhir) {
		// POST _search carries its parameters as a form, which the request
		// model already parsed strictly.
		if ct := ex.r.Header.Values("Content-Type"); hasBody && (len(ct) != 1 || !strings.HasPrefix(ct[0], "application/x-www-form-urlencoded")) {
			return &Refusal{Status: http.StatusUnsupportedMediaType, Code: "not-supported", Rule: "payload.media-type",
				Message: "a POST _search body must be application/x-www-form-urlencoded"}
		}
		return nil
	}
	if !hasBody {
		return &Refusal{Status: http.StatusBadRequest, Code: "required", Rule: "payload.missing",
			Message: "this interaction requires a FHIR JSON request body"}
	}
	cts := ex.r.Header.Values("Content-Type")
	if len(cts) != 1 || !isFHIRJSON(cts[0]) {
		msg := "the request body must be FHIR JSON: send Content-Type: application/fhir+json"
		if len(cts) == 1 {
			if param := unsupportedParameter(cts[0]); param != "" {
				msg = "Content-Type " + param + " is not supported: send the body as UTF-8 FHIR R4 JSON, with Content-Type: application/fhir+json"
			}
		}
		return &Refusal{Status: http.StatusUnsupportedMediaType, Code: "not-supported", Rule: "payload.media-type", Message: msg}
	}
	// One pass checks the JSON and reads the resource's type and id.
	head, err := fhirjson.CheckObjectHead(ex.body, g.intakeLimits())
	var headErr *fhirjson.HeadError
	if err != nil && !errors.As(err, &headErr) {
		return &Refusal{Status: http.StatusBadRequest, Code: "structure", Rule: "payload.json", Message: err.Error()}
	}
	if ref := g.checkResourceType(ex, head, err); ref != nil {
		return ref
	}
	ex.jsonChecked = true
	return nil
}

// intakeLimits returns the limits of the JSON intake of request bodies.
func (g *Gateway) intakeLimits() fhirjson.Limits {
	return fhirjson.Limits{MaxBytes: g.opts.MaxBodyBytes, MaxDepth: 64, MaxStringLength: int(g.opts.MaxBodyBytes)}
}

// isFHIRJSON accepts application/fhir+json and application/json, with no
// charset other than UTF-8 and no FHIR version other than R4's.
func isFHIRJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return false
	}
	for k, v := range params {
		if !servedParameter(k, v) {
			return false
		}
	}
	return true
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not-found"
	case http.StatusMethodNotAllowed:
		return "not-supported"
	}
	return "invalid"
}

// hasClientAuth reports whether the certificate names the clientAuth
// extended key usage explicitly. Chain verification accepts a certificate
// without any extended key usage for every purpose; partners must carry
// the one they are issued for.
func hasClientAuth(leaf *x509.Certificate) bool {
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth {
			return true
		}
	}
	return false
}

func isSearch(req *fhirreq.Request) bool {
	return req != nil && (req.Kind == fhirreq.SearchType || req.Kind == fhirreq.SearchSystem)
}

// notAllowed is the 403 policy.not-allowed refusal for an interaction
// missing from the partner's allowlist. prefix names the Bundle entry, or
// is empty for the request itself.
func notAllowed(prefix, missing string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "policy.not-allowed",
		Message: prefix + "the interaction " + missing + " is not allowed for this partner"}
}

// checkOutboundEntries checks each entry of a batch or transaction the
// engine sends to a partner against the outbound allowlist. Inbound, the
// policy engine does this with the same Allowlist.Missing. Outbound no
// policy engine runs, so without this check batch-transaction would open
// every interaction. A Bundle whose entries cannot be read is rejected, and
// so is an entry that is itself a batch or transaction, whose own entries
// neither this check nor the kill switch's route cuts would see.
func checkOutboundEntries(ex *exchange, req *fhirreq.Request) *Refusal {
	if ex.partner.Policy != nil || req.Kind != fhirreq.BatchTransaction {
		return nil
	}
	b, err := ex.parsedBatch()
	if err != nil {
		return bundleUnreadable()
	}
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.Request == nil {
			return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "policy.bundle.entry-request",
				Message: e.Path() + ": each entry of a batch or transaction needs a request"}
		}
		if e.Request.Kind == fhirreq.BatchTransaction {
			return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: "policy.bundle.nested",
				Message: e.Path() + ": a batch or transaction may not contain another batch or transaction"}
		}
		if missing, ok := ex.partner.Allowed.Missing(e.Request); ok {
			return notAllowed(e.Path()+": ", missing)
		}
		if ref := checkOutboundQuery(ex.partner, e.Request, e.Path()+": "); ref != nil {
			return ref
		}
	}
	return nil
}
