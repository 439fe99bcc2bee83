package cli

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// checkConfigFiles runs the file preflight of the configuration at
// cfgPath and prints one error line for each problem and then one hint.
// It returns false when there was a problem. Nothing is opened for
// writing, so a configuration that fails here leaves no database file
// behind.
func (e *env) checkConfigFiles(cfg *config.File, cfgPath string) bool {
	problems := app.CheckFiles(cfg)
	if len(problems) == 0 {
		return true
	}
	for _, p := range problems {
		e.errorf("%v", p)
	}
	e.hint("%s", fileProblemsHint(problems, cfg, cfgPath))
	return false
}

// checkOperatorFiles is checkConfigFiles for an operator command that
// uses the files of the configuration's keys, with "database" for the
// database, and starts no gateway. extra are more error lines of the same
// run, printed after the problems.
func (e *env) checkOperatorFiles(cfg *config.File, cfgPath string, databaseMustExist bool, extra []string, keys ...string) bool {
	problems := app.CheckFilesOf(cfg, databaseMustExist, keys...)
	if len(problems) == 0 && len(extra) == 0 {
		return true
	}
	for _, p := range problems {
		e.errorf("%v", p)
	}
	for _, line := range extra {
		e.errorf("%s", line)
	}
	if len(problems) > 0 {
		e.hint("%s", fileProblemsHint(problems, cfg, cfgPath))
	}
	return false
}

// warnConfigFiles prints each preflight problem of the configuration as
// a warning and one hint. A posture audit goes on without the files: it
// reports what it could not check as findings, and the audit may run on
// another host than the gateway's.
func (e *env) warnConfigFiles(cfg *config.File, cfgPath string) {
	problems := app.CheckFiles(cfg)
	if len(problems) == 0 {
		return
	}
	for _, p := range problems {
		e.warnf("%v; 'gatehouse serve' would not start", p)
	}
	e.hint("%s", fileProblemsHint(problems, cfg, cfgPath))
}

// fileProblemsHint returns how to create what the preflight found
// missing, with the runbook's commands, and how to fix a file the
// gateway cannot read or a directory it cannot write.
func fileProblemsHint(problems []*app.FileProblem, cfg *config.File, cfgPath string) string {
	var dirs, writable, steps []string
	account := currentAccount()
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, p := range problems {
		var dirErr *storage.MissingDirError
		var unusable *app.DirError
		switch {
		case errors.As(p.Err, &dirErr):
			add(&dirs, shellWord(dirErr.Dir))
		case errors.As(p.Err, &unusable) && errors.Is(unusable, fs.ErrPermission):
			add(&writable, shellWord(unusable.Dir))
		case errors.As(p.Err, &unusable):
			add(&steps, "name a directory, not a file, as the place of each file the gateway creates (move "+shellWord(unusable.Dir)+" aside, or correct the key)")
		case errors.Is(p.Err, fs.ErrPermission) && (p.Key == "database.path" || p.Key == "database.url"):
			add(&steps, "give "+account+", the account this command runs as, read and write access to the database file (chown "+account+" "+shellWord(p.Path)+"; chmod 0600 "+shellWord(p.Path)+")")
		case errors.Is(p.Err, fs.ErrNotExist):
			add(&steps, createStep(p, cfg, cfgPath))
		default:
			add(&steps, "make each file named above a regular file that the account the gateway runs as can read, with mode 0600 for private keys")
		}
	}
	if len(writable) > 0 {
		steps = append([]string{"give " + account + ", the account this command runs as, write access to the directories (chown " + account + " " + strings.Join(writable, " ") + "; chmod 0700 " + strings.Join(writable, " ") + "), or point the keys at directories it owns"}, steps...)
	}
	if len(dirs) > 0 {
		steps = append([]string{"create the directories for the account the gateway runs as (install -d -m 0700 " + strings.Join(dirs, " ") + ")"}, steps...)
	}
	return "fix each file named above, or correct its key in " + cfgPath + ": " + strings.Join(steps, "; ") +
		"; docs/operations.md, 'Set up a deployment', gives each step"
}

// createStep returns the command or source of a missing file, by the key
// that names it.
func createStep(p *app.FileProblem, cfg *config.File, cfgPath string) string {
	key := p.Key
	dir := shellWord(filepath.Dir(p.Path))
	switch {
	case key == "audit.signing_key_file":
		return "'gatehouse audit keygen --origin " + shellWord(cfg.Audit.Origin) + " --out " + dir + "' writes the checkpoint key checkpoint.key"
	case key == "token.signing_key_file":
		return "'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + shellWord(p.Path) + "' creates the token signing key"
	case key == "outbound.assertion_key_file":
		name := "NAME"
		if base := filepath.Base(p.Path); strings.HasSuffix(base, ".jwk") {
			name = shellWord(strings.TrimSuffix(base, ".jwk"))
		}
		return "'gatehouse token keygen --name " + name + " --out " + dir + "' writes the assertion key " + name + ".jwk"
	case key == "database.path" || key == "database.url":
		return "the gateway creates the database on its first start ('gatehouse serve --config " + shellWord(cfgPath) + "'), so point " + key + " at the database it uses"
	case key == "audit.recipients_file":
		return "the security team lists its age public keys in the recipients file, one a line (age-keygen -y identity.txt, on its own machine)"
	case strings.HasSuffix(key, ".jwks_file"):
		return "each partner sends its public JWK set"
	case ownPKIFile(key):
		return "'gatehouse pki init' creates a CA with its crl.pem, and 'gatehouse pki issue' certificates with their keys"
	case strings.HasSuffix(key, "ca_file"), strings.HasSuffix(key, "issuing_ca.cert_file"):
		return "the CA certificates of partners, witnesses and the upstream come from whoever runs them"
	}
	return "restore the other files named above"
}

// ownPKIFile reports whether key names a file of the payer's own private
// CA: its certificates, the keys 'gatehouse pki issue' writes, the CA
// certificates that the gateway's listeners trust, and the CRL.
func ownPKIFile(key string) bool {
	switch key {
	case "tls.cert_file", "tls.key_file", "tls.client_ca_file", "tls.crl_file",
		"admin.client_ca_file", "outbound.client_ca_file", "outbound.cert_file", "outbound.key_file",
		"payer.notifications.cert_file", "payer.notifications.key_file", "payer.notifications.ca_file":
		return true
	}
	return false
}

// currentAccount returns the name of the account this process runs as,
// which the preflight checks access for, as a shell word. It is the uid
// when the name cannot be looked up, because chown accepts either.
func currentAccount() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return shellWord(u.Username)
	}
	return strconv.Itoa(os.Getuid())
}
