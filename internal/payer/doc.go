// Package payer is Gatehouse's built-in payer service: the payer side of
// Da Vinci PAS prior authorization over the embedded database. It is the
// gateway's default upstream, and it never logs request content.
//
// # Endpoints
//
// Handler serves a FHIR base at its root:
//
//   - POST /Claim/$submit takes a PAS request Bundle (see internal/pas),
//     decides every item, records the authorization and returns 200 with
//     the PAS response Bundle.
//   - POST /Claim/$inquire takes a PAS inquiry Bundle and returns 200 with
//     the inquiry response Bundle carrying the current decision, or 404
//     (not-found) when no authorization matches. The 404 is the same
//     whether the identifier is unknown or belongs to someone else.
//   - GET /metadata returns the CapabilityStatement.
//
// Request bodies must be FHIR JSON (415 otherwise), at most
// Options.MaxBodyBytes (413), and pass the strict JSON intake of
// internal/fhirjson (400). A Bundle that is not a valid PAS Bundle of the
// operation's kind gets 400, or 422 when it breaks a business rule. The
// OperationOutcome's expression gives the location, and no error echoes
// identifiers or body text.
//
// # Identity of a submission
//
// The service records, per authorization, the partner (the
// X-Gatehouse-Partner header the gateway sets, "" without the gateway),
// the provider's first identifier and the patient's first identifier. A
// submission is keyed by its first Claim identifier (system|value) and
// by a fingerprint: a SHA-256 over the partner, the Claim, patient,
// provider, insurer and prior Claim identifiers, and each item's
// sequence, codings, certification type and cancellation. Then:
//
//  1. Same key, same fingerprint: a retry. The stored response is
//     returned byte for byte (same ClaimResponse, same preAuthRef) and
//     nothing new is recorded.
//  2. Same key, different fingerprint, same partner, provider and
//     patient: a revision of that authorization, the PAS 2.0.1 update
//     form (HomecareAuthorizationUpdate reuses the original identifier).
//     The items are decided again, the preAuthRef stays, and the new
//     decision becomes current.
//  3. A key bound to another partner, provider or patient: 409 conflict.
//  4. A new key whose Claim.related (relationship prior) names a Claim
//     whose identifier is bound to an authorization of the same partner,
//     provider and patient: an update, the PAS 2.2.1 form. It is handled
//     as a revision, and its own identifier is bound to the same
//     authorization, so $inquire by either identifier finds it. A prior
//     Claim the service does not hold gets 422.
//  5. Otherwise a new authorization with a new preAuthRef.
//
// The identifier alone cannot tell a retry from an update, because the
// PAS 2.0.1 examples send updates under the original identifier; hence
// the fingerprint. Every update is taken as the complete list of items,
// as PAS 2.2.1 requires.
// NOTE: PAS 2.0.1 "differential" updates list only the changed items, so
// the current decision then covers only those items.
//
// Concurrent submissions are safe without check-then-insert. A duplicate
// of the same request fails the unique (key, fingerprint) index, then
// replays. Of two first submissions racing for one identifier, the loser
// finds the identifier bound (or fails its primary key) and is planned
// again as a revision or a conflict. An update racing another loses an
// optimistic version check and is planned again. Each submission gets at
// most three attempts.
//
// # Decisions
//
// An item that is cancelled (infoCancelled, or certification type 3) gets
// X12 306 code C. Any other item is decided by the rule table from its
// productOrService codings; the item's review number is the preAuthRef
// followed by "-" and the item sequence. ClaimResponse.outcome is
// "partial" while any item is pended and "complete" otherwise.
//
// # Rule table
//
// The table is YAML; DefaultRules uses rules.yaml of this package and
// LoadRules reads a user file:
//
//	default: pend            # when nothing below matches
//	systems:
//	  http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets:
//	    default: approve     # any other code of this system
//	    codes:
//	      B4185: deny
//	      "33510": pend
//
// A decision is one of approve (A1), partial (A2), deny (A3), pend (A4),
// modify (A6), contact (CT) or none (NA). For an item, the first coding
// with a code rule decides, else the first coding whose system has a
// default, else the table's default. Decoding is strict: unknown or
// duplicate keys, unknown decisions, empty systems or codes and extra
// YAML documents are errors naming the key path, such as
// systems."http://...".codes."B4185": unknown decision "dny".
//
// # Storage
//
// Migrate creates the payer_* tables; all SQL is in sql.go and is
// portable to PostgreSQL.
package payer
