// Package alerts raises anomaly alerts on the exchanges of each partner:
// unusual volume, many distinct patients, large amounts of data sent, spikes
// of denials or of strict-mode validation failures, and any appearance of a
// canary member.
//
// # Metrics
//
// Each partner has five metrics, each counted over a sliding window
// (Options.Window, 5 minutes by default):
//
//	requests             completed exchanges with the partner, either direction
//	patients             distinct patients or members named by allowed exchanges
//	bytes_out            body bytes sent to the partner: inbound response bodies
//	                     and outbound request bodies
//	denials              refused exchanges
//	validation_failures  refusals by strict mode (rule ids starting "strict.")
//
// A patient is named by a Patient/{id} interaction, by the patient,
// subject (with a Patient reference), beneficiary, or Patient _id and
// identifier search parameters, and by Claim.patient of a Da Vinci PAS
// $submit or $inquire Bundle (the first identifier of the Patient entry it
// references). Each such name is hashed with HMAC-SHA-256 under a random
// per-process key before it is counted, so the monitor never keeps a raw
// identifier, and a hash cannot be compared across processes or restarts.
// A logical id and an identifier of the same patient count as two
// patients, so the count is an upper bound.
//
// # Rules
//
// A threshold rule (threshold.METRIC, severity high) fires when a metric's
// sliding count exceeds its configured ceiling.
//
// A baseline rule (baseline.METRIC, severity medium) fires when the sliding
// count exceeds mean + k·σ of the partner's own history. The mean and the
// variance are exponentially weighted moving averages, updated once per
// tumbling window of the same length, after a warm-up number of windows.
// σ is taken as at least one tenth of the mean and at least 1, so that a
// perfectly steady partner does not alert on a single extra request.
// A window's total is clamped to the alert limit before it is learned, so
// an attack slows the baseline's drift but does not teach it the attack.
// Partners with fewer than Baselines.MinRequests requests in the sliding
// window raise no baseline alert.
//
// A canary rule (canary, severity high) fires when an identifier listed in
// Options.CanaryMembers appears in a request or response of any exchange:
// in a search parameter value (system|value, or the value alone) or in a
// JSON body as an object with that system and value, or as a string in
// token form.
//
// The monitor.overload rule (severity medium) fires when payload
// inspections had to be skipped because the inspection queue was full, so
// that a flood cannot hide a canary or a patient count silently.
//
// # Alert lifecycle
//
// An alert is identified by its partner, rule and, for canaries, the canary
// index. While it is active, new detections of the same alert update its
// count, last-seen time and peak value but are not announced again. It
// stops being active one window after its last detection. A new alert is
// logged (without PHI: ids, rule, metric, numbers), counted in the
// gatehouse_alerts_total metric, posted to the webhook when one is
// configured, and, when it is high severity and Options.EngageCut is set,
// handed to EngageCut to cut the partner off.
package alerts
