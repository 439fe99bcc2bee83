// Package ehrsim simulates a provider's EHR on both sides of the link, so
// that the demo, the tests and an integration engineer can exercise a
// gateway in both directions on one machine.
//
// As a client of the gateway the simulator holds its own assertion key,
// client certificate and JWK set. It obtains SMART Backend Services tokens
// (internal/ehrclient) and submits and inquires about prior
// authorizations. It creates a Subscription to the Da Vinci PAS topic,
// filtered on its organisation, and reads $status and $events.
//
// As a server it runs two loopback listeners:
//
//	https://<jwks>/jwks.json            its public keys, server TLS only, for partners[].jwks_url
//	https://<fhir>/oauth2/token         SMART token endpoint for the payer (mutual TLS)
//	https://<fhir>/fhir/$subscription-hook   the rest-hook endpoint (mutual TLS)
//
// A notification is accepted only from the payer: a client certificate
// chained to Options.PayerRoots whose urn:gatehouse:partner: URI SAN names
// Options.PayerClientID, and an access token from the simulator's own
// token endpoint, bound to that certificate (RFC 8705). Anything else is
// rejected with 401 or 403 before the body is read, and counted.
//
// Each notification Bundle must pass strict mode (internal/strict: FHIR R4
// core and the profiles it declares). It must also follow the
// Subscriptions Backport rules for a notification: type history, a
// SubscriptionStatus first, a PAS topic, a known Subscription, and event
// numbers that match the type. Otherwise the simulator returns 422 (404
// for an unknown Subscription) with an OperationOutcome and keeps the
// rejected notification in its state.
//
// The simulator tracks event numbers per Subscription. A number seen
// before is a duplicate, acknowledged because delivery is at least once.
// A number above the highest seen plus one, or a handshake or heartbeat
// counter above the highest seen, opens a gap. Each gap starts a catch-up through
// $events on the gateway, page by page with eventsSinceNumber, which marks
// the fetched events received.
//
// Wait blocks on a condition over the state with the caller's deadline, so
// callers never sleep for a fixed time.
package ehrsim
