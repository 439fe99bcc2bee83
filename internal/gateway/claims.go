package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
)

// ClaimLinks contains the business identifiers of the Claims each partner
// submitted or inquired about in requests the upstream accepted;
// *patientlinks.Store implements it. The outbound pipeline sends a
// partner a ClaimResponse only when it responds to one of those claims.
type ClaimLinks interface {
	// LookupClaims returns, for each identifier of ids, whether it is
	// linked to partner and whether to another partner. It rejects more
	// than patientlinks.MaxIdentifiers identifiers.
	LookupClaims(ctx context.Context, partner string, ids []congruence.Identifier) ([]patientlinks.Link, error)
}

// claimRule is the rule of an outbound ClaimResponse that responds to no
// claim of the destination partner.
const claimRule = "congruence.outbound-claim"

// inboundClaims returns the Claim identifiers of an inbound Claim/$submit
// or Claim/$inquire, which rememberLinks links to the partner when the
// upstream accepted the request.
func inboundClaims(ex *exchange) []congruence.Identifier {
	if ex.fhir == nil || ex.fhir.Kind != fhirreq.OperationType || ex.fhir.Type != "Claim" || ex.bundle == nil {
		return nil
	}
	if op := ex.fhir.Operation; op != "submit" && op != "inquire" {
		return nil
	}
	return congruence.ClaimIdentifiers(ex.bundle)
}

// checkOutboundClaims requires every ClaimResponse of the payload to
// respond to a claim of the destination partner alone: at least one
// identifier of the Claim its request names is linked to the destination,
// and none is linked to another partner. A partner chooses its Claim
// identifiers, so one partner can submit under an identifier another
// partner already sent. The gateway then cannot tell which partner's
// claim a response belongs to, and rejects it for both partners. A Claim
// with more identifiers than the store reads is rejected, because the
// gateway cannot check the rest.
func (g *Gateway) checkOutboundClaims(ex *exchange, opts OutboundOptions, claims []congruence.NamedClaim) *Refusal {
	for _, c := range claims {
		if len(c.Identifiers) > patientlinks.MaxIdentifiers {
			return denyOutboundClaim(c.Path + " names a Claim with more than " + strconv.Itoa(patientlinks.MaxIdentifiers) + " identifiers, more than the gateway checks")
		}
		links, err := opts.Claims.LookupClaims(ex.r.Context(), ex.partner.ID, c.Identifiers)
		if err != nil {
			g.log.Error("gateway: read claim links failed", "exchange", ex.entry.ExchangeID, "partner", ex.partner.ID, "error", err)
			return &Refusal{Status: http.StatusServiceUnavailable, Code: "transient", Rule: "congruence.claim-links-unavailable",
				Message: "the gateway could not read which claims the partner sent; retry later"}
		}
		known := false
		for _, link := range links {
			switch {
			case link.Others && link.Partner:
				return denyOutboundClaim(c.Path + " names a Claim identifier that the destination partner and another partner both sent, so the gateway cannot tell whose claim it responds to")
			case link.Others:
				return denyOutboundClaim(c.Path + " names a Claim that another partner sent")
			case link.Partner:
				known = true
			}
		}
		if !known {
			return denyOutboundClaim(c.Path + " names a Claim that the destination partner has not sent")
		}
	}
	return nil
}

func denyOutboundClaim(message string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "forbidden", Rule: claimRule, Message: message}
}
