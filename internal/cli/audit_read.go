package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// auditFilter is the option group selecting entries for show and export.
type auditFilter struct {
	exchange, partner, since, decision, identity *string
	status, limit                                *int
	interactions                                 *multiFlag
	newest                                       *bool
}

func auditFilterFlags(fs *flag.FlagSet, defaultLimit int) *auditFilter {
	interactions := &multiFlag{}
	fs.Var(interactions, "interaction", "only entries of interaction `I`, such as Claim/$submit or killswitch.engage; repeat for more")
	return &auditFilter{
		exchange:     fs.String("exchange", "", "only entries of exchange `ID`, the X-Request-Id of its response"),
		partner:      fs.String("partner", "", "only entries of partner `P`"),
		since:        fs.String("since", "", "only entries recorded since `T`: an RFC 3339 time, or a duration before now such as 24h"),
		decision:     fs.String("decision", "", "only entries with decision `D`: allow or deny"),
		status:       fs.Int("status", 0, "only entries released with HTTP status `N`"),
		limit:        fs.Int("limit", defaultLimit, "at most `N` entries; 0 means all"),
		identity:     fs.String("identity", "", "age identity `FILE` that decrypts bodies and query strings; without it neither is shown"),
		interactions: interactions,
		newest:       fs.Bool("newest", false, "list the newest entries first, so --limit keeps the most recent ones; default oldest first"),
	}
}

func (f *auditFilter) query() (auditlog.Query, error) {
	since, err := parseSince(*f.since, time.Now())
	if err != nil {
		return auditlog.Query{}, err
	}
	d := record.Decision(*f.decision)
	if d != "" && d != record.Allow && d != record.Deny {
		return auditlog.Query{}, fmt.Errorf("invalid --decision %q: want allow or deny", *f.decision)
	}
	if *f.limit < 0 {
		return auditlog.Query{}, fmt.Errorf("invalid --limit %d: want a number of entries, or 0 for all", *f.limit)
	}
	exchange, err := parseExchangeID(*f.exchange)
	if err != nil {
		return auditlog.Query{}, err
	}
	return auditlog.Query{ExchangeID: exchange, Partner: *f.partner, Since: since, Decision: d, Status: *f.status, Limit: *f.limit,
		Interactions: *f.interactions, Newest: *f.newest}, nil
}

// exchangeIDPattern matches the exchange ids Gatehouse records: 32 hex
// digits for exchanges, kill-switch and egress entries, 16 for the cut an
// alert engages, and a UUID for an operator decision of the payer service.
var exchangeIDPattern = regexp.MustCompile(`^(?:[0-9a-f]{16}|[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// parseExchangeID checks the value of --exchange and returns it in lower
// case, the form the record stores. An empty value selects every exchange.
func parseExchangeID(value string) (string, error) {
	if value == "" {
		return "", nil
	}
	id := strings.ToLower(value)
	if !exchangeIDPattern.MatchString(id) {
		shown := value
		if len(shown) > 80 {
			shown = shown[:80] + "..."
		}
		return "", fmt.Errorf("invalid --exchange %q: want an exchange id, the X-Request-Id of a response: 32 hex digits, 16 for an alert's cut, or a UUID for an operator decision", shown)
	}
	return id, nil
}

func (f *auditFilter) identities() ([]age.Identity, error) {
	if *f.identity == "" {
		return nil, nil
	}
	return auditlog.LoadIdentities(*f.identity)
}

const showSynopsis = "gatehouse audit show [--data DIR | --config FILE | --database FILE|URL] [--key FILE]... [--exchange ID] [--partner P] [--since T] [--status N] [--decision D] [--interaction I] [--identity FILE [--write-bodies DIR]] [--limit N] [--newest]"

func (e *env) auditShow(args []string) int {
	return e.auditList(args, "audit show", showSynopsis, "", 100)
}

const exportSynopsis = "gatehouse audit export [--format ndjson|auditevent|cef] [--data DIR | --config FILE | --database FILE|URL] [--key FILE]... [--exchange ID] [--partner P] [--since T] [--status N] [--decision D] [--interaction I] [--identity FILE] [--limit N] [--newest]"

func (e *env) auditExport(args []string) int {
	return e.auditList(args, "audit export", exportSynopsis, "ndjson", 0)
}

// auditList implements show (format "") and export.
func (e *env) auditList(args []string, name, synopsis, defaultFormat string, defaultLimit int) int {
	fs := e.flags(name)
	src := auditSourceFlags(fs)
	filter := auditFilterFlags(fs, defaultLimit)
	format, bodyDir := &defaultFormat, new(string)
	if defaultFormat != "" {
		format = fs.String("format", defaultFormat, "output `FORMAT`: ndjson (every field; the request-target's query string, which may hold PHI, only with --identity), auditevent (FHIR AuditEvent, IHE BALP shape, one per line) or cef; the last two never carry the query string")
	} else {
		bodyDir = fs.String("write-bodies", "", "write each decrypted body to `DIR`/entry-INDEX-request.body or -response.body (mode 0600, never replacing a file) instead of printing it, for 'audit check-proof --request-body'")
	}
	if code, ok := e.parse(fs, synopsis, args); !ok {
		return code
	}
	q, err := filter.query()
	if errors.Is(err, errInvalidSince) {
		e.errorf("%v", err)
		e.hint("pass a time such as --since 2026-01-31T09:00:00Z or --since 2026-01-31T09:00:00-05:00, or a duration before now such as --since 24h")
		return 2
	}
	if err != nil {
		return e.usageError(synopsis, "%v", err)
	}
	if *bodyDir != "" {
		if *filter.identity == "" {
			return e.usageError(synopsis, "--write-bodies needs --identity, which decrypts the bodies")
		}
		if err := os.MkdirAll(*bodyDir, 0o700); err != nil {
			e.errorf("--write-bodies: %v", err)
			return 2
		}
	}
	write, ok := e.entryWriter(*format, *filter.identity != "", *bodyDir)
	switch {
	case !ok && *filter.identity != "" && (*format == "auditevent" || *format == "cef"):
		return e.usageError(synopsis, "--identity is for --format ndjson only: --format %s never carries bodies, so leave --identity out", *format)
	case !ok:
		return e.usageError(synopsis, "invalid --format %q: use ndjson, auditevent or cef", *format)
	}
	ids, err := filter.identities()
	if err != nil {
		e.errorf("%v", err)
		return 2
	}
	db, r, ok := e.openAudit(src)
	if !ok {
		return 2
	}
	defer db.Close()
	origin, err := r.Origin(e.ctx)
	if err != nil {
		e.errorf("%v", err)
		return 2
	}
	var dec *auditlog.Decrypter
	if ids != nil {
		if dec, err = r.NewDecrypter(e.ctx, ids); err != nil {
			e.errorf("%v", err)
			return 2
		}
	}
	listed, unreadable, otherRecipients := 0, 0, 0
	err = r.Scan(e.ctx, q, func(row *auditlog.Row) error {
		listed++
		err := write(origin, row, dec)
		switch {
		case errors.Is(err, errOtherRecipients):
			otherRecipients++
			return nil
		case errors.Is(err, errBodiesUnreadable):
			unreadable++
			return nil
		}
		return err
	})
	if errors.Is(err, errBodyFile) {
		// The listing ran and may have written some bodies already, so
		// this is a failed run (1) and not an unusable input (2), like
		// an existing output file for the other commands.
		e.errorf("%v", err)
		e.hint("pass --write-bodies an empty directory that you can write; it never replaces a body file of an earlier run")
		return exitFailed
	}
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	if listed == 0 {
		// Printed on stderr so that an empty export stays empty. Without
		// it, an empty listing looks like a command that did nothing.
		fmt.Fprintln(e.stderr, "gatehouse: no entry matches the filters")
	}
	if otherRecipients > 0 {
		e.errorf("the bodies of %d listed entries are encrypted to recipients that no identity in %s matches", otherRecipients, *filter.identity)
		e.hint("pass the identities of the recipients in audit.recipients_file when those entries were recorded, such as before a rotation; an --identity file may list several, one a line")
	}
	if unreadable > 0 {
		e.errorf("the bodies of %d listed entries could not be decrypted or do not match their hashes", unreadable)
		e.hint("run gatehouse audit verify to find what was changed")
	}
	if otherRecipients > 0 || unreadable > 0 {
		return 1
	}
	return 0
}

// errBodiesUnreadable is returned by a rowWriter that wrote its entry
// without bodies that could not be decrypted or checked, so that the
// listing goes on and fails at its end.
var errBodiesUnreadable = errors.New("bodies unreadable")

// errOtherRecipients is returned like errBodiesUnreadable when the entry's
// key is encrypted to none of the given identities. That is expected after
// the recipients were rotated, so it is reported apart from tampering.
var errOtherRecipients = errors.New("bodies encrypted to other recipients")

// unreadableError returns the rowWriter error for a body problem.
func unreadableError(problem error) error {
	var noMatch *age.NoIdentityMatchError
	if errors.As(problem, &noMatch) {
		return errOtherRecipients
	}
	return errBodiesUnreadable
}

// errBodyFile wraps the failure to write a body file of --write-bodies.
var errBodyFile = errors.New("body file not written")

// rowWriter writes one entry. The dec argument is nil when bodies are not
// decrypted.
type rowWriter func(origin string, row *auditlog.Row, dec *auditlog.Decrypter) error

// entryWriter returns the writer for format ("" is the show layout). The
// show layout writes bodies to files in bodyDir unless it is "".
func (e *env) entryWriter(format string, withBodies bool, bodyDir string) (rowWriter, bool) {
	switch format {
	case "":
		return func(_ string, row *auditlog.Row, dec *auditlog.Decrypter) error {
			return e.showRow(row, dec, bodyDir)
		}, true
	case "ndjson":
		return e.ndjsonRow, true
	case "auditevent":
		return func(origin string, row *auditlog.Row, _ *auditlog.Decrypter) error {
			b, err := auditlog.MarshalAuditEvent(row, origin)
			if err == nil {
				_, err = fmt.Fprintf(e.stdout, "%s\n", b)
			}
			return err
		}, !withBodies
	case "cef":
		return func(_ string, row *auditlog.Row, _ *auditlog.Decrypter) error {
			_, err := fmt.Fprintln(e.stdout, auditlog.CEF(row))
			return err
		}, !withBodies
	}
	return nil, false
}

// openBodies decrypts row's bodies, or returns nil without a decrypter. A
// shredded entry has no bodies. Any other failure is returned as a problem
// to write with the entry, since the entries after it may be readable.
func (e *env) openBodies(row *auditlog.Row, dec *auditlog.Decrypter) (bodies *auditlog.Bodies, problem error) {
	if dec == nil {
		return nil, nil
	}
	b, err := dec.Open(e.ctx, row)
	switch {
	case errors.Is(err, auditlog.ErrShredded):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return b, nil
}

func (e *env) ndjsonRow(_ string, row *auditlog.Row, dec *auditlog.Decrypter) error {
	bodies, problem := e.openBodies(row, dec)
	x := auditlog.Export(row, bodies)
	if problem != nil {
		x.BodiesUnreadable = problem.Error()
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if _, err = fmt.Fprintf(e.stdout, "%s\n", b); err != nil || problem == nil {
		return err
	}
	return unreadableError(problem)
}

// showRow prints one entry in the show layout, and its bodies when dec is
// not nil: into files in bodyDir, or printed when bodyDir is "".
func (e *env) showRow(row *auditlog.Row, dec *auditlog.Decrypter, bodyDir string) error {
	var bodies *auditlog.Bodies
	var problem error
	if row.Shredded.IsZero() {
		bodies, problem = e.openBodies(row, dec)
	}
	x := &row.Leaf.Entry
	target, queryWithheld := auditlog.ExportTarget(row, bodies)
	if target == "" {
		// Control entries, such as a kill-switch engage, record no FHIR
		// path, and a blank between two spaces reads as a lost one.
		target = "-"
	}
	fmt.Fprintf(e.stdout, "#%d %s %s %s %s %s -> %s", row.Leaf.Index, x.RecordedAt.UTC().Format(time.RFC3339Nano),
		x.Direction, x.Partner, x.Method, target, statusText(x.Status))
	if x.Decision != "" {
		fmt.Fprintf(e.stdout, " %s", x.Decision)
	}
	if x.Rule != "" {
		fmt.Fprintf(e.stdout, " (%s)", x.Rule)
	}
	// A request refused before the gateway classified it, such as one
	// without a valid token, records no interaction.
	interaction := x.Interaction
	if interaction == "" {
		interaction = "not classified"
	}
	fmt.Fprintf(e.stdout, "\n    exchange %s, phase %s, interaction %s\n", x.ExchangeID, x.Phase, interaction)
	if queryWithheld != "" {
		fmt.Fprintf(e.stdout, "    %s\n", queryWithheld)
	}
	if x.Phase == record.PhaseControl && x.Source != "" {
		fmt.Fprintf(e.stdout, "    by: %s\n", x.Source)
	}
	if x.Reason != "" {
		fmt.Fprintf(e.stdout, "    reason: %s\n", x.Reason)
	}
	if !row.Shredded.IsZero() {
		fmt.Fprintf(e.stdout, "    bodies: destroyed by retention at %s\n", row.Shredded.UTC().Format(time.RFC3339))
		return nil
	}
	if problem != nil {
		fmt.Fprintf(e.stdout, "    bodies: unreadable: %s\n", problem)
		return unreadableError(problem)
	}
	if bodies == nil {
		return nil
	}
	switch {
	case bodies.RequestUnavailable != "":
		fmt.Fprintf(e.stdout, "    request body: unavailable: %s\n", bodies.RequestUnavailable)
	case bodies.RequestShredded:
		fmt.Fprintf(e.stdout, "    request body: destroyed by retention with entry #%d\n", bodies.RequestIndex)
	case bodies.RequestIndex != row.Leaf.Index:
		label := fmt.Sprintf("request body (stored in entry #%d)", bodies.RequestIndex)
		if err := e.showBody(label, bodies.Request, bodyPath(bodyDir, row.Leaf.Index, "request")); err != nil {
			return err
		}
	default:
		if err := e.showBody("request body", bodies.Request, bodyPath(bodyDir, row.Leaf.Index, "request")); err != nil {
			return err
		}
	}
	return e.showBody("response body", bodies.Response, bodyPath(bodyDir, row.Leaf.Index, "response"))
}

// bodyPath returns the --write-bodies file of one body of the entry at
// index, or "" when bodyDir is "". The file is named after the entry, not
// the one that stores the request, because 'audit prove INDEX' of this
// entry is what the body is checked against.
func bodyPath(bodyDir string, index int64, part string) string {
	if bodyDir == "" {
		return ""
	}
	return filepath.Join(bodyDir, fmt.Sprintf("entry-%d-%s.body", index, part))
}

// statusText returns the HTTP status released to the client, or "-" for
// an entry recorded before any status was released, such as an allowed
// request before it is forwarded.
func statusText(status int) string {
	if status == 0 {
		return "-"
	}
	return strconv.Itoa(status)
}

// showBody prints a body under its label, in base64 when it is not text,
// or writes it to path when path is not "". An empty body is neither
// printed nor written.
func (e *env) showBody(label string, body []byte, path string) error {
	if len(body) == 0 {
		return nil
	}
	if path != "" {
		if err := safefile.WriteNew(path, body, 0o600); err != nil {
			return fmt.Errorf("%w: %v", errBodyFile, err)
		}
		fmt.Fprintf(e.stdout, "    %s: written to %s (%d bytes)\n", label, path, len(body))
		return nil
	}
	if !utf8.Valid(body) {
		fmt.Fprintf(e.stdout, "    %s (base64): %s\n", label, base64.StdEncoding.EncodeToString(body))
		return nil
	}
	fmt.Fprintf(e.stdout, "    %s:\n%s\n", label, body)
	return nil
}

const proveSynopsis = "gatehouse audit prove INDEX [--data DIR | --config FILE | --database FILE|URL] [--key FILE]..."

// auditProve prints the entry proof of one entry against the latest
// checkpoint: the entry's encoding and its c2sp.org/tlog-proof.
func (e *env) auditProve(args []string) int {
	fs := e.flags("audit prove")
	src := auditSourceFlags(fs)
	arg, code, ok := e.parseOne(fs, proveSynopsis, args)
	if !ok {
		return code
	}
	if arg == "" {
		return e.usageError(proveSynopsis, "missing INDEX: the index of the entry to prove, as 'gatehouse audit show' lists it")
	}
	index, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || index < 0 {
		return e.usageError(proveSynopsis, "invalid entry index %q", arg)
	}
	db, r, ok := e.openAudit(src)
	if !ok {
		return 2
	}
	defer db.Close()
	p, err := r.EntryProof(e.ctx, index)
	switch {
	case errors.Is(err, auditlog.ErrNotFound):
		return e.proveNotFound(r, index)
	case errors.Is(err, auditlog.ErrNotCovered):
		e.errorf("entry %d is recorded but no checkpoint covers it yet", index)
		e.hint("wait for the next checkpoint (every few seconds while the gateway runs) and retry")
		return 1
	case err != nil:
		e.errorf("%v", err)
		return 1
	}
	e.stdout.Write(p.Format())
	return 0
}

// proveNotFound reports an index beyond the log, with the log's size, or
// a row inside it that is missing or was moved.
func (e *env) proveNotFound(r *auditlog.Reader, index int64) int {
	size, err := r.Size(e.ctx)
	if err != nil {
		e.errorf("no entry %d in the audit log, and its size could not be read: %v", index, err)
		return 1
	}
	if size == 0 {
		e.errorf("no entry %d: the audit log is empty", index)
		e.hint("prove an entry once the gateway has recorded exchanges")
		return 1
	}
	if index < size {
		// The row was deleted, or its signed encoding names another index.
		// Either way the log was changed outside the gateway.
		e.errorf("no entry %d: the row at index %d is missing or holds another entry's encoding, although the audit log has %d entries", index, index, size)
		e.hint("run 'gatehouse audit verify' to find where the log was tampered with")
		return 1
	}
	e.errorf("no entry %d: the audit log has %d entries, indexes 0 to %d", index, size, size-1)
	e.hint("'gatehouse audit show' lists the entries with their index")
	return 1
}
