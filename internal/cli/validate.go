package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/fhirxml"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/validate"
)

const validateSynopsis = "gatehouse validate [--package FILE.tgz]... [--profile URL]... [--format text|json] [--notes] PATH..."

// validateProgressEvery is how many files pass between progress lines on stderr,
// printed only when more files than this are to be validated.
const validateProgressEvery = 250

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// validateReport is the JSON output for one resource.
type validateReport struct {
	File         string          `json:"file"`
	ResourceType string          `json:"resourceType,omitempty"`
	ID           string          `json:"id,omitempty"`
	Valid        bool            `json:"valid"`
	Issues       []outcome.Issue `json:"issues"`
}

// validate checks FHIR R4 JSON, NDJSON and XML files against the core
// definitions, the embedded implementation guides and the given packages
// and profiles. XML is converted to JSON first, and issues locate
// elements by FHIRPath, which both formats share.
// The exit code is 0 when no resource has an error, 1 when one does, and 2
// for usage and I/O errors.
func (e *env) validate(args []string) int {
	fset := e.flags("validate")
	var packages, profiles stringList
	fset.Var(&packages, "package", "load the FHIR package `FILE.tgz` beside the embedded ones (repeatable)")
	fset.Var(&profiles, "profile", "also validate every resource against the profile `URL` (repeatable)")
	format := fset.String("format", "text", "output `FORMAT`: text or json (one object per resource and line)")
	notes := fset.Bool("notes", false, "print information issues too, such as codes that cannot be verified offline (text format; json always has them)")
	flagArgs, paths := splitValidateArgs(args)
	if code, ok := e.parse(fset, validateSynopsis, flagArgs); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		e.errorf("unknown format %q", *format)
		e.hint("use --format text or --format json")
		return 2
	}
	if len(paths) == 0 {
		e.errorf("no file or directory to validate")
		e.hint("usage: %s", validateSynopsis)
		return 2
	}
	v, ok := e.newValidator(packages)
	if !ok {
		return 2
	}
	for _, p := range profiles {
		if err := v.CheckProfile(p); err != nil {
			e.errorf("--profile: %v", err)
			e.hint("give the canonical URL of a resource profile in the embedded packages, or load the package that defines it with --package FILE.tgz")
			return 2
		}
	}
	files, ok := e.collectFiles(paths)
	run := &validateRun{env: e, v: v, profiles: profiles, json: *format == "json", notes: *notes, total: len(files)}
	for _, f := range files {
		run.file(f)
	}
	// One verdict per resource scrolls away over a directory, so the
	// totals follow on stderr, which keeps --format json output one
	// object per line.
	if run.resources > 1 {
		fmt.Fprintf(e.stderr, "gatehouse: validated %d resources in %d files: %d valid, %d invalid\n",
			run.resources, len(files), run.resources-run.invalid, run.invalid)
	}
	switch {
	case !ok || run.ioFailed:
		return 2
	case run.invalid > 0:
		return 1
	}
	return 0
}

// splitValidateArgs separates options from the paths, which may come in
// any order, and "--" ends the options.
func splitValidateArgs(args []string) (flags, paths []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(paths, args[i+1:]...)
		case !strings.HasPrefix(a, "-") || a == "-":
			paths = append(paths, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && (name == "package" || name == "profile" || name == "format") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, paths
}

func (e *env) newValidator(files []string) (*validate.Validator, bool) {
	var pkgs []*fhirpkg.Package
	for _, f := range files {
		p, err := fhirpkg.LoadFile(f, fhirpkg.DefaultLimits)
		if err != nil {
			e.errorf("--package %s: %v", f, err)
			e.hint("--package takes a FHIR package archive (.tgz) with package/package.json")
			return nil, false
		}
		pkgs = append(pkgs, p)
	}
	v, err := validate.New(validate.Options{Packages: pkgs})
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	return v, true
}

// collectFiles expands directories, recursively, to their .json, .ndjson
// and .xml files. ok is false when a path could not be read.
func (e *env) collectFiles(paths []string) (files []string, ok bool) {
	ok = true
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			e.errorf("cannot read %s: %v", p, errors.Unwrap(err))
			e.hint("pass FHIR JSON, NDJSON or XML files, or directories containing them")
			ok = false
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson") || strings.HasSuffix(path, ".xml")) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			e.errorf("%v", err)
			ok = false
		}
		if err == nil && len(found) == 0 {
			// Exit 0 here would pass a CI step whose export wrote nothing.
			e.errorf("%s contains no .json, .ndjson or .xml file", p)
			e.hint("pass FHIR JSON, NDJSON or XML files, or directories containing them")
			ok = false
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, ok
}

// validateRun is the state of one validate command.
type validateRun struct {
	env       *env
	v         *validate.Validator
	profiles  []string
	json      bool
	notes     bool // print information issues in text output
	total     int
	done      int
	resources int // resources reported, valid or not
	invalid   int
	ioFailed  bool
}

func (r *validateRun) file(name string) {
	r.done++
	if r.total > validateProgressEvery && r.done%validateProgressEvery == 0 {
		fmt.Fprintf(r.env.stderr, "gatehouse: validated %d of %d files\n", r.done, r.total)
	}
	f, err := os.Open(name)
	if err != nil {
		r.env.errorf("%v", err)
		r.ioFailed = true
		return
	}
	defer f.Close()
	if strings.HasSuffix(name, ".ndjson") {
		r.ndjson(name, f)
		return
	}
	isXML := strings.HasSuffix(name, ".xml")
	limit := validate.DefaultLimits.MaxBytes
	if isXML {
		// XML is larger than its JSON form, to which the validator's
		// limit applies.
		limit = fhirxml.MaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		r.env.errorf("%v", err)
		r.ioFailed = true
		return
	}
	if isXML {
		r.xml(name, body)
		return
	}
	if !looksLikeJSONObject(body) {
		// A file given by name, such as a YAML configuration, would
		// otherwise get the JSON parser's error at byte 0, which does
		// not say that the file is of another kind.
		diagnostics := fmt.Sprintf("%s is not FHIR JSON, NDJSON or XML: a JSON resource starts with \"{\", and only files named .xml are read as XML", name)
		if strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.gz") {
			diagnostics += "; to validate the resources of a FHIR package, extract it (tar xzf FILE) and pass its package/ directory, and to validate against its profiles, pass it with --package"
		}
		r.report(name, &validate.Result{Issues: []outcome.Issue{{
			Severity: outcome.Fatal, Code: outcome.CodeStructure,
			Diagnostics: diagnostics,
		}}})
		return
	}
	r.resource(name, body)
}

// looksLikeJSONObject reports whether body, after white space and a
// byte order mark, starts with "{", as every FHIR JSON resource does.
func looksLikeJSONObject(body []byte) bool {
	body = bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}

// xml validates an XML resource in its JSON form. The converter's
// problems with single elements come first among the issues, and the
// validator checks the rest of the document. A document that does not
// convert at all is reported as an invalid resource with a fatal issue, as
// JSON that does not parse is.
func (r *validateRun) xml(name string, doc []byte) {
	body, problems, err := fhirxml.ConvertReport(doc, fhirmodel.R4())
	issues := make([]outcome.Issue, 0, len(problems)+1)
	for _, p := range problems {
		issues = append(issues, outcome.Issue{
			Severity:    outcome.Error,
			Code:        p.Code,
			Diagnostics: fmt.Sprintf("line %d: %s", p.Line, p.Message),
			Expression:  []string{p.Expression},
		})
	}
	if err != nil {
		issues = append(issues, outcome.Issue{Severity: outcome.Fatal, Code: outcome.CodeStructure, Diagnostics: err.Error()})
		r.report(name, &validate.Result{Issues: issues})
		return
	}
	res, err := r.v.Validate(body, r.profiles...)
	if err != nil {
		r.env.errorf("%s: %v", name, err)
		r.ioFailed = true
		return
	}
	res.Issues = append(issues, withoutLeftOut(res.Issues, problems)...)
	r.report(name, res)
}

// withoutLeftOut drops the validator's issues about what the converter
// left out and reported, because the converter's problem is the one to
// fix:
//   - that an element is missing: the validator reports a missing element,
//     by its cardinality or a slice's, as "required" at the element's path
//     without an index. Its other "required" issues are about a value that
//     is present, so they never fall on such a path;
//   - that a null item of a primitive array has no extension: the
//     converter writes that null to keep the other items' indexes, at the
//     location of its own problem.
func withoutLeftOut(issues []outcome.Issue, problems []fhirxml.Problem) []outcome.Issue {
	elements, items := map[string]bool{}, map[string]bool{}
	for _, p := range problems {
		if p.LeftOut {
			elements[p.Element] = true
			items[p.Expression] = true
		}
	}
	if len(elements) == 0 {
		return issues
	}
	remaining := issues[:0]
	for _, is := range issues {
		if len(is.Expression) == 1 && (is.Code == outcome.CodeRequired && elements[is.Expression[0]] ||
			is.Code == outcome.CodeStructure && items[is.Expression[0]]) {
			continue
		}
		remaining = append(remaining, is)
	}
	return remaining
}

// ndjson validates each non-empty line as a resource, named file:line.
func (r *validateRun) ndjson(name string, f io.Reader) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), int(validate.DefaultLimits.MaxBytes)+1)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		r.resource(fmt.Sprintf("%s:%d", name, line), append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		r.env.errorf("%s: line %d: %v", name, line+1, err)
		r.ioFailed = true
	}
}

func (r *validateRun) resource(name string, body []byte) {
	res, err := r.v.Validate(body, r.profiles...)
	if err != nil {
		r.env.errorf("%s: %v", name, err)
		r.ioFailed = true
		return
	}
	r.report(name, res)
}

// report counts and prints the result of one resource.
func (r *validateRun) report(name string, res *validate.Result) {
	r.resources++
	if !res.Valid() {
		r.invalid++
	}
	if r.json {
		r.printJSON(name, res)
		return
	}
	r.printText(name, res)
}

func (r *validateRun) printJSON(name string, res *validate.Result) {
	issues := res.Issues
	if issues == nil {
		issues = []outcome.Issue{}
	}
	line, err := json.Marshal(validateReport{File: name, ResourceType: res.ResourceType, ID: res.ID, Valid: res.Valid(), Issues: issues})
	if err != nil {
		r.env.errorf("%s: %v", name, err)
		return
	}
	fmt.Fprintf(r.env.stdout, "%s\n", line)
}

// printText prints one line per resource, then its errors and warnings.
// Information issues are only counted, unless --notes is set.
func (r *validateRun) printText(name string, res *validate.Result) {
	label := res.ResourceType
	if label == "" {
		label = "(no resource)" // the file did not parse as one
	}
	if res.ID != "" {
		label += "/" + res.ID
	}
	counts := map[outcome.Severity]int{}
	for _, is := range res.Issues {
		counts[is.Severity]++
	}
	verdict := "valid"
	if !res.Valid() {
		verdict = "invalid"
	}
	fmt.Fprintf(r.env.stdout, "%s: %s: %s (%d errors, %d warnings, %d notes)\n", name, label, verdict,
		counts[outcome.Error]+counts[outcome.Fatal], counts[outcome.Warning], counts[outcome.Information])
	for _, is := range res.Issues {
		if is.Severity == outcome.Information && !r.notes {
			continue
		}
		where := strings.Join(is.Expression, ", ")
		if where == "" {
			where = "(file)"
		}
		fmt.Fprintf(r.env.stdout, "    %s %s: %s\n", is.Severity, where, is.Diagnostics)
	}
}
