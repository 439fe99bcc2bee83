package auditlog

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// maxKeyFile caps key, recipient and identity files.
const maxKeyFile = 1 << 20

// LoadRecipients reads age recipients (one per line, # comments allowed)
// from path.
func LoadRecipients(path string) ([]age.Recipient, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	rs, err := age.ParseRecipients(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("auditlog: recipients file %s: %w: each line must be an age public key (age1...) as age-keygen prints it, never the identity (AGE-SECRET-KEY-...)", path, err)
	}
	return rs, nil
}

// LoadIdentities reads age identities from path. Parse errors do not quote
// the file, which holds secret keys.
func LoadIdentities(path string) ([]age.Identity, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("auditlog: identity file %s: invalid age identity file", path)
	}
	return ids, nil
}

// LoadSigner reads a note signer key ("PRIVATE+KEY+name+hash+key", as
// written by note.GenerateKey) from path.
func LoadSigner(path string) (note.Signer, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("auditlog: signing key file %s: invalid note signer key", path)
	}
	return s, nil
}

// LoadVerifier reads a note verifier key ("name+hash+key") from path.
func LoadVerifier(path string) (note.Verifier, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("auditlog: verifier key file %s: %w", path, err)
	}
	return v, nil
}

// readCapped reads path, failing if it is larger than maxKeyFile bytes.
func readCapped(path string) ([]byte, error) {
	data, err := safefile.ReadCapped(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return data, nil
}

// DevKeys are the development-mode audit keys kept in a data directory.
type DevKeys struct {
	Dir            string // the audit subdirectory
	IdentityFile   string // age identity decrypting bodies (secret)
	RecipientsFile string // its recipient
	SigningKeyFile string // note signer key for checkpoints (secret)
	VerifierFile   string // note verifier key for checkpoints
	CheckpointFile string // audit.checkpoint_file of development mode
}

// DevKeyPaths returns the development key layout under the data directory
// dataDir, without creating anything.
func DevKeyPaths(dataDir string) *DevKeys {
	dir := filepath.Join(dataDir, "audit")
	return &DevKeys{
		Dir:            dir,
		IdentityFile:   filepath.Join(dir, "identity.txt"),
		RecipientsFile: filepath.Join(dir, "recipients.txt"),
		SigningKeyFile: filepath.Join(dir, "checkpoint.key"),
		VerifierFile:   filepath.Join(dir, "checkpoint.vkey"),
		CheckpointFile: filepath.Join(dir, "checkpoint.txt"),
	}
}

// EnsureDevKeys creates, on first use, an age identity and a checkpoint
// signing key named origin under dataDir/audit. Existing files are kept. A
// signing key with another name is an error, since the origin of a log
// never changes.
func EnsureDevKeys(dataDir, origin string) (*DevKeys, error) {
	k := DevKeyPaths(dataDir)
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	if err := k.ensureIdentity(); err != nil {
		return nil, err
	}
	if err := k.ensureSigner(origin); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *DevKeys) ensureIdentity() error {
	if _, err := os.Stat(k.IdentityFile); err == nil {
		return nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	text := "# Development-mode key that decrypts audit log bodies.\n" + id.String() + "\n"
	if err := writeNew(k.IdentityFile, text, 0o600); err != nil {
		return err
	}
	return writeNew(k.RecipientsFile, id.Recipient().String()+"\n", 0o644)
}

func (k *DevKeys) ensureSigner(origin string) error {
	if _, err := os.Stat(k.SigningKeyFile); err == nil {
		s, err := LoadSigner(k.SigningKeyFile)
		if err != nil {
			return err
		}
		if s.Name() != origin {
			return fmt.Errorf("auditlog: %s signs for origin %q, not %q", k.SigningKeyFile, s.Name(), origin)
		}
		return nil
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return fmt.Errorf("auditlog: checkpoint key for origin %q: %w", origin, err)
	}
	if err := writeNew(k.SigningKeyFile, skey+"\n", 0o600); err != nil {
		return err
	}
	return writeNew(k.VerifierFile, vkey+"\n", 0o644)
}

// writeNew creates path with text. It never overwrites an existing file.
func writeNew(path, text string, perm os.FileMode) error {
	if err := safefile.WriteNew(path, []byte(text), perm); err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	return nil
}
