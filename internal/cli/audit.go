package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

const auditUsage = `Usage:
    gatehouse audit verify [--data DIR | --config FILE | --database FILE|URL] [--key FILE]... [--from-checkpoint FILE] [--no-checkpoint-file] [--write-checkpoint FILE] [--retention DURATION] [--witness VKEY]...
    gatehouse audit show [--exchange ID] [--partner P] [--since T] [--status N] [--decision D] [--interaction I] [--identity FILE [--write-bodies DIR]] [--limit N] [--newest]
    gatehouse audit export [--format ndjson|auditevent|cef] [filters of show]
    gatehouse audit prove INDEX
    gatehouse audit check-proof FILE [--key FILE... | --data DIR] [--leaf HASH] [--witness VKEY] [--request-body FILE] [--response-body FILE]
    gatehouse audit keygen --origin NAME [--out DIR]
    gatehouse audit rotate-signing-key --config FILE --new-key FILE

Every command but keygen reads the log in DIR/gatehouse.db (default DIR ./gatehouse-data),
or in --database, a SQLite FILE or a database URL as in database.url of the
configuration (postgres://user@host/database; give the password in
PGPASSWORD, not on the command line). The checkpoint verifier key defaults to
DIR/audit/checkpoint.vkey; with --database, pass --key. After a rotation
of the signing key, give --key once per key, oldest first; with --config,
the keys of audit.retired_verifier_keys_file come first. Verify also
checks that the log extends the checkpoint in audit.checkpoint_file of
--config, or DIR/audit/checkpoint.txt of --data, and exits 1 when that
file is missing or empty but the log has entries.

Examples:
    # Check the whole log; exit 0 intact, 1 tampered, 2 on errors.
    $ gatehouse audit verify --data ./gatehouse-data

    # Check only what was added since a checkpoint saved by the last run.
    $ gatehouse audit verify --from-checkpoint last.cp --write-checkpoint last.cp

    # Read yesterday's refusals for one partner, bodies decrypted.
    $ gatehouse audit show --partner demo-ehr --since 24h --decision deny \
        --identity ./gatehouse-data/audit/identity.txt

    # List the latest kill-switch engagements and releases, newest first.
    $ gatehouse audit show --interaction killswitch.engage --interaction killswitch.release --newest --limit 10

    # Create the checkpoint key of a deployment with a configuration file.
    $ gatehouse audit keygen --origin gatehouse.payer.example/audit --out /etc/gatehouse

    # Replace the checkpoint signing key, with every gateway stopped.
    $ gatehouse audit keygen --origin gatehouse.payer.example/audit --out /etc/gatehouse/new-key
    $ gatehouse audit rotate-signing-key --config /etc/gatehouse/gatehouse.yaml --new-key /etc/gatehouse/new-key/checkpoint.key

    # Give a third party an offline proof that entry 42 is in the log with
    # the request body it holds; exit 0 valid, 1 a mismatch, 2 on errors.
    $ gatehouse audit show --exchange EXCHANGE-ID --identity identity.txt --write-bodies bodies
    $ gatehouse audit prove 42 > entry-42.proof
    $ gatehouse audit check-proof entry-42.proof --key checkpoint.vkey --request-body bodies/entry-42-request.body
`

var auditGroup = &commandGroup{
	name:  "audit",
	usage: auditUsage,
	commands: map[string]command{
		"verify":             {run: (*env).auditVerify},
		"show":               {run: (*env).auditShow},
		"export":             {run: (*env).auditExport},
		"prove":              {run: (*env).auditProve},
		"check-proof":        {run: (*env).auditCheckProof},
		"keygen":             {run: (*env).auditKeygen},
		"rotate-signing-key": {run: (*env).auditRotateSigningKey},
	},
}

// auditSource is the --data / --database / --config / --key option group.
type auditSource struct {
	data, database, config *string
	keys                   *fileList    // --key, oldest key first
	cfg                    *config.File // --config, once loaded
}

// fileList is a flag that may be given several times.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(v string) error { *l = append(*l, v); return nil }

func auditSourceFlags(fs *flag.FlagSet) *auditSource {
	return &auditSource{
		data:     fs.String("data", "", "development data `DIR` containing gatehouse.db and audit/; default ./"+devmode.DefaultDir),
		database: fs.String("database", "", "database `FILE` or URL containing the audit log, instead of --data"),
		config:   fs.String("config", "", "the gateway's configuration `FILE`, whose database holds the log and beside whose audit.signing_key_file 'audit keygen' wrote checkpoint.vkey"),
		keys:     keyFlag(fs),
	}
}

// keyFlag defines the repeatable --key flag.
func keyFlag(fs *flag.FlagSet) *fileList {
	keys := new(fileList)
	fs.Var(keys, "key", "checkpoint verifier key `FILE` (name+hash+key); default DIR/audit/checkpoint.vkey, or checkpoint.vkey beside the configuration's signing key. After a rotation of the signing key, give it once per key, oldest first")
	return keys
}

// loadAuditSource checks that the source is named once and loads --config.
func (e *env) loadAuditSource(s *auditSource) bool {
	named := 0
	for _, v := range []string{*s.data, *s.database, *s.config} {
		if v != "" {
			named++
		}
	}
	if named > 1 {
		e.errorf("--data, --database and --config are mutually exclusive")
		e.hint("name the log once: --config FILE for a deployment, --data DIR for development mode, or --database FILE|URL with --key")
		return false
	}
	if *s.config == "" || s.cfg != nil {
		return true
	}
	cfg, err := config.Load(*s.config)
	if e.printConfigNotFound(err, *s.config, "pass --database FILE|URL and --key FILE") {
		return false
	}
	if err != nil {
		e.errorf("%v", err)
		return false
	}
	s.cfg = cfg
	return true
}

func (s *auditSource) dataDir() string {
	if *s.data != "" {
		return *s.data
	}
	return "./" + devmode.DefaultDir
}

// openAudit opens the database read-side. It never creates a SQLite file.
func (e *env) openAudit(s *auditSource) (*storage.DB, *auditlog.Reader, bool) {
	if !e.loadAuditSource(s) {
		return nil, nil, false
	}
	target := *s.database
	switch {
	case s.cfg != nil:
		target = s.cfg.DatabaseURL()
	case target == "":
		target = filepath.Join(s.dataDir(), "gatehouse.db")
	}
	dialect, path, err := storage.ParseURL(target)
	if err != nil {
		e.errorf("--database: %v", err)
		return nil, nil, false
	}
	if dialect == storage.SQLite {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			e.errorf("audit log database %s not found", path)
			e.hint("pass --config FILE of a deployment, --data DIR of a gateway that has run, or --database FILE|URL")
			return nil, nil, false
		} else if err != nil {
			e.errorf("audit log database: %v", err)
			e.hint("pass --config FILE of a deployment, --data DIR of a gateway that has run, or --database FILE|URL")
			return nil, nil, false
		}
	}
	db, err := storage.Open(e.ctx, target)
	if err != nil {
		e.errorf("%v", err)
		return nil, nil, false
	}
	r, err := auditlog.NewReader(e.ctx, db)
	if err != nil {
		db.Close()
		e.errorf("%s: %v", db.Target, err)
		return nil, nil, false
	}
	return db, r, true
}

// checkVerifyFiles lists, in one run, each file of --config that verify
// reads and cannot use: the database, the retired verifier keys and,
// without --key, the verifier key beside audit.signing_key_file.
func (e *env) checkVerifyFiles(s *auditSource) bool {
	if !e.loadAuditSource(s) {
		return false
	}
	if s.cfg == nil {
		return true
	}
	var extra []string
	if len(*s.keys) == 0 {
		signingKey := s.cfg.Resolve(s.cfg.Audit.SigningKeyFile)
		if _, ok := verifierBeside(signingKey); !ok {
			extra = append(extra, "no verifier key beside audit.signing_key_file "+signingKey+": pass --key with the checkpoint.vkey that 'gatehouse audit keygen' wrote with the signing key")
		}
	}
	return e.checkOperatorFiles(s.cfg, *s.config, true, extra, "database", "audit.retired_verifier_keys_file")
}

// logKeys loads the checkpoint verifier keys, oldest first: the --key
// files, or the keys of the configuration (audit.retired_verifier_keys_file,
// then checkpoint.vkey beside audit.signing_key_file), or the development
// key.
func (e *env) logKeys(s *auditSource) ([]note.Verifier, bool) {
	if !e.loadAuditSource(s) {
		return nil, false
	}
	if len(*s.keys) > 0 {
		return e.loadVerifierFiles(*s.keys)
	}
	if s.cfg != nil {
		signingKey := s.cfg.Resolve(s.cfg.Audit.SigningKeyFile)
		path, ok := verifierBeside(signingKey)
		if !ok {
			e.errorf("no verifier key beside audit.signing_key_file %s", signingKey)
			e.hint("pass --key with the checkpoint.vkey that 'gatehouse audit keygen' wrote with the signing key")
			return nil, false
		}
		retired, ok := e.retiredKeys(s.cfg)
		if !ok {
			return nil, false
		}
		current, ok := e.loadVerifierFiles([]string{path})
		if !ok {
			return nil, false
		}
		return append(retired, current...), true
	}
	if *s.database != "" {
		e.errorf("--key is required with --database")
		e.hint("pass --key with the checkpoint.vkey that 'gatehouse audit keygen' wrote beside the gateway's audit.signing_key_file")
		return nil, false
	}
	dir := s.dataDir()
	if _, err := os.Stat(dir); err != nil {
		e.errorf("%s is not a development data directory: the directory does not exist", dir)
		e.hint("no development data in %s: pass --config FILE of a deployment, --data DIR of a development gateway, or --database FILE|URL with --key FILE", dir)
		return nil, false
	}
	path := auditlog.DevKeyPaths(dir).VerifierFile
	v, err := auditlog.LoadVerifier(path)
	if err != nil {
		e.errorf("%v", err)
		e.hint("keep the verifier key where the database's administrators cannot change it, and pass it with --key")
		return nil, false
	}
	return []note.Verifier{v}, true
}

// retiredKeys loads the keys of audit.retired_verifier_keys_file, or
// returns nil when the option is not set.
func (e *env) retiredKeys(cfg *config.File) ([]note.Verifier, bool) {
	f := cfg.Audit.RetiredVerifierKeysFile
	if f == "" {
		return nil, true
	}
	keys, err := auditlog.LoadVerifiers(cfg.Resolve(f))
	if err != nil {
		e.errorf("audit.retired_verifier_keys_file: %v", err)
		return nil, false
	}
	return keys, true
}

// loadVerifierFiles loads one verifier key from each of paths.
func (e *env) loadVerifierFiles(paths []string) ([]note.Verifier, bool) {
	keys := make([]note.Verifier, 0, len(paths))
	for _, path := range paths {
		v, err := auditlog.LoadVerifier(path)
		if err != nil {
			e.errorf("%v", err)
			e.hint("keep the verifier key where the database's administrators cannot change it, and pass it with --key")
			return nil, false
		}
		keys = append(keys, v)
	}
	return keys, true
}

const verifySynopsis = "gatehouse audit verify [--data DIR | --config FILE | --database FILE|URL] [--key FILE]... [--from-checkpoint FILE] [--no-checkpoint-file] [--write-checkpoint FILE] [--retention DURATION] [--witness VKEY]..."

// auditVerify exits 0 when the log is intact, 1 when it was tampered with
// and 2 when it cannot be checked.
func (e *env) auditVerify(args []string) int {
	fs := e.flags("audit verify")
	src := auditSourceFlags(fs)
	from := fs.String("from-checkpoint", "", "trusted signed checkpoint `FILE`: check only entries after it, and that the log extends it")
	save := fs.String("write-checkpoint", "", "write the latest verified checkpoint to `FILE`, for the next --from-checkpoint")
	noFile := fs.Bool("no-checkpoint-file", false, "do not check the log against audit.checkpoint_file (DIR/audit/checkpoint.txt with --data), which verify otherwise requires when the log has entries")
	retention := fs.Duration("retention", 0, "the deployment's audit.retention `DURATION`: report entries shredded sooner after recording; default audit.retention of --config")
	witnessKeys := new(fileList)
	fs.Var(witnessKeys, "witness", "witness cosignature verifier key `VKEY` (name+hash+key): count the checkpoints it cosigned and exit 1 when it cosigned none. Repeatable. With --config and no --witness, the keys of audit.witnesses are counted and a witness without cosignatures is a warning")
	if code, ok := e.parse(fs, verifySynopsis, args); !ok {
		return code
	}
	if *retention != 0 && *retention < auditlog.MinRetention {
		e.errorf("invalid --retention %s: it must be at least %s", *retention, auditlog.MinRetention)
		e.hint("give the audit.retention of the configuration, in hours, such as 2160h for 90 days")
		return 2
	}
	if !e.checkVerifyFiles(src) {
		return 2
	}
	keys, ok := e.logKeys(src)
	if !ok {
		return 2
	}
	db, _, ok := e.openAudit(src)
	if !ok {
		return 2
	}
	defer db.Close()

	last := len(keys) - 1
	opts := auditlog.VerifyOptions{LogKey: keys[last], RetiredKeys: keys[:last], Progress: e.verifyProgress(), Retention: *retention}
	// Without the configured period, an entry whose bodies were destroyed
	// a day after recording would pass in a deployment that keeps bodies
	// for years.
	if *retention == 0 && src.cfg != nil && src.cfg.Audit.Retention > 0 {
		opts.Retention = src.cfg.Audit.Retention
		fmt.Fprintf(e.stdout, "checking that no entry was shredded sooner than audit.retention %s after it was recorded; --retention overrides this\n", opts.Retention)
	}
	if opts.Witnesses, ok = e.witnessVerifiers(*witnessKeys, src); !ok {
		return 2
	}
	if *from != "" {
		data, err := safefile.ReadCapped(*from, auditlog.MaxCheckpointBytes)
		if err != nil {
			e.errorf("--from-checkpoint: %v", err)
			if errors.Is(err, os.ErrNotExist) {
				e.hint("on the first run, leave out --from-checkpoint: --write-checkpoint %s saves the checkpoint that later runs start from", *from)
			}
			return 2
		}
		opts.Trusted = data
	}
	var file checkpointFile
	if !*noFile {
		if file, ok = e.readCheckpointFile(src); !ok {
			return 2
		}
		opts.Anchor = file.data
	}
	rep, err := auditlog.Verify(e.ctx, db, opts)
	// The gateway writes the file after it commits its first checkpoint,
	// so a file written since the first read may cover the snapshot. Read
	// it again and verify once more against it. A file that is still
	// missing or empty would only repeat the whole run.
	if err == nil && file.data == nil && file.path != "" && rep.Latest != nil && fileHasData(file.path) {
		if file, ok = e.readCheckpointFile(src); !ok {
			return 2
		}
		opts.Anchor = file.data
		rep, err = auditlog.Verify(e.ctx, db, opts)
	}
	if err != nil {
		e.errorf("%v", err)
		return 2
	}
	if !rep.Intact() {
		e.reportTampered(rep)
		if len(*src.keys) == 1 {
			e.hint("if the checkpoint signing key was rotated, give every verifier key the log used, oldest first: --key OLD.vkey --key NEW.vkey")
		}
		return 1
	}
	if file.path != "" && file.data == nil && (rep.Size > 0 || opts.Trusted != nil) {
		e.reportNoCheckpointFile(file, rep)
		return 1
	}
	e.reportIntact(rep)
	if !e.reportWitnessed(rep, len(*witnessKeys) > 0) {
		return 1
	}
	if *save != "" {
		return e.saveCheckpoint(*save, rep.Latest)
	}
	return 0
}

// saveCheckpoint writes the latest verified checkpoint for the next
// --from-checkpoint run and prints where. With no checkpoint yet it writes
// nothing and warns, so that a scheduled run does not keep an old file
// unnoticed.
func (e *env) saveCheckpoint(path string, latest *auditlog.SignedCheckpoint) int {
	if latest == nil {
		e.warnf("--write-checkpoint: %s not written, because the log has no signed checkpoint yet", path)
		e.hint("a running gateway signs one every audit.checkpoint_interval and when it stops; run verify again after that")
		return 0
	}
	if err := safefile.WriteAtomic(path, latest.Note, 0o644); err != nil {
		e.errorf("%v", err)
		return 2
	}
	fmt.Fprintf(e.stdout, "checkpoint of size %d written to %s\n", latest.Size, path)
	return 0
}

// witnessVerifiers parses the --witness keys, or takes the keys of
// audit.witnesses when --config is given and no --witness is.
func (e *env) witnessVerifiers(flagKeys []string, src *auditSource) ([]note.Verifier, bool) {
	keys, from := flagKeys, "--witness"
	if len(keys) == 0 && src.cfg != nil {
		for _, w := range src.cfg.Audit.Witnesses {
			keys = append(keys, strings.TrimSpace(w.Key))
		}
		from = "audit.witnesses"
	}
	var out []note.Verifier
	for i, k := range keys {
		v, err := auditlog.NewCosignatureVerifier(k)
		if err != nil {
			e.errorf("%s[%d]: %v", from, i, err)
			e.hint("give the witness's cosignature verifier key as its operator publishes it: name+hash+base64 key")
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// reportWitnessed prints what each witness cosigned. A witness that
// cosigned no checkpoint leaves the log without evidence outside the
// payer's control: it returns false when required (--witness given), and
// only warns for the witnesses of --config, which may not be reachable
// from where verify runs.
func (e *env) reportWitnessed(rep *auditlog.Report, required bool) bool {
	ok := true
	for _, w := range rep.Witnessed {
		if w.Checkpoints == 0 && required {
			e.errorf("witness %s cosigned no checkpoint of this log", w.Name)
			e.hint("check that the gateway lists the witness in audit.witnesses and that its log shows no 'checkpoint not published' for it")
			ok = false
			continue
		}
		if w.Checkpoints == 0 {
			e.warnf("witness %s of audit.witnesses cosigned no checkpoint of this log", w.Name)
			e.hint("check the gateway's log for 'checkpoint not published'; pass --witness VKEY to make this an error")
			continue
		}
		fmt.Fprintf(e.stdout, "witness %s cosigned %s, up to %s\n", w.Name,
			plural(int64(w.Checkpoints), "checkpoint", "checkpoints"), plural(w.Size, "entry", "entries"))
	}
	return ok
}

// checkpointFile returns the gateway's checkpoint file for the source:
// audit.checkpoint_file of --config, the development layout's file of
// --data or the default data directory, and "" for --database.
func (s *auditSource) checkpointFile() string {
	switch {
	case s.cfg != nil && s.cfg.Audit.CheckpointFile != "":
		return s.cfg.Resolve(s.cfg.Audit.CheckpointFile)
	case s.cfg != nil || *s.database != "":
		return ""
	}
	return auditlog.DevKeyPaths(s.dataDir()).CheckpointFile
}

// checkpointFile is the gateway's checkpoint file as verify read it.
type checkpointFile struct {
	path  string // "" when the source names no checkpoint file
	data  []byte // nil when the file is missing or empty
	empty bool   // true when the file exists but has no bytes
}

// readCheckpointFile reads the source's checkpoint file, the gateway's
// copy of its latest checkpoint, and prints its path on stdout when it
// has one. A missing or empty file is no error here, because whether one
// is acceptable depends on the log (reportNoCheckpointFile). It runs
// before Verify takes its snapshot, and the gateway commits a checkpoint
// before it writes the file, so a running gateway's file is never ahead
// of the snapshot.
func (e *env) readCheckpointFile(s *auditSource) (checkpointFile, bool) {
	file := checkpointFile{path: s.checkpointFile()}
	if file.path == "" {
		return file, true
	}
	data, err := safefile.ReadCapped(file.path, auditlog.MaxCheckpointBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return file, true
	case err != nil:
		e.errorf("audit.checkpoint_file: %v", err)
		e.hint("fix the file's permissions, or pass --no-checkpoint-file to verify without it")
		return file, false
	case len(data) == 0:
		file.empty = true
		return file, true
	}
	file.data = data
	fmt.Fprintf(e.stdout, "checking that the log extends the checkpoint in %s (audit.checkpoint_file); --no-checkpoint-file skips this\n", file.path)
	return file, true
}

// reportNoCheckpointFile reports a log with entries whose checkpoint file
// is missing or empty. The gateway writes every checkpoint it signs to
// that file, and a tail of entries deleted together with its stored
// checkpoints leaves a log that verifies, so without the file nothing
// on this machine shows such a truncation.
func (e *env) reportNoCheckpointFile(file checkpointFile, rep *auditlog.Report) {
	state := "is missing"
	if file.empty {
		state = "is empty"
	}
	if rep.Latest != nil {
		e.errorf("audit.checkpoint_file %s %s, but the log has signed checkpoints up to size %d. The gateway writes each of them to that file, so the file was deleted or emptied, and a tail of entries removed together with its checkpoints cannot be detected",
			file.path, state, rep.Latest.Size)
		e.hint("restore the file from a copy kept elsewhere, or pass --from-checkpoint with a checkpoint kept outside this machine, such as an earlier --write-checkpoint or a witness's latest cosigned checkpoint")
		e.hint("if audit.checkpoint_file was set only after the gateway signed these checkpoints, its next checkpoint writes the file, and --no-checkpoint-file verifies without it until then")
		return
	}
	e.errorf("audit.checkpoint_file %s %s and no signed checkpoint covers any of the %d entries. Either no gateway has signed its first checkpoint yet, or the checkpoints and the file were deleted",
		file.path, state, rep.Size)
	e.hint("a running gateway signs a checkpoint every audit.checkpoint_interval and when it stops, and writes it to the file, so run verify again after that, or pass --no-checkpoint-file to verify the log without the file")
}

// fileHasData reports whether path names a file with at least one byte.
// The gateway replaces its checkpoint file by a rename, so the file is
// never empty while the gateway writes it.
func fileHasData(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Size() > 0
}

// verifyProgress prints progress on stderr for logs of 100,000 entries or
// more, at most every two seconds.
func (e *env) verifyProgress() func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if total < 100000 || time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(e.stderr, "gatehouse: verified %d of %d entries (%d%%)\n", done, total, done*100/total)
	}
}

func (e *env) reportTampered(rep *auditlog.Report) {
	e.errorf("audit log %s was tampered with: %s", rep.Origin, rep.Problems[0])
	for _, p := range rep.Problems[1:] {
		fmt.Fprintf(e.stderr, "gatehouse: also: %s\n", p)
	}
	e.hint("compare with checkpoints kept outside this machine (checkpoint file, log stream, witnesses) to find the last good state")
}

func (e *env) reportIntact(rep *auditlog.Report) {
	fmt.Fprintf(e.stdout, "audit log %s intact: %s, %s", rep.Origin, plural(rep.Size, "entry", "entries"), plural(int64(rep.Checkpoints), "signed checkpoint", "signed checkpoints"))
	if rep.From > 0 {
		fmt.Fprintf(e.stdout, ", entries from %d recomputed", rep.From)
	}
	fmt.Fprintln(e.stdout)
	if rep.Uncovered > 0 {
		if rep.Uncovered == 1 {
			fmt.Fprintln(e.stdout, "the newest entry is not yet covered by a checkpoint")
		} else {
			fmt.Fprintf(e.stdout, "%d newest entries are not yet covered by a checkpoint\n", rep.Uncovered)
		}
	}
	// A running gateway signs a checkpoint soon after each
	// audit.checkpoint_interval and on close, so a log with entries and no
	// checkpoint is new, stopped before signing, or lost its checkpoints.
	// Without one, anyone who can write the database can rewrite every
	// entry and recompute the stored hashes.
	if rep.Latest == nil && rep.Size > 0 {
		e.warnf("no signed checkpoint covers any of the %d entries, so this run cannot detect a rewrite of them or deleted checkpoints", rep.Size)
		e.hint("pass --from-checkpoint with a checkpoint kept outside this machine (the audit.checkpoint_file copy, a witness)")
	}
	for _, h := range rep.Handovers {
		fmt.Fprintf(e.stdout, "checkpoint #%d of size %d hands the log over from key %s to %s\n", h.CheckpointID, h.Size, h.From, h.To)
	}
	if rep.Shredded > 0 {
		fmt.Fprintf(e.stdout, "retention destroyed the bodies of %s (latest %s); the newest of them was recorded at %s\n",
			plural(rep.Shredded, "entry", "entries"), rep.LastShredded.UTC().Format(time.RFC3339), rep.NewestShredded.UTC().Format(time.RFC3339))
	}
}

// plural returns n with the noun for its number: "1 entry", "2 entries".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// errInvalidSince marks a --since value that parseSince rejects.
var errInvalidSince = errors.New("invalid --since")

// parseSince accepts an RFC 3339 time or a duration before now ("24h").
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w %q: want an RFC 3339 time or a duration such as 24h", errInvalidSince, s)
	}
	return t, nil
}

func (e *env) usageError(synopsis, format string, args ...any) int {
	e.errorf(format, args...)
	e.hint("usage: %s", synopsis)
	return 2
}
