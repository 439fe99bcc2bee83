// Package pas reads and writes the Bundles of Da Vinci Prior Authorization
// Support (PAS, versions 2.0.1 and 2.2.1): the $submit request and
// response, and the $inquire request and response. It does no I/O and
// keeps no state; internal/payer stores and decides.
//
// # Requests
//
// ParseRequest and ParseInquiry take a body that has already passed the
// strict JSON intake and accept it only if:
//
//   - it is a Bundle of type collection with an identifier, a timestamp
//     and at least one entry;
//   - every entry has a unique fullUrl and a resource, and no search,
//     request or response part;
//   - the first entry is a Claim whose use is preauthorization (another
//     use is a business-rule error, ErrBusinessRule), with at least one
//     identifier that has system and value, and a type;
//   - Claim.patient, Claim.insurer and Claim.provider resolve to a Patient,
//     an Organization and an Organization, PractitionerRole or Practitioner
//     entry, and the patient and provider carry an identifier;
//   - for $submit, the Claim names at least one Coverage and requests at
//     least one item; each item has a unique positive sequence and a
//     productOrService;
//   - every reference inside the Claim resolves to an entry of the Bundle
//     (or, for "#id", to a contained resource), because PAS requires the
//     request to carry what the Claim points to;
//   - the Bundle does not declare the profiles of the other operation: an
//     inquiry Bundle sent to $submit is rejected, and the reverse.
//
// A reference resolves as FHIR defines for Bundles: equal to an entry's
// fullUrl, or relative ("Patient/123") to the RESTful base of the referring
// entry's fullUrl. Under a urn:uuid fullUrl, a relative reference resolves
// only to the single entry with that type and id.
//
// Every rejection is a *BundleError with a FHIRPath-like location, such as
// "Bundle.entry[0].resource.item[1].sequence", and a reason. Both may be
// returned to the submitter: the reason is fixed text, and the location
// holds only element names and indexes.
//
// A Claim.related element with relationship "prior" (the PAS 2.2.1 update
// form) must point to a Claim in the same Bundle; its identifiers become
// Request.Prior. An item is Cancelled when it carries the infoCancelled
// modifier extension or certification type "3" (Cancel).
//
// # Responses
//
// BuildResponse writes the PAS response Bundle, in the shape of the IG's
// ReferralAuthorizationResponseBundleExample:
//
//	Bundle (type collection, meta.profile profile-pas-response-bundle,
//	        identifier = the request Bundle.identifier, timestamp = created)
//	  entry[0] ClaimResponse (profile-claimresponse)
//	    identifier   = the Claim identifiers
//	    status active, use preauthorization, type = Claim.type
//	    patient, insurer = as in the Claim; requestor = Claim.provider
//	    request      = {identifier <Claim key>}
//	    created, outcome, preAuthRef
//	    item[n]      itemSequence = Claim.item[n].sequence
//	      extension  itemTraceNumber, echoed from the Claim item
//	      adjudication[0]
//	        category submitted
//	        extension reviewAction
//	          number           = the item's authorization number
//	          reviewActionCode = X12 306 code (A1, A2, A3, A4, A6, C, CT, NA)
//	  entry[1..] the Patient, insurer and provider entries of the request
//	             and the entries they reference, copied unchanged
//
// The ClaimResponse's fullUrl shares the Claim's RESTful base, so the
// copied relative references resolve the same way; under a urn:uuid Claim
// it is urn:uuid:<id>. Outcome is "partial" while any item is pended (A4)
// and "complete" otherwise: PAS 2.2.1 restricts ClaimResponse.outcome to
// complete, error and partial, so "queued" is never written.
//
// BuildInquiry writes the $inquire Bundle a submitter sends about an
// earlier request, and BuildInquiryResponse relabels a stored response as
// the inquiry response. ParseResponse reads either response kind, and
// Response.CheckAgainst checks that it answers a given request.
//
// NOTE: PAS 2.2.1 declares the $inquire output as zero or more Bundles,
// which FHIR returns inside a Parameters resource; 2.0.1 declares a single
// Bundle. This package writes the single Bundle.
package pas
