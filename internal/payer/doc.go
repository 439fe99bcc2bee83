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
//     the PAS response Bundle. A request whose patient is not a member
//     (see Membership below) gets 200 with a ClaimResponse whose outcome
//     is "error", X12 reject reason 75, and nothing is recorded.
//   - POST /Claim/$inquire takes a PAS inquiry Bundle and returns 200 with
//     the inquiry response Bundle carrying the current decision, or 404
//     (not-found) when no authorization matches. The 404 is the same
//     whether the identifier is unknown or belongs to someone else.
//   - GET /ClaimResponse searches the partner's current ClaimResponses
//     (claim status) by identifier, patient and created; GET
//     /ClaimResponse/{id} reads any version. See handleSearch.
//   - POST /CoverageEligibilityRequest/$submit takes a
//     CoverageEligibilityRequest and returns a CoverageEligibilityResponse
//     (see Eligibility below).
//   - POST /Patient/$member-match is the Da Vinci HRex member match (see
//     internal/members for the matching rules). A request carrying more
//     than 10 distinct member ids gets 422, and so does one whose Consent
//     is not active, does not permit, names another patient than
//     MemberPatient or has a provision.period that excludes today.
//   - /Subscription, /Subscription/{id}, .../$status and .../$events are
//     the PAS Subscriptions of internal/subscriptions.
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
//  3. A key the same partner bound for another provider or patient: 409
//     conflict. Keys are per partner: another partner's use of the same
//     identifier is a separate authorization and is never revealed.
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
// # Pended items
//
// Every pended item (A4) of the current decision sits in a work queue
// (payer_pended). A revision replaces the authorization's queue. An item
// leaves the queue when it is decided, by Decide: from an operator
// (gatehouse payer decide, or AdminHandlers on the admin listener), or
// from the rule table's pend_then once its delay has passed (DecideDue,
// which Run calls every Options.PollInterval). A decision writes a new
// ClaimResponse version with a new id, the same preAuthRef and review
// numbers, the new review action and the outcome that follows. That
// version becomes current, so $inquire returns it, and the PAS topic
// event for the partner's Subscriptions is queued in the same
// transaction. A resubmission of the original request still replays the
// original response byte for byte (rule 1 above).
//
// # Eligibility
//
// The Da Vinci guides define no eligibility operation for FHIR R4, so the
// service takes the form the FHIR build defines for later versions:
// POST [base]/CoverageEligibilityRequest/$submit with the
// CoverageEligibilityRequest, or a collection Bundle starting with it, as
// the body. The member is matched as $member-match matches it
// (members.Store.Match): a member id (Options.MemberSystem) with the
// family name and birth date of the referenced Patient, or that Patient's
// full demographics. The id is an identifier on the patient reference, on
// the referenced Patient, or the subscriberId or identifier of a
// referenced Coverage. A member id alone matches no one, so that a
// partner cannot learn the coverage of ids it guesses. Referenced
// resources must be contained or in the Bundle. The answer lists each of
// the member's coverages with inforce true when it covers the serviced
// date (servicedDate, servicedPeriod.start, or today in UTC). A request
// that matches no single member of this payer, or carries more than 10
// distinct member ids, gets 422.
//
// # Membership
//
// A $submit's patient must be a member, matched as in eligibility: a
// member id on the Patient entry, or the subscriberId or a member-system
// identifier of a Claim's Coverage, with the Patient's family name and
// birth date, or the Patient's full demographics. A patient that also
// carries another member's id, or more than 10 distinct member ids, is
// not a member. Any other patient gets the AAA 75 rejection, because the
// gateway links the patient and Claim identifiers of every accepted
// submission to the partner. With no member stored, every $submit gets
// that rejection; development mode and the demo store the patients of the
// bundles they send (members.Store.AddRequestPatient).
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
// An optional top-level pend_then decides pended items later, such as
// "pend_then: approve after 30s"; without it an operator decides them.
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
// Migrate creates the payer_* tables, including those of
// internal/subscriptions and internal/members; the SQL is portable to
// PostgreSQL.
package payer
