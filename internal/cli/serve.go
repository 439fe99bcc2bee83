package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

const serveSynopsis = "gatehouse serve [--config FILE] [--data DIR] [--listen ADDR] [--admin-listen ADDR]"

// endpointFile is the file, written into a development data directory
// while serving, from which `gatehouse token` reads where the gateway
// listens.
const endpointFile = "endpoint.json"

func (e *env) serve(args []string) int {
	fs := e.flags("serve")
	cfgPath := fs.String("config", "", "configuration `FILE` (YAML); without it, development mode")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR` for keys, certificates and the database")
	listen := fs.String("listen", "127.0.0.1:8443", "development-mode listen `ADDR` (host:port)")
	adminListen := fs.String("admin-listen", "127.0.0.1:9443", "development-mode admin listener `ADDR` (metrics, health, kill switch, console at /console/); empty disables it")
	if code, ok := e.parse(fs, serveSynopsis, args); !ok {
		return code
	}
	if code, ok := e.checkServeFlags(fs, *cfgPath, *listen, *adminListen); !ok {
		return code
	}

	cfg, layout, err := e.serveConfig(*cfgPath, *dataDir, *listen, *adminListen)
	if *cfgPath != "" && e.printConfigNotFound(err, *cfgPath, "run 'gatehouse serve' without --config for development mode") {
		return 2
	}
	if err != nil {
		e.errorf("%v", err)
		if *cfgPath == "" {
			return 1
		}
		e.hint("%s", configFixHint(err, *cfgPath))
		// A file that cannot be used at all is a usage error, like a
		// missing one.
		var fileErr *config.FileError
		if errors.As(err, &fileErr) {
			return 2
		}
		return 1
	}
	// Every file problem is reported in one run, before anything is
	// opened or created. A missing file is a usage error, like a missing
	// configuration file.
	if *cfgPath != "" && !e.checkConfigFiles(cfg, *cfgPath) {
		return 2
	}

	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := e.ctx
	opts := app.Options{Logger: log, ConfigFile: *cfgPath}
	if layout != nil {
		// Development mode's built-in payer takes the patient of the
		// shipped bundles, which the try-it commands and 'gatehouse ehr'
		// send, as its member.
		if opts.PayerMembers, err = demo.ShippedBundles(); err != nil {
			e.errorf("%v", err)
			return 1
		}
	}
	rt, err := app.Start(ctx, cfg, opts)
	if err != nil {
		e.errorf("start: %v", err)
		if errors.Is(err, auditlog.ErrNotExtended) {
			e.notExtendedHint(cfg, *cfgPath)
			return 1
		}
		var origin *app.OriginMismatchError
		if errors.As(err, &origin) {
			e.hint("set audit.origin to %q, the key's name, or create a key for %s with 'gatehouse audit keygen --origin %s' and set audit.signing_key_file to it",
				origin.KeyName, origin.Origin, shellWord(origin.Origin))
			return 1
		}
		e.startHint(err, *cfgPath, *adminListen, cfg.Database.URL)
		return 1
	}
	if layout != nil {
		if err := writeEndpoint(layout.Dir, rt); err != nil {
			e.warnf("could not write %s: %v", endpointFile, err)
		}
		e.printTryIt(layout, rt.FHIRBase)
	}

	<-ctx.Done()
	log.Info("shutting down")
	if layout != nil {
		// A stale endpoint file would point gatehouse token at a dead port.
		_ = os.Remove(filepath.Join(layout.Dir, endpointFile))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := rt.Close(shutdownCtx); err != nil {
		e.errorf("shutdown: %v", err)
		return 1
	}
	return 0
}

// checkServeFlags rejects what serve would otherwise ignore or fail on
// later: the development-mode options next to --config, and listen
// addresses that are not host:port.
func (e *env) checkServeFlags(flags *flag.FlagSet, cfgPath, listen, adminListen string) (int, bool) {
	if cfgPath != "" {
		var devOnly []string
		flags.Visit(func(f *flag.Flag) {
			if f.Name == "listen" || f.Name == "admin-listen" || f.Name == "data" {
				devOnly = append(devOnly, "--"+f.Name)
			}
		})
		if len(devOnly) > 0 {
			e.errorf("%s cannot be combined with --config: these options apply to development mode only", strings.Join(devOnly, " and "))
			e.hint("set listen, admin.listen and the file paths in %s, or drop --config for development mode", cfgPath)
			return 2, false
		}
		return 0, true
	}
	for _, a := range []struct{ name, value string }{{"--listen", listen}, {"--admin-listen", adminListen}} {
		if a.name == "--admin-listen" && a.value == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.value); err != nil || port == "" {
			e.errorf("%s: invalid address %q: use host:port, such as 127.0.0.1:8443", a.name, a.value)
			e.hint("usage: %s", serveSynopsis)
			return 2, false
		}
	}
	return 0, true
}

// notExtendedHint prints how to see what changed in a log that no longer
// extends the checkpoint in audit.checkpoint_file, and how to start after
// a deliberate restore. With a configuration file the command names it,
// so no database URL or password appears in the output.
func (e *env) notExtendedHint(cfg *config.File, cfgPath string) {
	checkpoint := shellWord(cfg.Resolve(cfg.Audit.CheckpointFile))
	source := "--config " + shellWord(cfgPath)
	if cfgPath == "" {
		database := "DATABASE_URL"
		if dialect, target, err := storage.ParseURL(cfg.DatabaseURL()); err == nil {
			switch {
			case dialect == storage.SQLite:
				database = shellWord(target)
			case storage.Redacted(cfg.DatabaseURL()) == target:
				// A URL without a password can be printed whole.
				database = shellWord(target)
			}
		}
		verifierKey, ok := verifierBeside(cfg.Resolve(cfg.Audit.SigningKeyFile))
		if !ok {
			verifierKey = checkpointVerifierFile
		}
		source = "--database " + database + " --key " + shellWord(verifierKey)
	}
	e.hint("see what changed with 'gatehouse audit verify %s --from-checkpoint %s'; if the database was restored on purpose, move %s aside, keep it with the incident notes, and start again",
		source, checkpoint, checkpoint)
}

// verifierBeside returns the verifier key that 'audit keygen' wrote beside
// the signing key: the same name ending in .vkey, or checkpoint.vkey in
// the same directory. ok is false when neither exists.
func verifierBeside(signingKey string) (path string, ok bool) {
	for _, p := range []string{
		strings.TrimSuffix(signingKey, filepath.Ext(signingKey)) + ".vkey",
		filepath.Join(filepath.Dir(signingKey), checkpointVerifierFile),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// SQLSTATE codes of PostgreSQL start-up failures a setting can fix.
const (
	pgInvalidPassword   = "28P01"
	pgInvalidSchemaName = "3F000"
	pgDeadlockDetected  = "40P01"
)

// startHint explains a start failure the user can fix: a missing file, a
// file a key names that cannot be used, a PostgreSQL password or schema,
// or a listen address that another process already uses. databaseURL is the configuration's database.url.
func (e *env) startHint(err error, cfgPath, adminListen, databaseURL string) {
	switch storage.SQLState(err) {
	case pgInvalidPassword:
		e.hint("PostgreSQL rejected the password: set PGPASSWORD in the gateway's environment, or add a line for the host, port, database and user of database.url to ~/.pgpass (or the file PGPASSFILE names); keep the password out of database.url")
		return
	case pgInvalidSchemaName:
		if schema := searchPath(databaseURL); schema != "" {
			e.hint("the schema %s that search_path in database.url names does not exist, or the database user may not use it: create it (CREATE SCHEMA %s AUTHORIZATION the_user), or correct search_path", schema, schema)
			return
		}
		e.hint("the database user has no schema to create Gatehouse's tables in: create one it owns (CREATE SCHEMA gatehouse AUTHORIZATION the_user) and add search_path=gatehouse to the query of database.url, or grant the user CREATE on schema public")
		return
	case pgDeadlockDetected:
		// The schema check skips objects already in place, so only a first
		// start on an empty schema locks tables other replicas write.
		e.hint("PostgreSQL aborted the start in a deadlock with the writes of another process on the same database, such as another replica serving traffic; start the gateway again, because the schema check only creates what is missing")
		return
	}
	if hint := missingDirHint(err, cfgPath); hint != "" {
		e.hint("%s", hint)
		return
	}
	if cfgPath != "" && errors.Is(err, os.ErrNotExist) {
		e.hint("create the missing file or correct its key in %s; docs/operations.md, 'Set up a deployment', lists the files a configuration needs", cfgPath)
		return
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		if hint := fileKeyHint(err, cfgPath); hint != "" {
			e.hint("%s", hint)
		}
		return
	}
	addr := "the listen address"
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Addr != nil {
		addr = opErr.Addr.String()
	}
	if cfgPath != "" {
		e.hint("another process listens on %s; stop it, or pick another address in %s", addr, cfgPath)
		return
	}
	option := "--listen"
	if addr == adminListen {
		option = "--admin-listen"
	}
	e.hint("another process listens on %s; pick another with %s or stop it", addr, option)
}

// missingDirHint returns a hint for an error that names a directory that
// does not exist, or "" when err names none. cfgPath is the configuration
// file, empty in development mode, which creates its own directories.
func missingDirHint(err error, cfgPath string) string {
	var dirErr *storage.MissingDirError
	if cfgPath == "" || !errors.As(err, &dirErr) {
		return ""
	}
	dir := shellWord(dirErr.Dir)
	return fmt.Sprintf("create the directory for the account the gateway runs as (install -d -m 0700 %s), or correct the key named above in %s", dir, cfgPath)
}

// searchPath returns the search_path parameter of a PostgreSQL URL, or "".
func searchPath(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("search_path")
}

// serveConfig loads the configuration file, or prepares development mode
// when there is none.
func (e *env) serveConfig(cfgPath, dataDir, listen, adminListen string) (*config.File, *devmode.Layout, error) {
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		return cfg, nil, err
	}
	cfg, layout, created, err := app.DevConfig(dataDir, listen, adminListen)
	if err != nil {
		return nil, nil, err
	}
	e.warnf("development mode: a private CA and keys were generated on this machine; it is not for production, use --config")
	for _, w := range layout.Warnings {
		e.warnf("%s", w)
	}
	if created {
		fmt.Fprintf(e.stderr, "gatehouse: created development data in %s\n", layout.Dir)
	} else {
		fmt.Fprintf(e.stderr, "gatehouse: using development data in %s\n", layout.Dir)
	}
	return cfg, layout, nil
}

// endpoint is the content of endpointFile.
type endpoint struct {
	PublicURL string `json:"public_url"`
	AdminURL  string `json:"admin_url,omitempty"`
}

func writeEndpoint(dir string, rt *app.Running) error {
	ep := endpoint{PublicURL: rt.PublicURL}
	if rt.AdminAddr != nil {
		_, port, _ := net.SplitHostPort(rt.AdminAddr.String())
		ep.AdminURL = "https://localhost:" + port
	}
	b, _ := json.Marshal(ep)
	// Written aside and renamed, so that a reader never reads a partial file.
	tmp := filepath.Join(dir, endpointFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, endpointFile))
}

// tryItBundle is the shipped PAS request the try-it commands submit. serve
// copies it into the data directory, so the command does not depend on a
// source checkout.
const tryItBundle = "pas-2.2.1-ReferralAuthorizationBundleExample.json"

// writeTryItBundle copies tryItBundle into DIR/examples and returns its
// path. An existing copy is kept.
func writeTryItBundle(dir string) (string, error) {
	p := filepath.Join(dir, "examples", tryItBundle)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	data, err := demo.ShippedBundle(tryItBundle)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, 0o644)
}

// printTryIt prints the exact commands that exercise the running gateway.
// Paths are relative to the working directory, which the text names.
func (e *env) printTryIt(l *devmode.Layout, fhirBase string) {
	self := selfCommand()
	wd, wdErr := os.Getwd()
	rel := func(p string) string {
		if wdErr == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	bundle, err := writeTryItBundle(l.Dir)
	if err != nil {
		e.warnf("could not copy the example bundle into %s: %v", l.Dir, err)
		return
	}
	where := "in the same directory"
	if wdErr == nil {
		where = "in " + wd
	}
	tls := fmt.Sprintf("--cacert %s --cert %s --key %s", rel(l.CACertFile), rel(l.ClientCertFile), rel(l.ClientKeyFile))
	fmt.Fprintf(e.stdout, `
Gatehouse is running. Try it from another terminal, %s:

    TOKEN=$(%s token --data %s)
    curl %s \
      -H "Authorization: Bearer $TOKEN" %s/metadata
    curl %s \
      -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/fhir+json" \
      --data-binary @%s \
      '%s/Claim/$submit'

Press Ctrl-C to stop.
`, where, self, rel(l.Dir), tls, fhirBase, tls, rel(bundle), fhirBase)
}

// selfCommand returns how the user invoked this program: "go run
// ./cmd/gatehouse" when it runs from the go build cache.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil || strings.Contains(exe, "go-build") {
		return "go run ./cmd/gatehouse"
	}
	if p, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(p, exe); err == nil && !strings.HasPrefix(r, "..") {
			return "./" + r
		}
	}
	// An absolute path works from any directory, with or without PATH.
	return exe
}

// printConfigNotFound prints the error and hint for a --config file that
// does not exist, so that every command words it alike, and reports
// whether err was that. alternative completes the hint "check the path,
// or ...".
func (e *env) printConfigNotFound(err error, cfgPath, alternative string) bool {
	if !errors.Is(err, os.ErrNotExist) {
		return false
	}
	e.errorf("configuration file %s not found", cfgPath)
	e.hint("check the path, or %s", alternative)
	return true
}

// configFixHint returns where to look after config.Load failed on cfgPath.
// A syntax error names a line, and every other error a key.
func configFixHint(err error, cfgPath string) string {
	var fileErr *config.FileError
	if errors.As(err, &fileErr) {
		return fmt.Sprintf("pass a YAML configuration file of at most %d MiB with one document; examples/gatehouse.yaml is a commented starting point", config.MaxFileBytes>>20)
	}
	if errors.Is(err, config.ErrSyntax) {
		return "fix the YAML syntax at the line named above in " + cfgPath
	}
	return "fix the key named above in " + cfgPath
}

// shellWord returns s as one word for a POSIX shell, so that a hint's
// command runs as printed. A word of plain characters stays as it is.
// Any other goes in double quotes, with the four characters that are
// still special there escaped.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:,+@%=") == "" {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' || r == '$' || r == '`' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
