package policy

import (
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// Decision is the outcome of one policy evaluation.
type Decision struct {
	Allow bool
	// Rule is a stable id of the rule that decided, recorded and counted.
	Rule string
	// Reason is safe to send to the partner: it names types, features and
	// FHIRPath-like locations, never ids, parameter values or payload
	// content.
	Reason string
	// Status is the HTTP status of a denial; 0 when Allow is true.
	Status int
	// Code is the FHIR issue-type code of a denial.
	Code string
	// Bundle is the request Bundle the engine parsed to allow a PAS
	// operation (Claim/$submit, Claim/$inquire), nil otherwise. It refers
	// to Input.Body, so later stages read the parsed entries instead of
	// decoding the body again.
	Bundle *fhirreq.Bundle
}

// Input is everything one decision reads. The policy never consults the
// upstream, so a decision cannot depend on whether a resource exists.
type Input struct {
	// Partner is the registration of the certificate's partner.
	Partner *Partner
	// Scopes are the access token's granted scopes.
	Scopes scope.Set
	// Request is the parsed FHIR request.
	Request *fhirreq.Request
	// Body is the request body: read for Bundles, creates, updates and
	// operations that take one.
	Body []byte
	// Identity contains the certificate, token and registration identities for
	// the congruence checks on writes and operations.
	Identity congruence.Identity
	// Allowlist is the partner's configured interactions. The gateway
	// checks the whole request against it before the engine runs; the
	// engine checks each entry of a batch or transaction against it. An
	// empty allowlist allows no entry.
	Allowlist fhirreq.Allowlist

	// entry is the Bundle entry being decided, whose resource type and id
	// are already known; nil for a whole request.
	entry *fhirreq.Entry
}

// Decider decides on one request. Implementations must be safe for
// concurrent use and must not perform I/O.
type Decider interface {
	Decide(Input) Decision
}

func allow(rule string) Decision { return Decision{Allow: true, Rule: rule} }

// scopeForbidden returns the policy.scope rejection, where shortfall
// completes the reason, as in "do not permit read on Claim". The scopes
// checked are the token's, limited to the partner's current registration,
// so the reason names both places the scope can be missing from.
func scopeForbidden(shortfall string) Decision {
	return forbidden("policy.scope", "the access token's scopes, within the partner's registration, "+shortfall+
		": request a token with the missing scope, or ask the payer to add it to the registration")
}

func forbidden(rule, reason string) Decision {
	return Decision{Rule: rule, Reason: reason, Status: http.StatusForbidden, Code: "forbidden"}
}

func invalid(rule, reason string) Decision {
	return Decision{Rule: rule, Reason: reason, Status: http.StatusBadRequest, Code: "invalid"}
}

func mismatch(m *congruence.Mismatch) Decision {
	return forbidden(m.Rule, m.Reason)
}

// atEntry prefixes a denial of one Bundle entry with the entry's location.
func atEntry(e *fhirreq.Entry, d Decision) Decision {
	d.Reason = e.Path() + ": " + d.Reason
	return d
}
