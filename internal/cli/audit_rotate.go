package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

const rotateSynopsis = "gatehouse audit rotate-signing-key --config FILE --new-key FILE"

// auditRotateSigningKey hands the audit log over from the checkpoint
// signing key in audit.signing_key_file to a new key. It verifies the
// whole log, stores a handover checkpoint signed by both keys, writes it to
// audit.checkpoint_file and prints what the operator does next. Every
// gateway writing to the database must be stopped, since one that kept
// signing with the old key would sign checkpoints that verification
// reports. Exit 0 on success, 1 when the log is not intact, 2 on errors.
func (e *env) auditRotateSigningKey(args []string) int {
	fs := e.flags("audit rotate-signing-key")
	configFile := fs.String("config", "", "the gateway's configuration `FILE`; its audit.signing_key_file is the key in use")
	newKeyFile := fs.String("new-key", "", "the new signing key `FILE`, a checkpoint.key that 'gatehouse audit keygen' wrote for the same audit.origin")
	if code, ok := e.parse(fs, rotateSynopsis, args); !ok {
		return code
	}
	if *configFile == "" || *newKeyFile == "" {
		e.errorf("missing --config or --new-key")
		e.hint("usage: %s", rotateSynopsis)
		return 2
	}
	src := &auditSource{data: new(string), database: new(string), config: configFile, keys: new(fileList)}
	if !e.loadAuditSource(src) {
		return 2
	}
	cfg := src.cfg

	signingKey := cfg.Resolve(cfg.Audit.SigningKeyFile)
	opts, ok := e.rotationKeys(signingKey, *newKeyFile, cfg.Audit.Origin)
	if !ok {
		return 2
	}
	if opts.RetiredKeys, ok = e.retiredKeys(cfg); !ok {
		return 2
	}
	checkpointFile := src.checkpointFile()
	if checkpointFile != "" {
		data, err := safefile.ReadCapped(checkpointFile, auditlog.MaxCheckpointBytes)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			e.errorf("audit.checkpoint_file: %v", err)
			return 2
		}
		opts.Published = data
	}

	db, _, ok := e.openAudit(src)
	if !ok {
		return 2
	}
	defer db.Close()
	cp, code := e.rotate(db, opts)
	if code != 0 {
		return code
	}
	if checkpointFile != "" {
		if err := auditlog.WriteCheckpointFile(checkpointFile, cp); err != nil {
			e.errorf("audit.checkpoint_file: %v", err)
			e.hint("the handover checkpoint is stored in the database; copy it into %s before the restart, with 'gatehouse audit verify --config %s --key OLD.vkey --key NEW.vkey --no-checkpoint-file --write-checkpoint %s'", checkpointFile, *configFile, checkpointFile)
			return 2
		}
	}
	e.printRotationSteps(signingKey, *newKeyFile, cfg.Audit.RetiredVerifierKeysFile, opts, cp)
	return 0
}

// rotationKeys loads the key in use and the new key and checks that the
// new one can take over.
func (e *env) rotationKeys(oldPath, newPath, origin string) (auditlog.RotateOptions, bool) {
	var opts auditlog.RotateOptions
	var err error
	if opts.Old, opts.OldKey, err = auditlog.LoadSigningKey(oldPath); err != nil {
		e.errorf("audit.signing_key_file: %v", err)
		e.hint("run the rotation on the gateway host, as the account the gateway runs as, with the key it signs with now")
		return opts, false
	}
	if opts.New, opts.NewKey, err = auditlog.LoadSigningKey(newPath); err != nil {
		e.errorf("--new-key: %v", err)
		e.hint("create the new key with 'gatehouse audit keygen --origin %s --out DIR' and pass DIR/%s", origin, checkpointKeyFile)
		return opts, false
	}
	switch {
	case opts.New.Name() != origin:
		e.errorf("--new-key %s signs for log %q, not %q (audit.origin)", newPath, opts.New.Name(), origin)
		e.hint("a log's origin never changes: create the key with 'gatehouse audit keygen --origin %s --out DIR'", origin)
		return opts, false
	case opts.New.KeyHash() == opts.Old.KeyHash():
		e.errorf("--new-key %s is the key in audit.signing_key_file (%s+%08x)", newPath, opts.New.Name(), opts.New.KeyHash())
		e.hint("create a new key with 'gatehouse audit keygen --origin %s --out DIR'", origin)
		return opts, false
	}
	return opts, true
}

// rotate stores the handover checkpoint, reporting a log that is not
// intact with exit code 1.
func (e *env) rotate(db *storage.DB, opts auditlog.RotateOptions) (*auditlog.SignedCheckpoint, int) {
	cp, err := auditlog.RotateSigningKey(e.ctx, db, opts)
	var notIntact *auditlog.RotationError
	switch {
	case errors.As(err, &notIntact):
		e.reportTampered(notIntact.Report)
		e.errorf("the signing key was not rotated, because the log it would vouch for is not intact")
		e.hint("run 'gatehouse audit verify' and restore the database before rotating; a handover signed over a changed log would make the change look legitimate")
		return nil, 1
	case err != nil:
		e.errorf("%v", err)
		return nil, 2
	}
	return cp, 0
}

// printRotationSteps prints what the operator does after the handover.
func (e *env) printRotationSteps(oldPath, newPath, retiredFile string, opts auditlog.RotateOptions, cp *auditlog.SignedCheckpoint) {
	oldVkey, err := auditlog.VerifierKeyOf(oldPath)
	if err != nil {
		oldVkey = "(the line of the checkpoint.vkey beside " + oldPath + ")"
	}
	w := e.stdout
	fmt.Fprintf(w, "gatehouse: stored handover checkpoint of size %d, signed by %s+%08x (old) and %s+%08x (new)\n",
		cp.Size, opts.Old.Name(), opts.Old.KeyHash(), opts.New.Name(), opts.New.KeyHash())
	fmt.Fprintln(w, "Next steps, before any gateway starts again:")
	fmt.Fprintf(w, "  1. Replace audit.signing_key_file %s with %s (mode 0600), and the checkpoint.vkey beside it with the new key's .vkey.\n", oldPath, newPath)
	if retiredFile == "" {
		fmt.Fprintln(w, "  2. Set audit.retired_verifier_keys_file to a file that contains this line (the old verifier key):")
	} else {
		fmt.Fprintf(w, "  2. Append this line (the old verifier key) to audit.retired_verifier_keys_file %s:\n", retiredFile)
	}
	fmt.Fprintf(w, "       %s\n", oldVkey)
	fmt.Fprintln(w, "  3. Give the new .vkey to everyone who verifies the log or checks proofs (security team, partners, witnesses' operators). They keep the old one: verify with --key OLD.vkey --key NEW.vkey, oldest first.")
	fmt.Fprintln(w, "  4. Destroy every copy of the old signing key, then restart the gateways.")
	fmt.Fprintln(w, "  5. Check the handover: gatehouse audit verify --config FILE")
}
