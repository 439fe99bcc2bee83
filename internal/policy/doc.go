// Package policy decides, before anything reaches the upstream, whether a
// partner may perform a parsed FHIR request. It is deny by default: a
// request is allowed only when the access token's scopes and the partner's
// roles and grants both permit the interaction, its type and every type the
// request can return or reveal.
//
// # Contract
//
// Decide takes an Input: the partner registration, the granted scopes, the
// fhirreq.Request and the body. It returns a Decision: Allow, a stable Rule
// id, a Reason that is safe to send, and the HTTP Status and FHIR issue Code
// of a denial. Decisions are pure functions of the Input. The policy never
// consults the upstream, so a caller cannot learn from a denial whether a
// resource exists.
//
// # Rules, in the order they apply
//
//   - _format must be a JSON form (policy.format, 406).
//   - capabilities: allowed, with presentation parameters only.
//   - read, vread: read role on the type's data class and an r scope.
//   - search: read role and an s scope on the type; a granular scope counts
//     only when the search carries its restriction in plain form. _count
//     above Options.MaxCount is refused (policy.search.count, 400), never
//     lowered. _filter, _query, _list, _contained and _containedType are
//     refused. Chained parameters and _has need the chain and has grants
//     and a search permission on every type they reach, and a chain must
//     name each target type (subject:Patient.name). _include needs a named
//     target type and _revinclude a source type the partner may read;
//     wildcards are refused and :iterate needs the include-iterate grant.
//   - search at the base: the system-search grant, then a search of each
//     type listed in _type. Without _type it is a search of every type, so
//     it needs a read role on every data class and a wildcard search scope.
//   - create, update: only on writable data classes (clinical, workflow),
//     with the write role and a c or u scope; the body's resourceType (and
//     id, for an update) must match the URL; conditional criteria must be
//     plain parameters the partner may search, and so must the searches
//     in the body (conditional references, and Subscription criteria
//     other than a topic URL). Identities must agree (package congruence).
//     A Subscription's channel must be a rest-hook to an operation under
//     the partner's OutboundFHIRBase (policy.subscription.channel,
//     policy.subscription.endpoint).
//   - patch and delete: refused to every partner.
//   - history: the history grant and read on the type; history at the base
//     returns every type and needs what $everything needs. Only _count,
//     _since, _at and presentation parameters are accepted.
//   - $everything, $export, $graphql and _graphql: their grant, a read role
//     on every data class and the scope system/*.read.
//   - Claim/$submit, Claim/$inquire, Patient/$member-match and
//     CoverageEligibilityRequest/$submit: POST, the operation grant scope,
//     read on the class the operation returns, and a body of the declared
//     type. A Bundle body must be a collection with no entry requests,
//     responses or searches and no nested Bundle. A PAS Bundle contains PAS
//     entry types only. Then the body passes the congruence checks.
//   - batch, transaction: every entry decided by the same rules; nested
//     batches and Bundles refused; the first refused entry decides, with
//     its location in the Reason.
//   - every other operation is refused (policy.operation.unknown).
//
// # Shadow mode
//
// Shadow runs a candidate Decider beside the enforced one and returns both
// decisions; only the enforced one acts. WithPartners gives the candidate
// its own partner registrations.
package policy
