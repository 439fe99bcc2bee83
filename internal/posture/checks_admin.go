package posture

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// volatileDirs are directories whose content does not survive a reboot on
// common Linux systems.
var volatileDirs = []string{"/tmp", "/dev/shm", "/run"}

var adminChecks = []Check{
	{
		ID: "GH-ADM-001", Control: "C5", Severity: High, Mode: ModeConfig,
		Title:       "The admin listener is bound to one internal address, apart from the partner port",
		Rationale:   "The admin listener engages the kill switch and exposes metrics; it belongs on the administrators' network, never on the interface or port partners reach.",
		Remediation: "Set admin.listen to an address on the management network (or 127.0.0.1 behind a bastion), on a port other than the one in listen.",
		config:      checkAdminExposure,
	},
	{
		ID: "GH-ADM-002", Control: "C12", Severity: Medium, Mode: ModeConfig,
		Title:       "The admin listener is enabled, so the kill switch and metrics are reachable",
		Rationale:   "During an incident the security team must cut the link in seconds; without the admin listener the kill switch can only be reached by stopping the process.",
		Remediation: "Set admin.listen to an internal address and issue administrator certificates from the admin CA.",
		config:      checkAdminEnabled,
	},
	{
		ID: "GH-ADM-003", Control: "C3", Severity: Low, Mode: ModeConfig,
		Title:       "Administrators authenticate with a CA separate from partners",
		Rationale:   "With one CA for both, a certificate mistakenly issued from the partner enrolment process could carry an administrator identity. Worse, a partner's own issuing CA in the administrators' bundle (admin.client_ca_file defaults to tls.client_ca_file) lets that partner issue itself administrator certificates.",
		Remediation: "Create a separate CA for administrator certificates and set admin.client_ca_file to it, containing no partner's issuing CA.",
		config:      checkAdminCA,
	},
	{
		ID: "GH-KIL-001", Control: "C12", Severity: Medium, Mode: ModeConfig,
		Title:       "Kill-switch rules engage a cut automatically on alerts",
		Rationale:   "An exfiltration at machine speed outruns a human on call; a rule that cuts a partner to read-only on a volume spike limits the loss.",
		Remediation: "Set alerts.kill_switch: true with at least one alerts.thresholds value or alerts.canary_members entry, so that a high alert cuts its partner; keep the 'gatehouse killswitch engage' command in the incident runbook.",
		config:      checkKillSwitchRules,
	},
}

var logChecks = []Check{
	{
		ID: "GH-LOG-001", Control: "C4", Severity: Medium, Mode: ModeConfig,
		Title:       "Recorded bodies are encrypted to the security team's keys",
		Rationale:   "The exchange record holds full PHI payloads; encrypted to named recipients, a copy of the database or a backup reveals nothing.",
		Remediation: "List the security team's age recipients (public keys), one a line, in the file audit.recipients_file names.",
		config:      checkLogRecipients,
	},
	{
		ID: "GH-LOG-002", Control: "C4", Severity: Medium, Mode: ModeConfig,
		Title:       "Signed checkpoints are cosigned by at least one witness",
		Rationale:   "A witness outside the payer's control cosigns each checkpoint, so an insider who rewrites the log and its checkpoints is still caught.",
		Remediation: "List at least one c2sp.org/tlog-witness outside the payer's control in audit.witnesses (url, key, and ca_file if its certificate is not from a public CA), and add its host to egress.allow.",
		config:      checkWitnesses,
	},
	{
		ID: "GH-LOG-003", Control: "C4", Severity: Low, Mode: ModeConfig,
		Title:       "A retention period is set for recorded bodies",
		Rationale:   "Without retention, PHI in the record is kept forever; with it, old bodies are crypto-shredded while the proofs stay verifiable.",
		Remediation: "Set audit.retention to the period the payer's records policy requires, such as 52560h for six years.",
		config:      checkRetention,
	},
	{
		ID: "GH-LOG-004", Control: "C4", Severity: Medium, Mode: ModeConfig,
		Title:       "The record database is on persistent storage",
		Rationale:   "The exchange record is the evidence in a dispute; a database under /tmp, /dev/shm or /run is lost on reboot.",
		Remediation: "Set database.path to a file on a persistent, backed-up volume, such as /var/lib/gatehouse/gatehouse.db.",
		config:      checkDatabasePath,
	},
	{
		ID: "GH-LOG-005", Control: "C4", Severity: High, Mode: ModeConfig,
		Title:       "A PostgreSQL database on another host is reached over TLS that verifies the server's name",
		Rationale:   "The exchange record and the payer tables hold PHI. With sslmode=disable the connection is plain text, and allow and prefer (the default) fall back to plain text and accept any server certificate. require accepts any server certificate, and verify-ca any certificate from the CA whatever host it names, so an attacker on the network path can pose as the server and read the data.",
		Remediation: "Add sslmode=verify-full to database.url, with sslrootcert set to the file of the database server's CA, or connect through a Unix socket (?host=/var/run/postgresql) or a loopback address on the database host.",
		config:      checkDatabaseTLS,
	},
	{
		ID: "GH-LOG-006", Control: "C4", Severity: Low, Mode: ModeConfig,
		Title:       "The checkpoint file is kept apart from the record database",
		Rationale:   "At start-up the gateway rejects a log that no longer extends the checkpoint in audit.checkpoint_file, so a log rolled back while it was down is not signed over. Without the file there is no such check, and a file in the SQLite database's directory, or in a directory below it, is rolled back with the database by whoever can write there.",
		Remediation: "Set audit.checkpoint_file to a path outside the database's directory and its subdirectories that the database's administrators cannot write, or to a symbolic link, outside them too, to such storage, and copy the file off the machine too.",
		config:      checkCheckpointFile,
	},
	{
		ID: "GH-LOG-007", Control: "C4", Severity: Medium, Mode: ModeConfig,
		Title:       "Retired checkpoint verifier keys are listed correctly in a file only its owner can change",
		Rationale:   "After a rotation of the checkpoint signing key, start-up accepts a checkpoint file signed by any key in audit.retired_verifier_keys_file when a stored handover covers it. Whoever can write the file can add a key of their own. A line that is not a valid verifier key, names another log, or is the current key means the rotation was not recorded as intended.",
		Remediation: "Make the file named by audit.retired_verifier_keys_file writable by its owner only (chmod 644 or 600), and list in it only the old verifier key lines that 'gatehouse audit rotate-signing-key' printed, one a line, oldest first, each named like audit.origin.",
		config:      checkRetiredVerifierKeys,
	},
	{
		ID: "GH-LOG-008", Control: "C4", Severity: Medium, Mode: ModeConfig,
		Title:       "Every witness is independent of the gateway: its own key, an https URL off this host",
		Rationale:   "A witness catches a rewritten log only if the payer cannot forge its cosignature. A witness key that is the log's own checkpoint key, one key shared by two witnesses, or a witness on the gateway host gives cosignatures whoever controls the gateway can make, and a witness outside egress.allow or over plain http cosigns nothing.",
		Remediation: "List in audit.witnesses only witnesses run by another organisation, each with its own key, and never the verifier key of audit.signing_key_file; use https URLs whose hosts egress.allow permits.",
		config:      checkWitnessIndependence,
	},
	{
		ID: "GH-MON-001", Control: "C13", Severity: Medium, Mode: ModeConfig,
		Title:       "Alerts on unusual volume, distinct patients and denial spikes",
		Rationale:   "Bulk extraction with valid credentials looks like normal traffic, only more of it; volume and distinct-patient alerts are how it is noticed.",
		Remediation: "Configure alert rules once the configuration supports them; until then, scrape the admin listener's /metrics and alert on request and denial rates per partner.",
		config:      checkAlertRules,
	},
}

func checkAdminExposure(t *Target) []result {
	c := t.Config
	if c.Admin.Listen == "" {
		return []result{pass("admin.listen", "the admin listener is disabled")}
	}
	if r := exposureProblem("admin.listen", "admin", c.Admin.Listen, c.Listen); r != nil {
		return []result{*r}
	}
	return []result{pass("admin.listen", "the admin listener is bound to %s", c.Admin.Listen)}
}

func checkAdminEnabled(t *Target) []result {
	if t.Config.Admin.Listen == "" {
		return []result{fail("admin", "admin.listen is not set, so the kill switch cannot be engaged and metrics cannot be scraped")}
	}
	return []result{pass("admin.listen", "the admin listener is enabled on %s", t.Config.Admin.Listen)}
}

func checkAdminCA(t *Target) []result {
	c := t.Config
	if c.Admin.Listen == "" {
		return []result{pass("admin", "the admin listener is disabled")}
	}
	adminCA, partnerCA := c.Resolve(c.Admin.ClientCAFile), c.Resolve(c.TLS.ClientCAFile)
	if id, ok := partnerCAInBundle(c, adminCA); ok {
		return []result{failAt(Medium, "admin.client_ca_file",
			"the administrators' CA bundle contains the issuing CA that partner %s registers. If that CA is the partner's own, the partner can issue itself administrator certificates", id)}
	}
	if sameFile(adminCA, partnerCA) {
		return []result{fail("admin.client_ca_file", "administrators and partners share the CA in %s", filepath.Base(partnerCA))}
	}
	return []result{pass("admin.client_ca_file", "administrators have their own CA")}
}

// checkEngineCA applies checkAdminCA's rule to outbound.client_ca_file,
// because an engine certificate sends requests with the payer's outbound
// credentials.
func checkEngineCA(t *Target) []result {
	c := t.Config
	if c.Outbound.Listen == "" {
		return []result{pass("outbound", "the outbound listener is disabled")}
	}
	engineCA, partnerCA := c.Resolve(c.Outbound.ClientCAFile), c.Resolve(c.TLS.ClientCAFile)
	if id, ok := partnerCAInBundle(c, engineCA); ok {
		return []result{failAt(Medium, "outbound.client_ca_file",
			"the engines' CA bundle contains the issuing CA that partner %s registers. If that CA is the partner's own, the partner can issue itself engine certificates and send requests to every partner as the payer", id)}
	}
	if sameFile(engineCA, partnerCA) {
		return []result{fail("outbound.client_ca_file", "the integration engine and partners share the CA in %s", filepath.Base(partnerCA))}
	}
	return []result{pass("outbound.client_ca_file", "the integration engine has its own CA")}
}

// partnerCAInBundle returns a partner whose registered issuing CA, by
// certificate file or by fingerprint, is a certificate of bundle.
func partnerCAInBundle(c *config.File, bundle string) (string, bool) {
	certs, err := pki.LoadCertificates(bundle)
	if err != nil {
		return "", false // GH-TLS-005 reports an unreadable bundle
	}
	inBundle := map[[sha256.Size]byte]bool{}
	for _, cert := range certs {
		inBundle[sha256.Sum256(cert.Raw)] = true
	}
	for _, p := range c.Partners {
		if p.IssuingCA == nil {
			continue
		}
		if fp, err := config.ParseFingerprint(p.IssuingCA.SHA256); err == nil && inBundle[fp] {
			return p.ID, true
		}
		if p.IssuingCA.CertFile == "" {
			continue
		}
		own, err := pki.LoadCertificates(c.Resolve(p.IssuingCA.CertFile))
		if err != nil {
			continue
		}
		for _, cert := range own {
			if inBundle[sha256.Sum256(cert.Raw)] {
				return p.ID, true
			}
		}
	}
	return "", false
}

// maxCABundleBytes bounds the CA bundles sameFile compares. A bundle of a
// few hundred certificates fits.
const maxCABundleBytes = 4 << 20

// sameFile reports whether a and b name the same file or files with the
// same content. A file over maxCABundleBytes, a FIFO or a device compares
// as different, and GH-TLS-005 reports it as an unreadable bundle.
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	da, errA := safefile.ReadCapped(a, maxCABundleBytes)
	db, errB := safefile.ReadCapped(b, maxCABundleBytes)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

func checkKillSwitchRules(t *Target) []result {
	// alerts.kill_switch exists, so its absence is a failure of the
	// configuration, not a key this version lacks.
	if t.settings.killSwitchRules == nil {
		if !t.Config.Alerts.KillSwitch {
			return []result{fail("alerts.kill_switch", "alerts.kill_switch is off, so no alert cuts a partner and only an administrator engages cuts")}
		}
		return []result{fail("alerts.thresholds", "alerts.kill_switch is on, but no alerts.thresholds value or alerts.canary_members entry is set, so no alert is severe enough to cut a partner")}
	}
	return []result{pass("", "%d kill-switch rule(s) are defined", len(t.settings.killSwitchRules))}
}

func checkLogRecipients(t *Target) []result {
	switch r := t.settings.logRecipients; {
	case r == nil:
		return []result{notConfigured("recorded bodies are not encrypted to recipients: this version has no key for audit-log recipients")}
	case len(r) == 0:
		return []result{fail("audit.recipients_file", "the recipients file is missing, unreadable or lists no recipient")}
	default:
		return []result{pass("audit.recipients_file", "recorded bodies are encrypted to %d recipient(s)", len(r))}
	}
}

func checkWitnesses(t *Target) []result {
	if len(t.settings.witnesses) == 0 {
		return []result{fail("audit.witnesses", "no checkpoint witness: whoever holds the log's signing key can rewrite the log unnoticed by anyone without an older checkpoint")}
	}
	return []result{pass("audit.witnesses", "checkpoints are submitted to %d witness(es) for cosigning", len(t.settings.witnesses))}
}

func checkRetention(t *Target) []result {
	switch s := t.settings; {
	case !s.retentionSet:
		return []result{notConfigured("no retention period: this version has no key for it, so recorded bodies are kept until deleted by hand")}
	case s.retention <= 0:
		return []result{fail("audit.retention", "audit.retention is not set, so recorded bodies stay readable forever")}
	default:
		return []result{pass("audit.retention", "recorded bodies become unreadable after %s", duration(s.retention))}
	}
}

func checkDatabasePath(t *Target) []result {
	dialect, p, err := storage.ParseURL(t.Config.DatabaseURL())
	if err == nil && dialect == storage.PostgreSQL {
		return []result{pass("database.url", "the record database is PostgreSQL at %s", storage.Redacted(p))}
	}
	for _, dir := range volatileDirs {
		if strings.HasPrefix(p, dir+"/") {
			return []result{fail("database.path", "the record database %s is under %s", p, dir)}
		}
	}
	return []result{pass("database.path", "the record database is %s", p)}
}

func checkCheckpointFile(t *Target) []result {
	c := t.Config
	if c.Audit.CheckpointFile == "" {
		return []result{fail("audit.checkpoint_file", "audit.checkpoint_file is not set, so the gateway cannot tell a log rolled back while it was down")}
	}
	named := c.Resolve(c.Audit.CheckpointFile)
	path := named
	if target, err := filepath.EvalSymlinks(named); err == nil {
		path = target
	}
	dialect, db, err := storage.ParseURL(c.DatabaseURL())
	if err != nil || dialect != storage.SQLite {
		return []result{pass("audit.checkpoint_file", "the checkpoint file is %s", path)}
	}
	// A user who can write the database's directory can also rename its
	// subdirectories and replace a symbolic link there, so the link and the
	// file it names must both lie outside that directory's tree.
	dbDir := filepath.Dir(db)
	if underDir(filepath.Dir(path), dbDir) {
		return []result{fail("audit.checkpoint_file", "the checkpoint file %s is in the directory of the database %s or below it", path, db)}
	}
	if underDir(filepath.Dir(named), dbDir) {
		return []result{fail("audit.checkpoint_file", "the symbolic link %s is in the directory of the database %s or below it, so whoever writes there can replace it", named, db)}
	}
	return []result{pass("audit.checkpoint_file", "the checkpoint file is %s", path)}
}

// underDir reports whether dir is root or a directory below it.
func underDir(dir, root string) bool {
	for {
		if sameDir(dir, root) {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// sameDir reports whether a and b name one directory.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

func checkAlertRules(t *Target) []result {
	if t.settings.alertRules == nil {
		return []result{notConfigured("no volume or anomaly alerts: this version exports metrics but defines no alert rules")}
	}
	if len(t.settings.alertRules) == 0 {
		return []result{fail("alerts", "alerts.baselines.enabled is false and no alerts.thresholds value or alerts.canary_members entry is set, so no alert can be raised")}
	}
	return []result{pass("", "%d alert rule(s) are defined", len(t.settings.alertRules))}
}
