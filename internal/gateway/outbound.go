package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/policy"
)

// OutboundPrefix starts every path on the outbound listener:
// /partners/{partner}/fhir/... is forwarded to that partner's FHIR base.
const OutboundPrefix = "/partners/"

// OutboundPartner is a partner the payer's integration engine may call
// through the gateway.
type OutboundPartner struct {
	ID string
	// Base is the partner's FHIR base URL.
	Base *url.URL
	// Client connects to the partner, presenting the payer's client
	// certificate; it must not follow redirects.
	Client *http.Client
	// Token returns an access token from the partner's authorization
	// server, obtained with the payer's own key.
	Token func(ctx context.Context) (string, error)
	// Allowed lists the interactions the engine may perform on the partner.
	Allowed fhirreq.Allowlist
	// Strict validates what the engine sends and what the partner returns.
	Strict bool
	// StrictChecker, when set, replaces Options.Strict for this partner,
	// as Partner.StrictChecker does inbound.
	StrictChecker StrictChecker
	// Organization is the partner's registered organisation identifier,
	// which the parties on the partner's side of an outbound payload must
	// name (see congruence.Checker.CheckOutbound).
	Organization congruence.Identifier
}

// OutboundOptions configures the outbound pipeline.
type OutboundOptions struct {
	Partners map[string]*OutboundPartner
	// EngineOf names the integration engine from its verified certificate.
	EngineOf func(*x509.Certificate) (string, bool)
	// VerifyConnection, when set, is the outbound listener's
	// tls.Config.VerifyConnection, run again on every request, as
	// Options.VerifyConnection is on the inbound listener.
	VerifyConnection func(tls.ConnectionState) error
	// Congruence checks the parties named in what the engine sends. It is
	// required when Partners is not empty.
	Congruence *congruence.Checker
	// MaxCount is the largest _count an outbound search may request; a
	// larger one is rejected, never lowered. Zero means
	// policy.DefaultMaxCount.
	MaxCount int
	// Patients, when set, requires every patient an outbound payload names
	// to be one the destination partner named in an allowed inbound
	// request. The inbound pipeline records those in Options.Links, so
	// both must be the same store.
	Patients PatientLinks
	// MemberSystems are the identifier systems of this payer's member
	// ids. With Patients set, an outbound payload may carry an identifier
	// of one of these systems, on a patient or anywhere else in the body,
	// only when it is linked to the destination.
	MemberSystems []string
	// Claims, when set, requires every ClaimResponse an outbound payload
	// carries to respond to a Claim the destination partner sent in an
	// allowed Claim/$submit or Claim/$inquire. The inbound pipeline
	// records those in Options.Links, so both must be the same store.
	Claims ClaimLinks
}

// Outbound returns the handler of the outbound listener, the payer
// integration engine's only way to a partner. It runs the same record,
// kill-switch, authorization and payload stages as the inbound pipeline,
// then forwards with the payer's credentials. When Options.TokenControl is
// set, it also serves the engine token revocation at RevokePath and
// introspection at IntrospectPath.
func (g *Gateway) Outbound(opts OutboundOptions) (http.Handler, error) {
	if opts.EngineOf == nil {
		return nil, errors.New("gateway: OutboundOptions.EngineOf is required")
	}
	if len(opts.Partners) > 0 && opts.Congruence == nil {
		return nil, errors.New("gateway: OutboundOptions.Congruence is required to check outbound payloads")
	}
	targets := map[string]*target{}
	for id, p := range opts.Partners {
		p := p
		targets[id] = &target{
			base:   p.Base,
			prefix: OutboundPrefix + id + FHIRBasePath,
			// The engine reaches the outbound listener at an address the
			// gateway does not know, so its page links are paths.
			pageBase: OutboundPrefix + id + FHIRBasePath,
			client:   p.Client,
			authorize: func(ctx context.Context, r *http.Request) error {
				tok, err := p.Token(ctx)
				if err != nil {
					return err
				}
				r.Header.Set("Authorization", "Bearer "+tok)
				return nil
			},
		}
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if g.opts.TokenControl != nil {
			switch r.URL.EscapedPath() {
			case RevokePath:
				g.serveEngineRevoke(w, r, opts)
				return
			case IntrospectPath:
				g.serveIntrospect(w, r, opts)
				return
			}
		}
		g.serveOutbound(w, r, opts, targets)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serveTraced(w, r, outboundSpan, serve)
	}), nil
}

func (g *Gateway) serveOutbound(w http.ResponseWriter, r *http.Request, opts OutboundOptions, targets map[string]*target) {
	ex := g.begin(r)
	ex.direction = killswitch.Outbound
	ex.entry.Direction = "outbound"
	if !g.runStages(w, ex,
		stage{stageReceive, g.receive},
		stage{stageIdentity, func(ex *exchange) *Refusal { return g.identifyEngine(ex, opts) }},
		stage{stagePartner, func(ex *exchange) *Refusal { return g.selectPartner(ex, opts, targets) }},
		stage{stageKillSwitch, g.checkCut},
		stage{stageAuthorization, g.authorize},
		stage{stageKillSwitch, g.checkCut},
		stage{stagePayload, g.checkPayload},
		stage{stagePolicy, checkOutboundFormat},
		stage{stagePolicy, func(ex *exchange) *Refusal { return g.checkOutboundSearch(ex, opts) }},
		stage{stagePolicy, func(ex *exchange) *Refusal { return g.checkOutboundParties(ex, opts) }},
		stage{stageStrict, g.checkConformance},
	) {
		return
	}
	g.forwardAndRespond(w, ex)
}

// identifyEngine requires the integration engine's certificate.
func (g *Gateway) identifyEngine(ex *exchange, opts OutboundOptions) *Refusal {
	if ex.leaf == nil {
		return &Refusal{Status: http.StatusUnauthorized, Code: "login", Rule: "identity.no-certificate",
			Message: "the integration engine's client certificate is required"}
	}
	if ref := verifyConnection(ex, opts.VerifyConnection); ref != nil {
		return ref
	}
	name, ok := opts.EngineOf(ex.leaf)
	if !ok {
		return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "identity.not-engine",
			Message: "the client certificate does not name an integration engine"}
	}
	ex.entry.Source = ex.r.RemoteAddr + " engine:" + name
	return nil
}

// checkOutboundParties applies identity congruence to what the engine
// sends: the bodies of creates, updates, operations, batches and
// transactions, which include the payer's Subscription notifications, and
// the FHIRPath Patch bodies of party-bearing resources. It runs after the
// payload stage, so the body is a JSON object.
func (g *Gateway) checkOutboundParties(ex *exchange, opts OutboundOptions) *Refusal {
	if len(ex.body) == 0 || ex.fhir == nil {
		return nil
	}
	var m *congruence.Mismatch
	switch ex.fhir.Kind {
	case fhirreq.Patch:
		m = congruence.CheckOutboundPatch(ex.fhir.Type, ex.body)
	case fhirreq.Create, fhirreq.Update, fhirreq.BatchTransaction,
		fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
		var named congruence.Named
		named, m = opts.Congruence.CheckOutboundNamed(opts.Partners[ex.partner.ID].Organization, ex.body)
		if m == nil {
			return g.checkOutboundLinks(ex, opts, named)
		}
	}
	if m == nil {
		return nil
	}
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: m.Rule, Message: m.Reason}
}

// checkOutboundLinks checks the patients and the claims that an outbound
// payload names against what the destination partner sent inbound, each
// when its store is set.
func (g *Gateway) checkOutboundLinks(ex *exchange, opts OutboundOptions, named congruence.Named) *Refusal {
	if opts.Patients != nil {
		if ref := g.checkOutboundPatients(ex, opts, named.Patients); ref != nil {
			return ref
		}
	}
	if opts.Claims != nil {
		return g.checkOutboundClaims(ex, opts, named.Claims)
	}
	return nil
}

// selectPartner reads the partner id from the path and picks its target.
// Unknown partners get the same response as unknown paths.
func (g *Gateway) selectPartner(ex *exchange, opts OutboundOptions, targets map[string]*target) *Refusal {
	rest, _ := strings.CutPrefix(ex.r.URL.EscapedPath(), OutboundPrefix)
	id, _, _ := strings.Cut(rest, "/")
	p, ok := opts.Partners[id]
	if !ok {
		return &Refusal{Status: http.StatusNotFound, Code: "not-found", Rule: "outbound.unknown-partner",
			Message: "no partner at this path; use /partners/{partner}/fhir/..."}
	}
	ex.partner = &Partner{ID: p.ID, Allowed: p.Allowed, Strict: p.Strict, StrictChecker: p.StrictChecker, MaxCount: opts.MaxCount}
	if ex.partner.MaxCount == 0 {
		ex.partner.MaxCount = policy.DefaultMaxCount
	}
	ex.entry.Partner = p.ID
	ex.target = targets[id]
	return nil
}
