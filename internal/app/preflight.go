package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// FileProblem is a file that the configuration names and that start-up
// cannot use. Such a file is missing, is not a regular file or cannot be
// opened for reading, or it is a file the gateway creates or rewrites and
// its directory is missing, is not a directory or is not writable.
type FileProblem struct {
	// Key is the configuration key, such as "tls.cert_file".
	Key string
	// Path is the file the key names, resolved against the directory of
	// the configuration file.
	Path string
	// Err describes the problem without repeating Path. A missing directory
	// is a *storage.MissingDirError, and every missing file or directory
	// matches fs.ErrNotExist. A directory that exists but cannot hold the
	// file is a *DirError.
	Err error
}

func (p *FileProblem) Error() string { return p.Key + " " + p.Path + ": " + p.Err.Error() }

func (p *FileProblem) Unwrap() error { return p.Err }

// The FileProblem errors that name no directory.
var (
	errNoFile     = &reason{msg: "no such file", err: fs.ErrNotExist}
	errNotRegular = &reason{msg: "not a regular file: a directory, device or pipe is named where a file is expected"}
	errNoAccess   = &reason{msg: "permission denied: the account the gateway runs as cannot open it for reading", err: fs.ErrPermission}
	errReadOnly   = &reason{msg: "permission denied: the account the gateway runs as cannot open it for writing", err: fs.ErrPermission}
)

// DirError is a FileProblem error for the directory that the gateway
// creates or rewrites a file in: the path is not a directory, or the
// account the gateway runs as cannot create files in it. Err is
// syscall.ENOTDIR or matches fs.ErrPermission.
type DirError struct {
	Dir string
	Err error
}

func (e *DirError) Error() string {
	if errors.Is(e.Err, fs.ErrPermission) {
		return "directory " + e.Dir + " is not writable: the account the gateway runs as cannot create files in it"
	}
	return e.Dir + " is not a directory: the file must be created in a directory"
}

func (e *DirError) Unwrap() error { return e.Err }

// reason is a FileProblem error whose text is written for the operator
// and which still matches the fs error that it represents.
type reason struct {
	msg string
	err error
}

func (r *reason) Error() string { return r.msg }

func (r *reason) Unwrap() error { return r.err }

// CheckFiles checks every file and directory that Start would read or
// create files in, as cfg names them, and returns one problem for each
// that Start would fail on, in the order of the configuration's
// sections. It reads no file contents and creates nothing, so the
// loaders in Start still validate what a file contains. Files that
// Start does not read with cfg, such as the payer's rules file when the
// upstream is not the built-in payer, are not checked. A path named by
// several keys is checked, and reported, once.
func CheckFiles(cfg *config.File) []*FileProblem {
	c := preflight{cfg: cfg, seen: map[string]bool{}}
	c.inputs(cfg)
	c.database(cfg)
	if cfg.Audit.CheckpointFile != "" {
		c.checkpoint("audit.checkpoint_file", cfg.Resolve(cfg.Audit.CheckpointFile))
	}
	return c.problems
}

// CheckFilesOf is CheckFiles for an operator command that uses some of a
// deployment's files without starting it: it returns only the problems
// of the named keys, where "database" names database.path or
// database.url, whichever cfg sets. With databaseMustExist, a missing
// SQLite database file is a problem too, for a command that creates none.
//
// NOTE: CheckFiles reports a path named by several keys under the first
// of them, so a problem of a named key whose path an earlier key also
// names is left out.
func CheckFilesOf(cfg *config.File, databaseMustExist bool, keys ...string) []*FileProblem {
	wanted := map[string]bool{}
	for _, k := range keys {
		if k == "database" {
			k = databaseKey(cfg)
		}
		wanted[k] = true
	}
	var problems []*FileProblem
	reported := false
	for _, p := range CheckFiles(cfg) {
		if wanted[p.Key] {
			problems = append(problems, p)
			reported = reported || p.Key == databaseKey(cfg)
		}
	}
	if !databaseMustExist || !wanted[databaseKey(cfg)] || reported {
		return problems
	}
	dialect, path, err := storage.ParseURL(cfg.DatabaseURL())
	if err != nil || dialect != storage.SQLite {
		return problems
	}
	if _, err := os.Stat(path); err != nil {
		// The database comes first, because the command opens it first.
		problems = append([]*FileProblem{{Key: databaseKey(cfg), Path: path, Err: statError(err)}}, problems...)
	}
	return problems
}

// preflight collects the problems of CheckFiles.
type preflight struct {
	cfg      *config.File
	seen     map[string]bool // resolved paths already checked
	problems []*FileProblem
}

// inputs checks the files that Start reads, under the conditions in
// which it reads them.
func (c *preflight) inputs(cfg *config.File) {
	c.file("tls.cert_file", cfg.TLS.CertFile)
	c.file("tls.key_file", cfg.TLS.KeyFile)
	c.file("tls.client_ca_file", cfg.TLS.ClientCAFile)
	c.file("tls.crl_file", cfg.TLS.CRLFile)
	if cfg.Admin.Listen != "" {
		c.file("admin.client_ca_file", cfg.Admin.ClientCAFile)
	}
	if cfg.Outbound.Listen != "" {
		c.file("outbound.client_ca_file", cfg.Outbound.ClientCAFile)
		c.file("outbound.cert_file", cfg.Outbound.CertFile)
		c.file("outbound.key_file", cfg.Outbound.KeyFile)
	}
	// The public half of the assertion key is served even without an
	// outbound listener.
	c.file("outbound.assertion_key_file", cfg.Outbound.AssertionKeyFile)
	c.file("token.signing_key_file", cfg.Token.SigningKeyFile)

	c.file("audit.signing_key_file", cfg.Audit.SigningKeyFile)
	c.file("audit.recipients_file", cfg.Audit.RecipientsFile)
	c.file("audit.retired_verifier_keys_file", cfg.Audit.RetiredVerifierKeysFile)
	for i, w := range cfg.Audit.Witnesses {
		c.file(fmt.Sprintf("audit.witnesses[%d].ca_file", i), w.CAFile)
	}

	c.file("upstream.ca_file", cfg.Upstream.CAFile)
	if cfg.Upstream.URL == config.Builtin {
		c.file("payer.rules_file", cfg.Payer.RulesFile)
		if n := cfg.Payer.Notifications; n.CertFile != "" {
			c.file("payer.notifications.cert_file", n.CertFile)
			c.file("payer.notifications.key_file", n.KeyFile)
			c.file("payer.notifications.ca_file", n.CAFile)
		}
	}

	for i, p := range cfg.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		if p.IssuingCA != nil {
			c.file(at+".issuing_ca.cert_file", p.IssuingCA.CertFile)
		}
		c.file(at+".jwks_file", p.JWKSFile)
		c.file(at+".jwks_ca_file", p.JWKSCAFile)
		if p.Outbound != nil && cfg.Outbound.Listen != "" {
			c.file(at+".outbound.ca_file", p.Outbound.CAFile)
		}
	}
}

// database checks the directory of a SQLite database, which Start
// creates the database file in on the first start. A PostgreSQL
// database names no file.
func (c *preflight) database(cfg *config.File) {
	dialect, path, err := storage.ParseURL(cfg.DatabaseURL())
	if err != nil || dialect != storage.SQLite {
		return
	}
	// SQLite writes the database file, and its -wal and -shm files beside
	// it, so both the file and the directory must be writable.
	c.created(databaseKey(cfg), path, unix.R_OK|unix.W_OK)
}

// checkpoint checks audit.checkpoint_file, which need not exist before
// the first checkpoint, but whose directory must. A symbolic link at
// path is followed as the checkpoint sink follows it, so a link into
// storage that is not mounted has no directory either.
func (c *preflight) checkpoint(key, path string) {
	target, err := auditlog.FileSinkTarget(path)
	if err != nil {
		c.add(key, path, err)
		return
	}
	// The checkpoint is replaced by a rename from a new file in the same
	// directory, and read back on start.
	c.created(key, target, unix.R_OK)
}

// file checks that a file Start reads exists, is a regular file and can
// be opened for reading. An empty name is a key that is not set.
func (c *preflight) file(key, name string) {
	if name == "" {
		return
	}
	path := c.cfg.Resolve(name)
	if c.seen[path] {
		return
	}
	c.seen[path] = true

	info, err := os.Stat(path)
	if err != nil {
		c.add(key, path, statError(err))
		return
	}
	if !info.Mode().IsRegular() {
		c.add(key, path, errNotRegular)
		return
	}
	// Opening the file is the only reliable test of read access: mode
	// bits do not show ACLs or a mandatory access control policy.
	f, err := os.Open(path)
	if err != nil {
		c.add(key, path, statError(err))
		return
	}
	f.Close()
}

// created checks a file that Start creates or rewrites: its directory
// must exist and be writable, and the file, if it exists, must be a
// regular file that allows the access mode, a mask of unix.R_OK and
// unix.W_OK.
func (c *preflight) created(key, path string, mode uint32) {
	if c.seen[path] {
		return
	}
	c.seen[path] = true

	if err := checkDir(filepath.Dir(path)); err != nil {
		c.add(key, path, err)
		return
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		c.add(key, path, statError(err))
	case !info.Mode().IsRegular():
		c.add(key, path, errNotRegular)
	case unix.Access(path, mode&unix.R_OK) != nil:
		c.add(key, path, errNoAccess)
	case unix.Access(path, mode&unix.W_OK) != nil:
		c.add(key, path, errReadOnly)
	}
}

// checkDir returns why no file can be created in dir, or nil. The
// kernel checks the access with access(2), so ACLs, read-only mounts and
// mandatory access control count, and nothing is created.
func checkDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &storage.MissingDirError{Dir: dir}
	case errors.Is(err, syscall.ENOTDIR), err == nil && !info.IsDir():
		return &DirError{Dir: dir, Err: syscall.ENOTDIR}
	case err != nil:
		return statError(err)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return &DirError{Dir: dir, Err: fs.ErrPermission}
	}
	return nil
}

func (c *preflight) add(key, path string, err error) {
	c.problems = append(c.problems, &FileProblem{Key: key, Path: path, Err: err})
}

// statError returns the reason of a failed os.Stat or os.Open without
// the path, which the FileProblem names already.
func statError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errNoFile
	case errors.Is(err, fs.ErrPermission):
		return errNoAccess
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}
