// Package loadgen replays Da Vinci PAS prior-authorization requests
// through a gateway at a set rate and concurrency and measures what comes
// back: throughput, latency percentiles, status counts and transport
// errors. `gatehouse load` and bench/compare use it.
//
// # Requests
//
// Three functions produce request Templates:
//
//   - FromSynthea reads a .tgz archive of Synthea patient Bundles and turns
//     every Claim that names an insurance plan into one PAS request Bundle;
//   - Builtin generates requests of the same shape without any input, with
//     item counts, item codes and plans drawn with the frequencies of the
//     Synthea sample (see builtin.go);
//   - FromDir reads PAS request Bundles (*.json) from a directory.
//
// A converted Bundle has five entries, each with a urn:uuid fullUrl and
// the PAS 2.2.1 profile it claims:
//
//	Bundle (collection, profile-pas-request-bundle, identifier <fresh>)
//	  Claim        (profile-claim) use preauthorization, identifier <fresh>,
//	               type institutional or professional, an XHTML narrative
//	               listing the items, one item per Synthea item:
//	               productOrService = the Synthea coding (SNOMED CT or CVX)
//	               and an X12 service type code; category, place of
//	               service, request type HS, certification type I
//	  Patient      (profile-beneficiary) up to two identifiers (no SSN),
//	               official name, gender, birth date, address, phone and
//	               the US Core race, ethnicity and birth sex extensions of
//	               the Synthea Patient
//	  Coverage     (profile-coverage) member id, the plan type from the
//	               Synthea claim (private, medicare, ...), relationship self
//	  Organization (profile-requestor) the provider, NPI RequestorNPI
//	  Organization (profile-insurer) the payer, NPI InsurerNPI
//
// The NPIs are those of development mode's partner and payer, so the
// Bundles pass identity congruence there. The member id is the one the
// built-in payer's member loader (internal/members) assigns to the same
// patient.
//
// Every request sent gets a fresh Bundle.identifier and Claim identifier
// ("<run id>-<sequence>"), so the payer records each as a new
// authorization instead of replaying an earlier response. Templates splice
// the values into the serialized Bundle without parsing it again.
//
// # Schedule
//
// Request i (from 0) may start no earlier than start + i/rate. With a
// positive Rate the load is open loop: a request waits for a free worker
// when all are busy. Its latency is measured from the time it was due, so
// a slow server is not hidden by a client that slowed down with it.
// Requests due before the end that never started are counted as Missed.
// With Rate 0 the load is closed loop: each worker sends its next request
// as soon as the response to the previous one arrives, and latency is
// measured from the actual send. The schedule at MaxRate still applies, so
// the average rate since the start never exceeds MaxRate.
//
// # Percentiles
//
// Percentiles use the nearest-rank method over every successful request:
// the p-th percentile of n sorted latencies is the value at rank
// ceil(p/100 * n).
package loadgen
