// Package gateway is the inbound request pipeline: every request a partner
// sends over mutual TLS passes the same explicit stages, in order.
//
//  1. receive: read the body under a size cap, so every record holds it;
//  2. identity: map the verified client certificate to a registered partner;
//  3. kill switch: refuse if a full cut covers the partner;
//  4. token: verify the certificate-bound access token;
//  5. authorization: parse the FHIR interaction; the partner's interaction
//     allowlist must name it;
//  6. kill switch: refuse if any cut covers the interaction;
//  7. payload: media type, size and strict JSON checks;
//  8. policy: scopes, roles per data class, refused features, search reach
//     and identity congruence, decided on the checked body;
//  9. strict mode: the body conforms to FHIR R4 and the interaction's
//     profiles;
//  10. record: commit the request entry (fail closed);
//  11. forward: send the request to the upstream FHIR server;
//  12. record: commit the response entry (fail closed), then check the
//     response (status, media type, strict mode) before it is released;
//  13. respond: release the upstream response.
//
// A stage that refuses returns a *Refusal; refuse is the one code path that
// records the exchange, sets the status and writes the OperationOutcome, so
// no deny branch can skip one of them. A request is forwarded only after its
// request entry is durably recorded, and a response is released only after
// its response entry is.
package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	rtrace "runtime/trace"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/httpbody"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/scope"
	"github.com/gatehouse-health/gatehouse/internal/token"
	"go.opentelemetry.io/otel/trace"
)

// FHIRBasePath is the path prefix of the FHIR API on the inbound listener.
const FHIRBasePath = "/fhir"

// TokenPath is the path of the SMART token endpoint.
const TokenPath = "/oauth/token"

// Partner is a registered partner as the pipeline uses it.
type Partner struct {
	ID string
	// Allowed lists the interactions the partner may perform; anything else
	// is denied.
	Allowed fhirreq.Allowlist
	// Limiter caps the partner's request rate; nil means no cap.
	Limiter *RateLimiter
	// Policy is the compiled registration inbound requests are decided on
	// by Options.Policy; nil skips the policy engine (outbound partners).
	Policy *policy.Partner
	// MaxCount is the largest _count a search may request. A type or
	// system search without _count is forwarded with _count=MaxCount, zero
	// meaning policy.DefaultMaxCount. Outbound the gateway rejects a larger
	// _count itself. Inbound the policy engine rejects it, so MaxCount
	// should equal the engine's limit.
	MaxCount int
	// Scopes is the maximum scope set of the current registration. A token
	// keeps its scopes until it expires, even across a restart, so the
	// policy engine decides on their intersection with Scopes. A scope
	// removed from the registration then stops working at once. Nil leaves
	// the token's scopes as issued.
	Scopes *scope.Set
	// Strict turns strict mode on for this partner, in both directions.
	Strict bool
	// StrictSkip lists interactions, in allowlist syntax, exempt from
	// strict mode for this partner.
	StrictSkip map[string]bool
	// StrictChecker, when set, replaces Options.Strict for this partner's
	// exchanges, as a checker with another unknown-profile action does.
	// Strict mode still applies only when Options.Strict is set.
	StrictChecker StrictChecker
	// IssuingCAs, when not nil, returns the SHA-256 fingerprints of the CA
	// certificates that may issue this partner's client certificates: a
	// connection is refused unless one of its verified chains passes
	// through one of them. It is called on every request, so that a reload
	// of the CA file applies at once. Nil accepts any verified chain.
	IssuingCAs func() [][sha256.Size]byte
}

// StrictChecker validates FHIR bodies for strict mode; *strict.Checker
// implements it. A nil outcome means the body conforms.
type StrictChecker interface {
	CheckRequest(interaction string, body []byte) (*outcome.OperationOutcome, error)
	CheckResponse(interaction string, body []byte) (*outcome.OperationOutcome, error)
	// CheckErrorResponse validates the body of a response whose status is
	// not 2xx, which must be an OperationOutcome.
	CheckErrorResponse(body []byte) (*outcome.OperationOutcome, error)
	// RequiresResponseBody reports whether a successful response of
	// interaction must carry a body, as an operation with a response
	// profile does.
	RequiresResponseBody(interaction string) bool
}

// SourceChecker applies the source allowlists; *netguard.Guard implements
// it.
type SourceChecker interface {
	ClientAddr(r *http.Request) (netip.Addr, error)
	CheckPartner(partnerID string, source netip.Addr) error
}

// TokenVerifier verifies access tokens presented on FHIR requests;
// *token.Server implements it.
type TokenVerifier interface {
	VerifyContext(ctx context.Context, raw string, peer *x509.Certificate) (*token.AccessClaims, error)
}

// TokenIssuer runs the token endpoint; *token.Server implements it.
type TokenIssuer interface {
	Issue(ctx context.Context, r *http.Request) (*token.Result, *token.Error)
	WriteResponse(w http.ResponseWriter, res *token.Result, e *token.Error)
}

// Options configures a Gateway. All fields except Logger and Now are
// required.
type Options struct {
	// Partners maps partner ids to registrations. It is read concurrently and
	// must not be modified after New.
	Partners map[string]*Partner
	// PartnerOf extracts the partner id from a verified client certificate.
	PartnerOf func(leaf *x509.Certificate) (string, bool)
	Tokens    TokenVerifier
	Issuer    TokenIssuer
	// TokenControl, when set, serves token revocation to partners at
	// RevokePath on this listener, and revocation and introspection to the
	// integration engine on the outbound listener.
	TokenControl TokenControl
	// SmartConfiguration is the body served at
	// [base]/.well-known/smart-configuration.
	SmartConfiguration []byte
	// Receipts, when set, serves inclusion proofs of log entries at
	// GET /receipts/{index}, each to the partner whose exchange the entry
	// records.
	Receipts ReceiptSource
	// JWKS, when set, is the payer's public key set served at
	// /.well-known/jwks.json for partners' authorization servers.
	JWKS    []byte
	Records record.Store
	// UpstreamSharesRecordFile is set when the upstream keeps its state in
	// the record store's SQLite file, as the built-in payer service does.
	// The gateway then forwards a request once its request entry has
	// committed, without waiting for the disk (auditlog.CommitAppender).
	// The upstream's writes follow the entry in the file's write-ahead
	// log, so a crash that loses the entry loses them too. With a record
	// store that implements auditlog.CommitSyncer, the response entry
	// commits the same way, and the gateway syncs the record after the
	// response checks and before it releases anything. With any other
	// store, the response entry's own sync makes both durable. Leave it
	// false for any other upstream, which must never see a request whose
	// record a crash could still erase. Outbound exchanges, bound for
	// partners, always wait for the disk.
	UpstreamSharesRecordFile bool
	// LinksShareRecordFile is set when Links writes to the record store's
	// SQLite file. When the response entry of an inbound exchange commits
	// without waiting for the disk (UpstreamSharesRecordFile), the links
	// then commit the same way (CommittedLinkRecorder). The record's sync
	// before the release makes both durable, with one fsync per exchange
	// instead of two.
	LinksShareRecordFile bool
	// Upstream is the FHIR base URL requests are forwarded to.
	Upstream *url.URL
	// UpstreamClient sends forwarded requests; its Timeout bounds each one.
	UpstreamClient *http.Client
	// MaxBodyBytes caps request bodies (413 above it) and, times four,
	// upstream response bodies.
	MaxBodyBytes int64
	// BodyBudget, when set, bounds the memory that request bodies hold at
	// once across all exchanges, inbound and outbound. A request that would
	// take it past the bound gets 503 (payload.busy) before its partner is
	// identified. Nil leaves only MaxBodyBytes per request.
	BodyBudget *httpbody.Budget
	// Policy decides inbound requests on scopes, roles, refused features
	// and identity congruence; nil leaves only the interaction allowlist.
	Policy policy.Decider
	// ShadowPolicy, when set, is a candidate policy that decides every
	// request too without acting; disagreements are counted and logged.
	ShadowPolicy policy.Decider
	// Strict, when set, validates request bodies before they are forwarded
	// and upstream responses before they are released (strict mode).
	Strict StrictChecker
	// Sources, when set, gives each request's client address and applies
	// the partner's own source allowlist after the handshake.
	Sources SourceChecker
	// VerifyConnection, when set, is the inbound listener's
	// tls.Config.VerifyConnection, run again on every request. The
	// handshake runs it once per connection, so without this a
	// certificate revoked after the handshake keeps working, and keeps
	// obtaining tokens, on a connection opened before the revocation.
	VerifyConnection func(tls.ConnectionState) error
	// KillSwitch, when set, is consulted on every request; requests a cut
	// covers are refused with 503, and tokens it revoked with 401.
	KillSwitch *killswitch.Switch
	// Observer, when set, is told about every completed exchange and every
	// record commit, for metrics.
	Observer Observer
	// TracerProvider, when set to a provider other than a no-op one, gets
	// a server span per exchange with a child span per stage, record
	// commit and upstream call, and the payer's upstream gets a
	// traceparent header. Nil or a no-op provider turns tracing off.
	TracerProvider trace.TracerProvider
	// Links, when set, links to the partner that sent them the patients
	// of PAS, eligibility and member-match requests the upstream accepted,
	// for OutboundOptions.Patients, and the Claim identifiers of accepted
	// Claim/$submit and Claim/$inquire requests, for
	// OutboundOptions.Claims.
	Links LinkRecorder
	// Pages, when set, seals the links of every search response released,
	// in both directions, into page tokens served at PagePath, so that a
	// client can follow the pages of a search it was allowed. Nil releases
	// the target's links unchanged, and a page request gets 404.
	Pages *pagelink.Sealer
	// PageLifetime is how long a page token stays valid after the response
	// that carried it. Zero means DefaultPageLifetime.
	PageLifetime time.Duration
	// PublicFHIRBase is the FHIR base URL partners use, such as
	// https://gateway.example/fhir, under which inbound page links are
	// written. Empty writes them as paths from FHIRBasePath.
	PublicFHIRBase string

	Logger *slog.Logger
	Now    func() time.Time
}

// Observer receives what the gateway measures. Implementations must be
// cheap and safe for concurrent use; they see record entries, so they must
// not keep or export bodies.
type Observer interface {
	ObserveExchange(e *record.Entry)
	ObserveCommit(d time.Duration, err error)
	ObserveShadow(partner, enforcedRule, candidateRule string)
}

// PayloadObserver is an optional interface of an Observer that inspects
// what an exchange carried, such as the anomaly alerts. The gateway calls
// ObservePayload once per completed exchange, right after ObserveExchange,
// on the request's goroutine and after the response has been written.
//
// e is the exchange's final entry. Its RequestBody and ResponseBody are the
// bodies as recorded, so the token endpoint's have the client assertion and
// the access token replaced by their ids. req is the parsed FHIR request,
// nil when the exchange was refused before it was parsed. b is the request
// Bundle the policy engine parsed to allow a PAS operation (see
// policy.Decision.Bundle), nil otherwise, so that the observer need not
// decode e.RequestBody again. The gateway never changes e, its bodies, req
// or b after the call, so an implementation may hand them to another
// goroutine. It must not modify them, must return without blocking, and
// must not log or export their content.
type PayloadObserver interface {
	ObservePayload(e *record.Entry, req *fhirreq.Request, b *fhirreq.Bundle)
}

// Gateway is the inbound pipeline. It is safe for concurrent use.
type Gateway struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	upstream *target
	tracer   trace.Tracer // nil when tracing is off
}

// New checks opts and returns a Gateway.
func New(opts Options) (*Gateway, error) {
	switch {
	case opts.PartnerOf == nil:
		return nil, errors.New("gateway: Options.PartnerOf is required")
	case opts.Tokens == nil || opts.Issuer == nil:
		return nil, errors.New("gateway: Options.Tokens and Options.Issuer are required")
	case opts.Records == nil:
		return nil, errors.New("gateway: Options.Records is required")
	case opts.Upstream == nil || opts.UpstreamClient == nil:
		return nil, errors.New("gateway: Options.Upstream and Options.UpstreamClient are required")
	case opts.MaxBodyBytes <= 0:
		return nil, errors.New("gateway: Options.MaxBodyBytes must be positive")
	}
	g := &Gateway{opts: opts, log: opts.Logger, now: opts.Now, tracer: newTracer(opts.TracerProvider)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.upstream = &target{base: opts.Upstream, prefix: FHIRBasePath, client: opts.UpstreamClient, identityHeaders: true,
		pageBase: strings.TrimRight(opts.PublicFHIRBase, "/")}
	if g.upstream.pageBase == "" {
		g.upstream.pageBase = FHIRBasePath
	}
	g.mux = http.NewServeMux()
	g.mux.HandleFunc(TokenPath, g.serveToken)
	if opts.TokenControl != nil {
		g.mux.HandleFunc(RevokePath, g.servePartnerRevoke)
	}
	g.mux.HandleFunc(FHIRBasePath+"/.well-known/smart-configuration", g.serveSmartConfiguration)
	if opts.Receipts != nil {
		g.mux.HandleFunc("GET /receipts/{index}", g.serveReceipt)
	}
	if opts.JWKS != nil {
		g.mux.HandleFunc("/.well-known/jwks.json", g.serveJWKS)
	}
	g.mux.HandleFunc(FHIRBasePath, g.serveFHIR)
	g.mux.HandleFunc(FHIRBasePath+"/", g.serveFHIR)
	g.mux.HandleFunc("/", g.serveNotFound)
	return g, nil
}

// ServeHTTP dispatches to the token endpoint, the SMART configuration or
// the FHIR pipeline.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The region marks one exchange in a runtime execution trace, which
	// bench/latency/tracesplit.py reads. It costs a flag check when no
	// trace is running.
	defer rtrace.StartRegion(r.Context(), "exchange").End()
	// ServeMux would respond to a path with dot segments or double slashes with
	// a redirect to its cleaned form, before any stage or record. Such
	// paths are refused here instead, through the recorded pipeline.
	if !isCleanPath(r.URL.Path) {
		g.serveTraced(w, r, inboundSpan, g.serveNonCanonical)
		return
	}
	g.serveTraced(w, r, inboundSpan, g.mux.ServeHTTP)
}

// isCleanPath reports whether p has no empty, "." or ".." segment, apart
// from a single trailing slash.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	segs := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return p == "/"
		}
	}
	return true
}

func (g *Gateway) serveNonCanonical(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	if ref := g.receive(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	message := "the path has empty or dot segments; send the canonical path"
	if !strings.HasPrefix(r.URL.Path, "/") {
		// The asterisk form of "OPTIONS *", or the authority form of CONNECT.
		message = "the request target is not a path; send the request to a path under the FHIR base " + FHIRBasePath
	}
	g.refuse(w, ex, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "request.noncanonical", Message: message})
}

// serveFHIR runs the pipeline stages in order.
func (g *Gateway) serveFHIR(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	if !g.runStages(w, ex,
		stage{stageReceive, g.receive},
		stage{stageIdentity, g.identify},
		stage{stageKillSwitch, g.checkCut},
		stage{stageToken, g.authenticate},
		stage{stageAuthorization, g.authorize},
		stage{stageKillSwitch, g.checkCut},
		stage{stagePayload, g.checkPayload},
		stage{stagePolicy, g.decide},
		stage{stageStrict, g.checkConformance},
	) {
		return
	}
	g.forwardAndRespond(w, ex)
}

// runStages runs stages in order, each in its own span, and reports
// whether all passed. The first refusal is sent through refuse.
func (g *Gateway) runStages(w http.ResponseWriter, ex *exchange, stages ...stage) bool {
	for _, s := range stages {
		if ref := g.runStage(ex, s); ref != nil {
			g.refuse(w, ex, ref)
			return false
		}
	}
	return true
}

func (g *Gateway) serveNotFound(w http.ResponseWriter, r *http.Request) {
	ex := g.begin(r)
	if ref := g.receive(ex); ref != nil {
		g.refuse(w, ex, ref)
		return
	}
	g.refuse(w, ex, &Refusal{Status: http.StatusNotFound, Code: "not-found", Rule: "route.unknown",
		Message: "no Gatehouse endpoint at this path; the FHIR base is " + FHIRBasePath})
}
