package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// The synopsis of each payer subcommand, which its usage errors repeat.
const (
	payerLoadSynopsis   = "gatehouse payer load [--data DIR | --config FILE] [--database FILE|URL] FILE.tgz|DIR|FILE.json"
	payerPendedSynopsis = "gatehouse payer pended [--data DIR | --config FILE] [--database FILE|URL]"
	payerDecideSynopsis = "gatehouse payer decide [--data DIR | --config FILE] [--database FILE|URL] CLAIM ITEM approve|partial|deny|modify|contact|none"
)

const payerSynopsis = `gatehouse payer load|pended|decide [options]
    ` + payerLoadSynopsis + `
    ` + payerPendedSynopsis + `
    ` + payerDecideSynopsis + `

A decision is appended to the exchange record of the configuration (--config),
or of the development data directory (--data) when there is none.`

// The help text of each payer subcommand, printed by -h after its synopsis.
const (
	payerLoadHelp = `Loads members and their coverage into the built-in payer service from
Synthea FHIR R4 patient Bundles: a Synthea output archive (FILE.tgz of
JSON Bundles), a directory of Bundle files, or one Bundle (FILE.json).
NDJSON bulk exports are not read. A member already loaded is skipped, so
a load that stopped can be run again. The load exits 1 when it stores no
member and finds none already loaded, as for a PAS request Bundle.`
	payerPendedHelp = `Lists the pended items of the built-in payer service's work queue, one
line each: the preAuthRef, the item sequence, the service code, when it
was pended, and the decision the rule table will make later, if any.`
	payerDecideHelp = `Decides one pended item. CLAIM is the preAuthRef that payer pended lists,
or the Claim identifier value; ITEM is the Claim.item sequence. The
decision is the X12 306 review action the ClaimResponse then carries:
    approve  A1, certified in total
    partial  A2, certified partially
    deny     A3, not certified
    modify   A6, modified
    contact  CT, contact the payer
    none     NA, no action required
The decision is appended to the exchange record, and an event is queued
for each Subscription it matches.`
)

// progressEvery is how many files pass between progress lines of a load.
const progressEvery = 25

// The payer commands run the built-in payer service's offline commands on
// its database file: load members, list the work queue, decide a pended
// item. A running gateway reads the changes from the same file, and its
// notification sender delivers the events a decision queues.
var payerGroup = &commandGroup{
	name:  "payer",
	usage: "Usage:\n    " + payerSynopsis + "\n",
	commands: map[string]command{
		"load":   {run: (*env).payerLoadCommand},
		"pended": {run: (*env).payerPendedCommand},
		"decide": {run: (*env).payerDecideCommand},
	},
}

// payerFlags are the options every payer command takes.
type payerFlags struct {
	dataDir, dbFile, cfgPath *string
}

func (e *env) payerFlags(sub string) (*flag.FlagSet, payerFlags) {
	fs := e.flags("payer " + sub)
	return fs, payerFlags{
		dataDir: fs.String("data", "./gatehouse-data", "data `DIR` whose gatehouse.db is the database"),
		dbFile:  fs.String("database", "", "SQLite database `FILE` or database URL, as database.url of the configuration; default DIR/gatehouse.db"),
		cfgPath: fs.String("config", "", "configuration `FILE` whose database (database.url or database.path) every payer command uses, and whose audit settings payer decide uses; default the development configuration of DIR"),
	}
}

// database returns the --database value, or DIR/gatehouse.db.
func (f payerFlags) database() string {
	if *f.dbFile != "" {
		return *f.dbFile
	}
	return filepath.Join(*f.dataDir, "gatehouse.db")
}

// configDatabase returns the database of the command: --database, else
// that of --config, else DIR/gatehouse.db. A non-zero code, with the error
// printed, is exitUsage: --config cannot be loaded or names a missing
// database directory.
func (e *env) configDatabase(f payerFlags) (string, int) {
	if *f.dbFile != "" || *f.cfgPath == "" {
		return f.database(), 0
	}
	cfg, err := config.Load(*f.cfgPath)
	if e.printConfigNotFound(err, *f.cfgPath, "pass --database FILE|URL") {
		return "", exitUsage
	}
	if err != nil {
		e.errorf("%v", err)
		e.hint("%s", configFixHint(err, *f.cfgPath))
		return "", exitUsage
	}
	if !e.checkOperatorFiles(cfg, *f.cfgPath, false, nil, "database") {
		return "", exitUsage
	}
	return cfg.DatabaseURL(), 0
}

func (e *env) payerLoadCommand(args []string) int {
	fs, f := e.payerFlags("load")
	positional, code, ok := e.parseMany(fs, payerLoadSynopsis, payerLoadHelp, args)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		return e.payerUsage(payerLoadSynopsis, "payer load takes one FILE.tgz, DIR or FILE.json")
	}
	// A path that cannot be read is reported before the database opens,
	// so no empty summary suggests that a load ran.
	if _, err := os.Stat(positional[0]); err != nil {
		e.errorf("cannot read %s: %v", positional[0], errors.Unwrap(err))
		e.hint("pass a Synthea FILE.tgz, a directory of FHIR Bundle files, or one FILE.json")
		return 2
	}
	database, code := e.configDatabase(f)
	if code != 0 {
		return code
	}
	return e.withService(database, func(svc *payer.Service) int { return e.payerLoad(svc, positional) })
}

func (e *env) payerPendedCommand(args []string) int {
	fs, f := e.payerFlags("pended")
	positional, code, ok := e.parseMany(fs, payerPendedSynopsis, payerPendedHelp, args)
	if !ok {
		return code
	}
	if len(positional) != 0 {
		return e.payerUsage(payerPendedSynopsis, "unexpected argument %q", positional[0])
	}
	database, code := e.configDatabase(f)
	if code != 0 {
		return code
	}
	return e.withService(database, e.payerPended)
}

func (e *env) payerDecideCommand(args []string) int {
	fs, f := e.payerFlags("decide")
	positional, code, ok := e.parseMany(fs, payerDecideSynopsis, payerDecideHelp, args)
	if !ok {
		return code
	}
	if *f.cfgPath == "" && *f.dbFile != "" && filepath.Clean(*f.dbFile) != filepath.Join(*f.dataDir, "gatehouse.db") {
		// The record's signing key and recipients come from the
		// configuration, and a development directory's keys must not sign
		// another database's log.
		return e.payerUsage(payerDecideSynopsis, "payer decide with --database needs --config FILE, whose audit settings record the decision")
	}
	decision, code, ok := e.parseDecideArgs(positional)
	if !ok {
		return code
	}
	cfg, code := e.operatorConfig(*f.cfgPath, *f.dataDir)
	if code != 0 {
		return code
	}
	path, cfgPath := f.database(), ""
	if *f.dbFile == "" && *f.cfgPath != "" {
		path, cfgPath = cfg.DatabaseURL(), *f.cfgPath
	}
	return e.withRecordedService(path, cfg, cfgPath, func(svc *payer.Service) int { return e.payerDecide(svc, decision) })
}

// parseMany parses options placed before, between or after positional
// arguments and returns the positional ones.
func (e *env) parseMany(fs *flag.FlagSet, synopsis, help string, args []string) ([]string, int, bool) {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(e.stdout, "Usage:\n    %s\n\n%s\n\nOptions:\n", synopsis, help)
			printOptions(e.stdout, fs)
			return nil, 0, false
		}
		if err != nil {
			code, _ := e.parse(fs, synopsis, args)
			return nil, code, false
		}
		if fs.NArg() == 0 {
			return positional, 0, true
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// payerUsage prints a usage error with the synopsis of the subcommand that
// failed, and returns exit code 2.
func (e *env) payerUsage(synopsis, format string, args ...any) int {
	e.errorf(format, args...)
	e.hint("usage: %s", synopsis)
	return 2
}

// withService opens the database, migrates the payer tables and runs fn.
func (e *env) withService(target string, fn func(*payer.Service) int) int {
	return e.withRecordedService(target, nil, "", fn)
}

// operatorConfig loads the configuration whose exchange record receives
// an operator decision: the file, or the development configuration of a
// data directory a gateway has created. A non-zero code, with the error
// printed, is the exit code to return.
func (e *env) operatorConfig(cfgPath, dataDir string) (*config.File, int) {
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if e.printConfigNotFound(err, cfgPath, "pass --data DIR of a development gateway") {
			return nil, exitUsage
		}
		if err != nil {
			e.errorf("%v", err)
			e.hint("%s", configFixHint(err, cfgPath))
			return nil, exitUsage
		}
		// Every file that recording the decision needs is listed in one run.
		if !e.checkOperatorFiles(cfg, cfgPath, false, nil, "database", "audit.signing_key_file", "audit.recipients_file", "audit.checkpoint_file") {
			return nil, exitUsage
		}
		return cfg, 0
	}
	if _, err := openDevData(dataDir); err != nil {
		e.errorf("%v", err)
		e.hint("pass --config FILE, or --data DIR of a development gateway: a decision must be added to the exchange record")
		return nil, exitCode(err)
	}
	// The addresses are serve's development defaults, because only the
	// audit settings are used.
	cfg, _, _, err := app.DevConfig(dataDir, "127.0.0.1:8443", "127.0.0.1:9443")
	if err != nil {
		e.errorf("%v", err)
		return nil, exitFailed
	}
	return cfg, 0
}

// withRecordedService is withService with the exchange record of cfg open
// on the same database, when cfg is set. cfgPath is the file cfg was read
// from when it also named target, for hints.
func (e *env) withRecordedService(target string, cfg *config.File, cfgPath string, fn func(*payer.Service) int) int {
	dialect, path, err := storage.ParseURL(target)
	if err != nil {
		e.errorf("--database: %v", err)
		return 2
	}
	if dialect == storage.SQLite {
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			e.errorf("database directory %s does not exist", filepath.Dir(path))
			if cfgPath != "" {
				e.hint("create the directory, or correct database.path or database.url in %s", cfgPath)
			} else {
				e.hint("pass --config FILE of a deployment, --data DIR of a development gateway, or --database with the SQLite file")
			}
			return exitUsage
		}
	}
	db, err := storage.Open(e.ctx, target)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	defer db.Close()
	var records record.Store
	if cfg != nil {
		l, err := app.OpenRecord(e.ctx, cfg, db, slog.New(slog.DiscardHandler))
		if err != nil {
			e.errorf("exchange record: %v", err)
			e.recordOpenHint(err, cfg, cfgPath)
			return 1
		}
		defer l.Close(context.WithoutCancel(e.ctx))
		records = l
	}
	svc, err := openPayer(e.ctx, db, records, e.serviceLogger())
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	return fn(svc)
}

func openPayer(ctx context.Context, db *storage.DB, records record.Store, log *slog.Logger) (*payer.Service, error) {
	svc, err := payer.New(db, payer.Options{Records: records, Logger: log})
	if err != nil {
		return nil, err
	}
	return svc, svc.Migrate(ctx)
}

// serviceLogger returns the logger of a service a command runs in its own
// process. The command prints its result itself, so the service's INFO
// lines would repeat it in another format; warnings and errors still go
// to stderr.
func (e *env) serviceLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (e *env) payerLoad(svc *payer.Service, positional []string) int {
	if len(positional) != 1 {
		return e.payerUsage(payerLoadSynopsis, "payer load takes one FILE.tgz, DIR or FILE.json")
	}
	start := time.Now()
	progress := func(p members.Progress) {
		if p.Files%progressEvery == 0 {
			fmt.Fprintf(e.stderr, "gatehouse: load: %d files read, %d members loaded, %d skipped\n", p.Files, p.Members, p.Skipped)
		}
	}
	sum, err := svc.Members().LoadPath(e.ctx, positional[0], members.LoadOptions{Progress: progress})
	// A summary of nothing read would only hide the error.
	if sum != nil && (err == nil || sum.Files > 0) {
		e.printLoadSummary(sum, time.Since(start))
	}
	if err != nil {
		e.errorf("%v", err)
		switch {
		case errors.Is(err, members.ErrInvalidJSON):
			e.hint("the file is not complete JSON: copy or export it again, and check it with 'gatehouse validate FILE'")
		case errors.Is(err, members.ErrNotBundle) || errors.Is(err, members.ErrNoFiles):
			e.hint("pass a FHIR Bundle file (\"resourceType\": \"Bundle\") such as a Synthea patient file, a directory of them or a Synthea .tgz archive; NDJSON bulk exports are not read")
		case sum != nil && sum.Members > 0:
			e.hint("the members loaded before the error are kept; running the load again skips them")
		}
		return 1
	}
	// Every file skipped, none of them as already loaded, means the input
	// contains no member file at all, which a script must not take for success.
	if sum.Members == 0 && sum.Skipped[members.SkipAlreadyLoaded] == 0 {
		e.errorf("no member loaded from %s: every file was skipped, for the reasons listed above", positional[0])
		e.hint("payer load reads Synthea patient Bundles: one Patient with an identifier, a family name and a birth date, and a Coverage with period.start or an ExplanationOfBenefit")
		return 1
	}
	return 0
}

func (e *env) printLoadSummary(sum *members.Summary, took time.Duration) {
	fmt.Fprintf(e.stdout, "files read:        %d\nmembers loaded:    %d\ncoverages loaded:  %d\n", sum.Files, sum.Members, sum.Coverages)
	reasons := make([]string, 0, len(sum.Skipped))
	for r := range sum.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(e.stdout, "skipped:           %d (%s)\n", sum.Skipped[r], r)
	}
	var used []string
	for _, t := range []string{"Patient", "Coverage", "ExplanationOfBenefit", "Claim", "Organization"} {
		used = append(used, fmt.Sprintf("%s %d", t, sum.Resources[t]))
	}
	fmt.Fprintf(e.stdout, "resources read:    %s\ntook:              %s\n", strings.Join(used, ", "), took.Round(time.Millisecond))
}

func (e *env) payerPended(svc *payer.Service) int {
	items, err := svc.ListPended(e.ctx, 0)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	if len(items) == 0 {
		fmt.Fprintln(e.stdout, "no pended items")
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	// NEXT DECISION is the rule table's later decision, or the operator's
	// when the rule table sets none.
	fmt.Fprintln(tw, "PREAUTHREF\tITEM\tCODE\tPENDED\tNEXT DECISION")
	for _, it := range items {
		due := "by an operator"
		if !it.DueAt.IsZero() {
			due = string(it.DueAction) + " by rule at " + it.DueAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", it.PreAuthRef, it.Sequence, it.Coding.Code, it.PendedAt.UTC().Format(time.RFC3339), due)
	}
	tw.Flush()
	return 0
}

// decideArgs are the positional arguments of payer decide.
type decideArgs struct {
	claim    string
	sequence int
	action   pas.ReviewAction
	word     string
}

func (e *env) parseDecideArgs(positional []string) (decideArgs, int, bool) {
	if len(positional) != 3 {
		return decideArgs{}, e.payerUsage(payerDecideSynopsis, "payer decide takes CLAIM ITEM DECISION"), false
	}
	seq, err := strconv.Atoi(positional[1])
	if err != nil || seq < 1 {
		return decideArgs{}, e.payerUsage(payerDecideSynopsis, "invalid item sequence %q: use the Claim.item sequence, a positive integer", positional[1]), false
	}
	action, err := payer.ParseDecision(positional[2])
	if err != nil {
		return decideArgs{}, e.payerUsage(payerDecideSynopsis, "%v", err), false
	}
	return decideArgs{claim: positional[0], sequence: seq, action: action, word: positional[2]}, 0, true
}

func (e *env) payerDecide(svc *payer.Service, a decideArgs) int {
	seq, action := a.sequence, a.action
	ref, err := svc.ResolveAuthorization(e.ctx, a.claim)
	if errors.Is(err, payer.ErrNotFound) {
		e.errorf("no prior authorization matches %q", a.claim)
		e.hint("pass the preAuthRef or the Claim identifier value; run 'gatehouse payer pended' to list the pended items and their preAuthRef")
		return 1
	}
	if err != nil {
		e.errorf("claim %q: %v", a.claim, err)
		e.hint("run 'gatehouse payer pended' to list the pended items and their preAuthRef")
		return 1
	}

	res, err := svc.DecideAsOperator(e.ctx, payer.ItemDecision{PreAuthRef: ref, Sequence: seq, Action: action, By: "operator:" + operatorName()})
	if errors.Is(err, payer.ErrNotPended) {
		// Two administrators, or an administrator and pend_then, may
		// decide the same item at once, and only the first decision counts.
		e.errorf("item %d of %s is not pended: it was decided already, or the authorization has no item %d", seq, ref, seq)
		e.hint("run 'gatehouse payer pended' to list the pended items; 'gatehouse audit show --interaction payer.decide' lists the decisions administrators made")
		return 1
	}
	if res != nil && err != nil {
		e.errorf("%v", err)
		e.hint("the decision (ClaimResponse %s) remains in effect; tell the security team its outcome is missing from the exchange record", res.ClaimResponseID)
		return 1
	}
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "decided %s item %d: %s (%s); outcome %s; ClaimResponse %s; %d subscription(s) notified; record %d\n",
		ref, seq, a.word, action, res.Outcome, res.ClaimResponseID, res.Notified, res.Record)
	return 0
}

// operatorName names the person deciding from the command line: the
// login name, as the operating system reports it.
func operatorName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "cli"
}

// recordOpenHint explains why payer decide could not open the exchange
// record of cfg, when the user can act on it.
func (e *env) recordOpenHint(err error, cfg *config.File, cfgPath string) {
	if errors.Is(err, auditlog.ErrNotExtended) {
		e.notExtendedHint(cfg, cfgPath)
	}
	if hint := missingDirHint(err, cfgPath); hint != "" {
		e.hint("%s", hint)
	}
	if storage.SQLState(err) == pgDeadlockDetected {
		e.hint("PostgreSQL aborted opening the exchange record in a deadlock with the writes of another process on the same database, such as a replica serving traffic; no decision was made, so run the command again")
	}
}
