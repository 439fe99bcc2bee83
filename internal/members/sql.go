package members

// The SQL of this package, portable to PostgreSQL under the rules of
// internal/payer. Dates are YYYY-MM-DD text, so they compare as strings.
//
// Tables:
//
//   - payer_members: one row per member. family_key and given_key are the
//     match keys (Key) of family and given.
//   - payer_coverages: the member's coverage periods; end_date is "" when
//     the coverage is open-ended.

var schema = []string{
	`CREATE TABLE IF NOT EXISTS payer_members (
		member_id     VARCHAR(16) NOT NULL PRIMARY KEY,
		source_system TEXT        NOT NULL,
		source_value  TEXT        NOT NULL,
		family        TEXT        NOT NULL,
		given         TEXT        NOT NULL,
		family_key    TEXT        NOT NULL,
		given_key     TEXT        NOT NULL,
		birth_date    VARCHAR(10) NOT NULL,
		gender        VARCHAR(16) NOT NULL,
		deceased_date VARCHAR(10) NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS payer_members_demographics ON payer_members (family_key, birth_date)`,
	`CREATE TABLE IF NOT EXISTS payer_coverages (
		id         VARCHAR(40) NOT NULL PRIMARY KEY,
		member_id  VARCHAR(16) NOT NULL REFERENCES payer_members (member_id),
		plan       TEXT        NOT NULL,
		payor      TEXT        NOT NULL,
		start_date VARCHAR(10) NOT NULL,
		end_date   VARCHAR(10) NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS payer_coverages_member ON payer_coverages (member_id)`,
}

const (
	sqlMemberExists = `SELECT COUNT(*) FROM payer_members WHERE member_id = $1`

	sqlInsertMember = `INSERT INTO payer_members
		(member_id, source_system, source_value, family, given, family_key, given_key, birth_date, gender, deceased_date)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

	sqlInsertCoverage = `INSERT INTO payer_coverages (id, member_id, plan, payor, start_date, end_date)
		VALUES ($1, $2, $3, $4, $5, $6)`

	memberColumns = `member_id, source_system, source_value, family, given, birth_date, gender, deceased_date`

	sqlMemberByID = `SELECT ` + memberColumns + ` FROM payer_members WHERE member_id = $1`

	sqlCoveragesOf = `SELECT id, member_id, plan, payor, start_date, end_date FROM payer_coverages
		WHERE member_id = $1 ORDER BY start_date DESC, id`

	sqlCountMembers = `SELECT COUNT(*) FROM payer_members`

	sqlAnyMember = `SELECT EXISTS (SELECT 1 FROM payer_members)`

	sqlMatchByID = `SELECT member_id, family_key, birth_date, gender FROM payer_members WHERE member_id = $1`

	sqlMatchByDemographics = `SELECT member_id FROM payer_members
		WHERE family_key = $1 AND given_key = $2 AND birth_date = $3 AND gender = $4
		ORDER BY member_id LIMIT 2`
)
