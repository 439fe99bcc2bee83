// Package cli implements the gatehouse command line. Each subcommand parses
// its own flags and returns an exit code; errors are printed as
// "gatehouse: error: ..." with a "gatehouse: hint: ..." line saying what to
// do next.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

const usage = `Gatehouse is a security gateway for FHIR exchange between a health plan and
providers' EHRs: mutual TLS, SMART Backend Services tokens, FHIR-aware policy,
and a record of every exchange.

Usage:
    gatehouse demo [--bundles DIR] [--json] [--keep DIR]
    gatehouse ehr --gateway URL --org SYSTEM|VALUE --cert FILE --key FILE --ca FILE --server-cert FILE --server-key FILE --payer-jwks FILE [--subscribe] [--submit FILE]... [--inquire FILE]... [--for D] [--json]
    gatehouse load [--synthea FILE.tgz | --bundles DIR] [--rate N/s] [--concurrency C] [--duration D] [--json] [--target URL] [--data DIR] [--scope SCOPES]... [--write-bundles DIR]
    gatehouse serve [--config FILE] [--data DIR] [--listen ADDR] [--admin-listen ADDR]
    gatehouse token [--data DIR [--url URL] | --url URL --partner ID --cert FILE --key FILE --ca FILE --assertion-key FILE] [--scope SCOPES]...
    gatehouse token keygen --name NAME [--alg ALG] [--out DIR]
    gatehouse validate [--package FILE.tgz]... [--profile URL]... [--format text|json] [--notes] PATH...
    gatehouse killswitch status|engage|release [options]
    gatehouse payer load|pended|decide [options]
    gatehouse pki init|issue|revoke|crl|list [options]
    gatehouse posture [--config FILE] [--live URL [--data DIR | --cert FILE --key FILE --ca FILE --client-id ID --assertion-key FILE] [--scope SCOPES]] [--format table|json|sarif] [--fail-on high|medium|low]
    gatehouse dfd [--config FILE | --data DIR] [--format mermaid|dot|svg]
    gatehouse audit verify|show|export|prove|check-proof|keygen|rotate-signing-key [options]
    gatehouse fhirpath [--input FILE] [--json] EXPRESSION
    gatehouse version
    gatehouse help

Examples:
    # Run the prior-authorization round trip on the shipped PAS bundles.
    $ gatehouse demo

    # Start in development mode: keys and certificates go to ./gatehouse-data.
    $ gatehouse serve

    # Get an access token for the demo partner from a running gateway.
    $ gatehouse token --data ./gatehouse-data

    # Get an access token for a registered partner of a configured gateway.
    $ TOKEN=$(gatehouse token --url https://gatehouse.payer.example:8443 --partner acme-ehr \
          --cert acme-ehr.pem --key acme-ehr-key.pem --ca partner-ca.pem --assertion-key acme-ehr.jwk)
`

// Main runs the command line with args (without the program name) and
// returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdout, stderr)
}

// MainContext is Main with a context whose cancellation stops long-running
// commands such as serve, as SIGINT does.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	return env.dispatch(topLevel, args)
}

// commandGroup is a command whose first argument names a subcommand, such
// as "pki issue". Every entry prints its usage for -h, which the help table
// test checks by walking the tree from topLevel.
type commandGroup struct {
	name     string // the command words after "gatehouse", such as "pki issue"; empty at the top
	usage    string // full usage text, printed for -h and after errors
	commands map[string]command
}

// command is a leaf that runs with its arguments, or a nested group.
type command struct {
	run   func(e *env, args []string) int
	group *commandGroup
}

var topLevel = &commandGroup{
	usage: usage,
	commands: map[string]command{
		"serve":      {run: (*env).serve},
		"token":      {run: (*env).token},
		"demo":       {run: (*env).demo},
		"ehr":        {run: (*env).ehr},
		"load":       {run: (*env).load},
		"validate":   {run: (*env).validate},
		"pki":        {group: pkiGroup},
		"killswitch": {group: killswitchGroup},
		"payer":      {group: payerGroup},
		"posture":    {run: (*env).posture},
		"dfd":        {run: (*env).dfd},
		"audit":      {group: auditGroup},
		"fhirpath":   {run: (*env).fhirpath},
		"version":    {run: (*env).version},
	},
}

// names returns the subcommand names of g in alphabetical order.
func (g *commandGroup) names() []string {
	names := make([]string, 0, len(g.commands))
	for name := range g.commands {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// isHelp reports whether arg requests help in place of a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// dispatch runs the subcommand of g named by args[0]. Help goes to stdout
// with exit 0, and a missing or unknown subcommand is a usage error (exit 2).
func (e *env) dispatch(g *commandGroup, args []string) int {
	if len(args) == 0 {
		if g.name != "" {
			e.errorf("missing %s subcommand", g.name)
			e.hint("name one of the %s subcommands %s, and run 'gatehouse %s SUBCOMMAND -h' for its options", g.name, joinOr(g.names()), g.name)
		}
		fmt.Fprint(e.stderr, g.usage)
		return 2
	}
	name, rest := args[0], args[1:]
	if g.name == "" && (name == "--version" || name == "-version") {
		name = "version"
	}
	if isHelp(name) {
		fmt.Fprint(e.stdout, g.usage)
		return 0
	}
	cmd, ok := g.commands[name]
	switch {
	case !ok && g.name == "":
		e.errorf("unknown command %q", name)
		e.hint("run 'gatehouse help' for the list of commands")
		return 2
	case !ok:
		e.errorf("unknown %s subcommand %q", g.name, name)
		e.hint("run 'gatehouse %s help' for the list of subcommands", g.name)
		return 2
	case cmd.group != nil:
		return e.dispatch(cmd.group, rest)
	}
	return cmd.run(e, rest)
}

// env carries the output streams of one invocation.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// errorf prints an error line. An error among args prints without the
// package prefixes of its message.
func (e *env) errorf(format string, args ...any) {
	for i, arg := range args {
		if err, ok := arg.(error); ok {
			args[i] = errorText(err)
		}
	}
	fmt.Fprintf(e.stderr, "gatehouse: error: "+format+"\n", args...)
}

func (e *env) hint(format string, args ...any) {
	fmt.Fprintf(e.stderr, "gatehouse: hint: "+format+"\n", args...)
}

func (e *env) warnf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "gatehouse: warning: "+format+"\n", args...)
}

// flags returns a flag set whose errors and help go through parse.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args, which must hold options only, printing usage or an
// error. ok is false when the caller should return code.
func (e *env) parse(fs *flag.FlagSet, synopsis string, args []string) (code int, ok bool) {
	_, code, ok = e.parseArgs(fs, synopsis, args, 0)
	return code, ok
}

// parseOne is parse for commands that take one positional argument, before
// or after the options. The arg result is empty when none was given.
func (e *env) parseOne(fs *flag.FlagSet, synopsis string, args []string) (arg string, code int, ok bool) {
	var lead []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		lead, args = args[:1], args[1:]
	}
	pos, code, ok := e.parseArgs(fs, synopsis, args, 1-len(lead))
	if !ok {
		return "", code, false
	}
	pos = append(lead, pos...)
	if len(pos) > 0 {
		arg = pos[0]
	}
	return arg, 0, true
}

// parseArgs parses options and returns at most max positional arguments.
func (e *env) parseArgs(fs *flag.FlagSet, synopsis string, args []string, max int) ([]string, int, bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage:\n    %s\n", synopsis)
		if hasOptions(fs) {
			fmt.Fprint(e.stdout, "\nOptions:\n")
			printOptions(e.stdout, fs)
		}
		return nil, 0, false
	}
	if err != nil {
		e.errorf("%s", flagErrorMessage(err))
		e.hint("usage: %s", synopsis)
		return nil, 2, false
	}
	if fs.NArg() > max {
		e.errorf("unexpected argument %q", fs.Arg(max))
		e.hint("usage: %s", synopsis)
		return nil, 2, false
	}
	return fs.Args(), 0, true
}

// hasOptions reports whether fs defines any option.
func hasOptions(fs *flag.FlagSet) bool {
	found := false
	fs.VisitAll(func(*flag.Flag) { found = true })
	return found
}

// printOptions prints the options of fs as flag.PrintDefaults does, but
// spelled with two dashes, as the usage lines and the docs write them.
func printOptions(w io.Writer, fs *flag.FlagSet) {
	var buf strings.Builder
	fs.SetOutput(&buf)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, optionLine.ReplaceAllString(buf.String(), "  --"))
}

// optionLine matches the start of an option's first line in the output of
// flag.PrintDefaults; its description lines start with a tab instead.
var optionLine = regexp.MustCompile(`(?m)^  -`)

// flagErrorMessage rewrites an error of flag.FlagSet.Parse in the words the
// other errors use, with the option spelled with two dashes.
func flagErrorMessage(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown option --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "missing value for --" + name
	}
	// flag writes `invalid value "x" for flag -name: reason` and, for
	// booleans, `invalid boolean value "x" for -name: reason`.
	for _, sep := range []string{" for flag -", " for -"} {
		if before, after, ok := strings.Cut(msg, sep); ok && strings.HasPrefix(before, "invalid ") {
			return before + " for --" + after
		}
	}
	return msg
}
