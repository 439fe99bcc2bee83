package cli

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

const auditKeygenSynopsis = "gatehouse audit keygen --origin NAME [--out DIR]"

// Checkpoint key file names that audit keygen writes into --out.
const (
	checkpointKeyFile      = "checkpoint.key"
	checkpointVerifierFile = "checkpoint.vkey"
)

// auditKeygen creates the checkpoint signing key of a deployment: the note
// signer key for audit.signing_key_file and its verifier key for
// 'gatehouse audit verify --key'. Development mode creates its own keys,
// but a deployment with a configuration file needs this command. Existing
// files are never replaced, because a log's checkpoints must keep
// verifying under the same key.
func (e *env) auditKeygen(args []string) int {
	fs := e.flags("audit keygen")
	origin := fs.String("origin", "", "log `NAME` the key signs for, the value of audit.origin, such as gatehouse.payer.example/audit")
	out := fs.String("out", ".", "`DIR` to write "+checkpointKeyFile+" (mode 0600) and "+checkpointVerifierFile+" into")
	if code, ok := e.parse(fs, auditKeygenSynopsis, args); !ok {
		return code
	}
	if *origin == "" {
		e.errorf("missing --origin")
		e.hint("usage: %s", auditKeygenSynopsis)
		return 2
	}

	// GenerateKey accepts names that NewSigner, and so the gateway, later
	// rejects; loading the new key here catches them.
	skey, vkey, err := note.GenerateKey(rand.Reader, *origin)
	if err == nil {
		_, err = note.NewSigner(skey)
	}
	if err != nil {
		e.errorf("invalid --origin %q: %v", *origin, err)
		e.hint("use a name without spaces or '+', such as gatehouse.payer.example/audit")
		return 2
	}
	if st, err := os.Stat(*out); err != nil || !st.IsDir() {
		e.errorf("--out %s is not a directory", *out)
		e.hint("create it first, with mode 0700, on the gateway host")
		return 2
	}
	keyPath := filepath.Join(*out, checkpointKeyFile)
	vkeyPath := filepath.Join(*out, checkpointVerifierFile)
	for _, p := range []string{keyPath, vkeyPath} {
		if _, err := os.Lstat(p); err == nil {
			e.errorf("%s already exists", p)
			e.hint("a log's checkpoints must keep verifying under its key: keep the existing files, or write elsewhere with --out DIR")
			return 1
		}
	}
	if err := safefile.WriteNew(keyPath, []byte(skey+"\n"), 0o600); err != nil {
		e.errorf("%v", err)
		return 1
	}
	if err := safefile.WriteNew(vkeyPath, []byte(vkey+"\n"), 0o644); err != nil {
		e.errorf("%v", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: created the checkpoint key of log %q\n", *origin)
	fmt.Fprintf(e.stdout, "    signing key   %s (mode 0600; audit.signing_key_file, with audit.origin: %s)\n", keyPath, *origin)
	fmt.Fprintf(e.stdout, "    verifier key  %s (public; 'gatehouse audit verify --key', and for partners who check receipts)\n", vkeyPath)
	return 0
}
