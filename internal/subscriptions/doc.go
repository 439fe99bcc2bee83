// Package subscriptions implements topic-based Subscriptions as Da Vinci
// PAS uses them, in the shape of the FHIR Subscriptions R5 Backport IG for
// R4 (STU 1.1). A partner subscribes to the PAS topic, and the payer sends
// a notification each time a pended prior authorization gets a result.
// It stores everything in payer_* tables and never logs request content.
//
// # Creating a Subscription
//
// A partner POSTs a Subscription to [base]/Subscription. It is accepted
// (201, Location Subscription/<id>) only if:
//
//   - status is requested and reason is present;
//   - criteria is the PAS topic, TopicPAS, with or without a "|version";
//   - each backport-filter-criteria extension on _criteria reads
//     "org-identifier=VALUE" (also "orgIdentifier=" and the PAS 2.0.1
//     "identifier="), where VALUE is "system|value" or a bare value. When
//     Options.Partners registers the partner's organisation, VALUE must
//     name it;
//   - channel.type is rest-hook and channel.endpoint an https URL naming
//     a system-level operation of the partner's FHIR base
//     (Partner.FHIRBase), such as <base>/$subscription-hook, because
//     notifications leave through the gateway's outbound path, which
//     forwards FHIR interactions on that base only;
//   - channel.payload is FHIR JSON when given; the backport-payload-content
//     extension on _payload is empty, id-only or full-resource (id-only
//     when absent, empty when there is no payload);
//   - channel.header is absent: the gateway sets the credentials;
//   - the backport-heartbeat-period extension on channel, when given, is
//     between 60 and 86400 seconds, because each heartbeat is an
//     outbound exchange with its own record entry;
//   - end, when given, is in the future. Once it passes, the Subscription
//     gets no new events or heartbeats and no longer counts against the
//     limit below, and the sender turns it off;
//   - the partner holds fewer than Options.MaxPerPartner live
//     Subscriptions (status other than off, end not passed), because each
//     one adds notifications and heartbeats to the outbound path and the
//     exchange record.
//
// The service stores its own rendering of the Subscription with status
// "requested" and queues a handshake. The first successful delivery makes
// it "active". Three failed attempts in a row make it "error" until a
// delivery succeeds again. DELETE sets "off" and drops undelivered
// notifications, and so does the sender once end has passed. Every
// Subscription belongs to the partner that created it (the
// X-Gatehouse-Partner header); another partner gets 404.
// A Subscription that is off stays readable for Options.Retention
// (default 30 days) after it was turned off. Then the sender deletes it
// with its stored events, and a read gets 404.
//
// # Events and notifications
//
// Publish runs inside the caller's database transaction, so an event
// exists exactly when the decision it reports is committed. Each matching
// Subscription numbers the event (events-since-subscription-start plus
// one) and queues an event-notification. A notification is a Bundle of
// type history whose first entry is a SubscriptionStatus Parameters
// resource:
//
//	Bundle (type history, profile backport-subscription-notification-r4)
//	  entry[0] Parameters (profile backport-subscription-status-r4)
//	    subscription  = <FHIRBase>/Subscription/<id>
//	    topic         = TopicPAS
//	    status        = requested | active | error
//	    type          = handshake | heartbeat | event-notification
//	    events-since-subscription-start = "<n>"
//	    notification-event (event notifications only)
//	      event-number = "<n>", timestamp, focus, additional-context
//	  entry[1..] the ClaimResponse (focus), then, for full-resource, the
//	             Patient, insurer and requestor it references
//
// With id-only, the focus entry has a fullUrl of
// <FHIRBase>/ClaimResponse/<id> and no resource. With empty, the Bundle has
// the status entry alone.
//
// # Delivery
//
// Run delivers the queue: one notification at a time per Subscription, in
// queue order, each retried until the endpoint returns 2xx, with the wait
// doubling from Delivery.MinBackoff up to Delivery.MaxBackoff. The queue is
// in the database, so a restart loses nothing, and the same event may
// arrive twice (at least once). A start makes failed notifications that
// wait past the claim lease due at once, because a restart is usually an
// operator's fix, and keeps their attempt counts for the backoff. A round reads at most headsPerRound due
// notifications and takes every partner's first one before any partner's
// second, so one partner's stalled Subscriptions cannot fill it. A partner
// detects duplicates and gaps by
// event-number and fetches missed events with
// GET [base]/Subscription/<id>/$events?eventsSinceNumber=N&eventsUntilNumber=M
// (at most Options.EventsPerQuery per call, then again from the next
// number), or checks the counter with
// GET [base]/Subscription/<id>/$status. Heartbeats are queued only when
// nothing else waits, so a dead endpoint does not pile them up.
//
// Each notification is an HTTP client request to the gateway's outbound
// listener, POST <OutboundURL>/partners/<partner>/fhir/<path>, where
// <path> is the endpoint relative to the partner's FHIR base. The gateway
// then applies its outbound pipeline (engine certificate, allowlist,
// record, kill switch) and forwards with the payer's credentials.
package subscriptions
