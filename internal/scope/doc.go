// Package scope parses SMART on FHIR scopes into values and compares them
// as sets of permissions, never as strings.
//
// # Grammar
//
// A scope is one OAuth scope token (RFC 6749 section 3.3) of one of these
// forms, matched case-sensitively:
//
//	scope       = "system/" resource "." ( v1-perm / v2-perm [ "?" restriction ] / operation )
//	resource    = FHIR R4 resource type / "*"
//	v1-perm     = "read" / "write" / "*"
//	v2-perm     = 1*5( "c" / "r" / "u" / "d" / "s" ), each letter at most once, in that order
//	restriction = param "=" value *( "&" param "=" value )
//	operation   = "$submit" / "$inquire" / "$member-match" / "$status" / "$events"    (see the table below)
//
// SMART v1 permissions map to v2 letters: read is rs, write is cud and * is
// cruds. The two forms of one permission set are equal, so system/Claim.read
// and system/Claim.rs grant the same thing.
//
// Examples:
//
//	system/Claim.rs                             read and search Claims (v2)
//	system/Claim.read                           the same permission in v1 form
//	system/Observation.rs?category=laboratory   search Observations with category=laboratory
//	system/Claim.$submit                        call Claim/$submit (a Gatehouse operation grant)
//	system/*.rs                                 read and search every type, only if the registration allows wildcards
//
// # Contexts
//
// Only the system/ context is accepted. Gatehouse serves SMART Backend
// Services, where no user or patient is in context, and a patient/ or user/
// scope would promise a compartment restriction that the gateway cannot
// enforce before the request reaches the upstream. Such scopes are rejected,
// never read as system/ scopes.
//
// # Granular restrictions
//
// A restriction (SMART v2 "granular scope") narrows a scope to searches that
// carry every one of its parameters with exactly that value. Gatehouse
// decides before the upstream responds and never reads the stored resource, so:
//
//   - a restriction is accepted only on the letters r and s (rs, r or s);
//   - a restricted scope permits a search only when the search names each
//     restricted parameter with no modifier, no chain and a value that
//     returns only resources the restriction would return. On a token
//     parameter of FHIR R4 core (fhirreq.IsTokenParam) values are compared
//     as tokens: system|code is within a bare code, a bare code is not
//     within system|code, and every alternative of a comma list must be
//     within the restriction. Any other parameter needs exactly the
//     restricted value, with no comma list;
//   - a restricted scope permits no read by id and no resource reached by
//     _include or _revinclude, because their content is not filtered.
//
// Parameter names are letters, digits and "-", or one of _id, _tag,
// _profile, _security, _source and _lastUpdated. A value is printable ASCII
// without space, '"', '\', '&', '=', '%', ',', '?' or '#', so it has one
// spelling only. A name may appear once per scope. The order of the
// parameters does not matter when scopes are compared.
//
// # Operation grants
//
// SMART defines no scope for FHIR operations, so Gatehouse defines one per
// operation a partner may call. An operation grant names its type exactly
// (no wildcard) and permits only that operation at type level:
//
//	system/Claim.$submit          POST [base]/Claim/$submit  (Da Vinci PAS request)
//	system/Claim.$inquire         POST [base]/Claim/$inquire (Da Vinci PAS inquiry)
//	system/Patient.$member-match  POST [base]/Patient/$member-match (Da Vinci HRex)
//	system/CoverageEligibilityRequest.$submit
//	                              POST [base]/CoverageEligibilityRequest/$submit (eligibility)
//	system/Subscription.$status   GET or POST [base]/Subscription/[id]/$status (Subscriptions Backport)
//	system/Subscription.$events   GET or POST [base]/Subscription/[id]/$events (Subscriptions Backport)
//
// The two Subscription grants permit their operation on instances; the
// others permit it at type level. An operation grant confers no read,
// search or write permission, and no permission scope confers an
// operation.
//
// # Wildcards
//
// The resource "*" parses only when Options.AllowWildcard is set; a partner
// registration sets it explicitly. The token service parses a client's
// requested scopes with AllowWildcard only when the registration contains a
// wildcard scope, so a client without one cannot even ask for "*". Between
// two parsed sets, Intersect narrows a wildcard to the scopes it overlaps.
//
// # Comparing scopes
//
// Covers and Intersect compare restrictions by the rules Set.Permits
// applies to a search, so a restriction to system|code is within one to
// the bare code. When two scopes restrict one parameter, Intersect keeps
// the value within the other, and grants nothing for the pair when neither
// is within the other.
package scope
