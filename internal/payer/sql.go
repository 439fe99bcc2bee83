package payer

// All SQL of the payer service lives in this file, written once for SQLite
// and PostgreSQL under the rules of internal/storage. The one exception is
// the list of ClaimResponse search conditions, which search.go composes
// from fixed fragments and placeholders. The statements use only standard
// SQL that both accept: "$n" placeholders, CREATE TABLE IF NOT EXISTS, no
// AUTOINCREMENT, no INSERT OR IGNORE and no ON CONFLICT. Times are RFC 3339
// text in UTC, so they sort as strings.
//
// Tables:
//
//   - payer_authorizations: one row per prior authorization, named by its
//     preAuthRef. current_id names the submission whose decision is
//     current; version increases with every submission, so a concurrent
//     update loses its optimistic check instead of overwriting.
//   - payer_partner_claim_keys: every Claim identifier (system, value)
//     a partner used, bound to the authorization it belongs to. The
//     primary key makes the first binding win under concurrency. The
//     partner is part of the key, so one partner cannot take over another
//     partner's identifiers or learn that they are in use. Databases from
//     before this table had payer_claim_keys, keyed on (system, value)
//     alone; Migrate moves its rows over and drops it.
//   - payer_submissions: every accepted $submit with the response Bundle
//     sent. The unique (claim_system, claim_value, request_hash) makes a
//     concurrent duplicate fail to insert, after which it replays.
//   - payer_item_decisions: the decision for each item of a submission.
//   - payer_pended: the work queue, one row per item whose current
//     decision is pended (A4). due_at and due_action are the rule table's
//     later decision, "" when an operator must decide. A decision deletes
//     the row.
//   - payer_decisions: every later decision on a pended item, with the
//     new response Bundle it produced. Its id is the new ClaimResponse id,
//     and current_id of the authorization may name it.
//   - payer_responses: one row per ClaimResponse version, submissions and
//     decisions alike, for search and read: created is the
//     ClaimResponse.created instant in UTC with second precision
//     (fixed width, so it compares as a string), patient_ref the
//     ClaimResponse.patient reference as written.
//
// Times in payer_pended use the fixed-width layout stampLayout.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS payer_authorizations (
		pre_auth_ref VARCHAR(64)  NOT NULL PRIMARY KEY,
		partner      VARCHAR(255) NOT NULL,
		provider_key TEXT         NOT NULL,
		patient_key  TEXT         NOT NULL,
		current_id   VARCHAR(64)  NOT NULL,
		version      INTEGER      NOT NULL,
		created_at   VARCHAR(40)  NOT NULL,
		updated_at   VARCHAR(40)  NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS payer_partner_claim_keys (
		partner      VARCHAR(255) NOT NULL,
		claim_system TEXT         NOT NULL,
		claim_value  TEXT         NOT NULL,
		pre_auth_ref VARCHAR(64)  NOT NULL REFERENCES payer_authorizations (pre_auth_ref),
		PRIMARY KEY (partner, claim_system, claim_value)
	)`,
	`CREATE INDEX IF NOT EXISTS payer_partner_claim_keys_value ON payer_partner_claim_keys (claim_value)`,
	// The three statements below move the rows of the table that keyed
	// identifiers across partners. On a new database, and on every start
	// after the first, the table they create is empty.
	`CREATE TABLE IF NOT EXISTS payer_claim_keys (
		claim_system TEXT        NOT NULL,
		claim_value  TEXT        NOT NULL,
		pre_auth_ref VARCHAR(64) NOT NULL,
		PRIMARY KEY (claim_system, claim_value)
	)`,
	`INSERT INTO payer_partner_claim_keys (partner, claim_system, claim_value, pre_auth_ref)
		SELECT a.partner, k.claim_system, k.claim_value, k.pre_auth_ref
		FROM payer_claim_keys k JOIN payer_authorizations a ON a.pre_auth_ref = k.pre_auth_ref`,
	`DROP TABLE payer_claim_keys`,
	`CREATE TABLE IF NOT EXISTS payer_submissions (
		id            VARCHAR(64) NOT NULL PRIMARY KEY,
		pre_auth_ref  VARCHAR(64) NOT NULL REFERENCES payer_authorizations (pre_auth_ref),
		claim_system  TEXT        NOT NULL,
		claim_value   TEXT        NOT NULL,
		request_hash  VARCHAR(64) NOT NULL,
		outcome       VARCHAR(16) NOT NULL,
		response_json TEXT        NOT NULL,
		created_at    VARCHAR(40) NOT NULL,
		UNIQUE (claim_system, claim_value, request_hash)
	)`,
	`CREATE TABLE IF NOT EXISTS payer_item_decisions (
		submission_id VARCHAR(64) NOT NULL REFERENCES payer_submissions (id),
		item_sequence INTEGER     NOT NULL,
		code_system   TEXT        NOT NULL,
		code          TEXT        NOT NULL,
		review_action VARCHAR(4)  NOT NULL,
		PRIMARY KEY (submission_id, item_sequence)
	)`,
	`CREATE TABLE IF NOT EXISTS payer_pended (
		pre_auth_ref  VARCHAR(64) NOT NULL REFERENCES payer_authorizations (pre_auth_ref),
		item_sequence INTEGER     NOT NULL,
		code_system   TEXT        NOT NULL,
		code          TEXT        NOT NULL,
		pended_at     VARCHAR(40) NOT NULL,
		due_at        VARCHAR(40) NOT NULL,
		due_action    VARCHAR(4)  NOT NULL,
		PRIMARY KEY (pre_auth_ref, item_sequence)
	)`,
	`CREATE INDEX IF NOT EXISTS payer_pended_due ON payer_pended (due_at)`,
	`CREATE TABLE IF NOT EXISTS payer_decisions (
		id            VARCHAR(64)  NOT NULL PRIMARY KEY,
		pre_auth_ref  VARCHAR(64)  NOT NULL REFERENCES payer_authorizations (pre_auth_ref),
		item_sequence INTEGER      NOT NULL,
		review_action VARCHAR(4)   NOT NULL,
		decided_by    VARCHAR(255) NOT NULL,
		outcome       VARCHAR(16)  NOT NULL,
		response_json TEXT         NOT NULL,
		created_at    VARCHAR(40)  NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS payer_responses (
		id           VARCHAR(64) NOT NULL PRIMARY KEY,
		pre_auth_ref VARCHAR(64) NOT NULL REFERENCES payer_authorizations (pre_auth_ref),
		created      VARCHAR(20) NOT NULL,
		patient_ref  TEXT        NOT NULL
	)`,
}

const (
	sqlSubmissionByHash = `SELECT response_json FROM payer_submissions
		WHERE claim_system = $1 AND claim_value = $2 AND request_hash = $3`

	sqlAuthorizationByClaim = `SELECT a.pre_auth_ref, a.partner, a.provider_key, a.patient_key, a.current_id, a.version
		FROM payer_partner_claim_keys k JOIN payer_authorizations a ON a.pre_auth_ref = k.pre_auth_ref
		WHERE k.partner = $1 AND k.claim_system = $2 AND k.claim_value = $3`

	sqlResponseByID = `SELECT response_json FROM payer_submissions WHERE id = $1
		UNION ALL SELECT response_json FROM payer_decisions WHERE id = $1`

	sqlInsertAuthorization = `INSERT INTO payer_authorizations
		(pre_auth_ref, partner, provider_key, patient_key, current_id, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 1, $6, $6)`

	sqlAdvanceAuthorization = `UPDATE payer_authorizations
		SET current_id = $1, version = version + 1, updated_at = $2
		WHERE pre_auth_ref = $3 AND version = $4`

	sqlClaimKeyOwner = `SELECT pre_auth_ref FROM payer_partner_claim_keys
		WHERE partner = $1 AND claim_system = $2 AND claim_value = $3`

	sqlInsertClaimKey = `INSERT INTO payer_partner_claim_keys (partner, claim_system, claim_value, pre_auth_ref)
		VALUES ($1, $2, $3, $4)`

	sqlInsertSubmission = `INSERT INTO payer_submissions
		(id, pre_auth_ref, claim_system, claim_value, request_hash, outcome, response_json, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

	sqlInsertDecision = `INSERT INTO payer_item_decisions
		(submission_id, item_sequence, code_system, code, review_action)
		VALUES ($1, $2, $3, $4, $5)`

	sqlCountAuthorizations = `SELECT COUNT(*) FROM payer_authorizations`

	sqlInsertResponse = `INSERT INTO payer_responses (id, pre_auth_ref, created, patient_ref) VALUES ($1, $2, $3, $4)`

	sqlPatientRef = `SELECT patient_ref FROM payer_responses WHERE id = $1`

	sqlClearPended = `DELETE FROM payer_pended WHERE pre_auth_ref = $1`

	sqlInsertPended = `INSERT INTO payer_pended
		(pre_auth_ref, item_sequence, code_system, code, pended_at, due_at, due_action)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`

	sqlAuthorizationByRef = `SELECT pre_auth_ref, partner, provider_key, patient_key, current_id, version
		FROM payer_authorizations WHERE pre_auth_ref = $1`

	sqlPendedItem = `SELECT code_system, code FROM payer_pended WHERE pre_auth_ref = $1 AND item_sequence = $2`

	sqlDeletePended = `DELETE FROM payer_pended WHERE pre_auth_ref = $1 AND item_sequence = $2`

	sqlInsertItemDecision = `INSERT INTO payer_decisions
		(id, pre_auth_ref, item_sequence, review_action, decided_by, outcome, response_json, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

	sqlListPended = `SELECT pre_auth_ref, item_sequence, code_system, code, pended_at, due_at, due_action
		FROM payer_pended ORDER BY pended_at, pre_auth_ref, item_sequence LIMIT $1`

	sqlDuePended = `SELECT pre_auth_ref, item_sequence, due_action FROM payer_pended
		WHERE due_at <> '' AND due_at <= $1 ORDER BY due_at, pre_auth_ref, item_sequence LIMIT $2`

	// The operator's lookups span every partner, so one identifier may
	// name several authorizations.
	sqlClaimKeysByValue = `SELECT DISTINCT pre_auth_ref FROM payer_partner_claim_keys WHERE claim_value = $1`

	sqlClaimKeysByIdentifier = `SELECT DISTINCT pre_auth_ref FROM payer_partner_claim_keys
		WHERE claim_system = $1 AND claim_value = $2`

	sqlAuthorizationExists = `SELECT pre_auth_ref FROM payer_authorizations WHERE pre_auth_ref = $1`

	// sqlSearchCurrent starts the ClaimResponse search: the current
	// response of each authorization. search.go appends the conditions,
	// all with placeholders, and the order and limit.
	sqlSearchCurrent = `SELECT r.id, x.response_json FROM payer_authorizations a
		JOIN payer_responses r ON r.id = a.current_id
		JOIN (SELECT id, response_json FROM payer_submissions
		      UNION ALL SELECT id, response_json FROM payer_decisions) x ON x.id = r.id
		WHERE `

	// sqlCountCurrent counts the matches of sqlSearchCurrent's conditions.
	sqlCountCurrent = `SELECT COUNT(*) FROM payer_authorizations a
		JOIN payer_responses r ON r.id = a.current_id
		WHERE `

	sqlReadResponse = `SELECT x.response_json, a.partner FROM payer_responses r
		JOIN payer_authorizations a ON a.pre_auth_ref = r.pre_auth_ref
		JOIN (SELECT id, response_json FROM payer_submissions
		      UNION ALL SELECT id, response_json FROM payer_decisions) x ON x.id = r.id
		WHERE r.id = $1`
)
