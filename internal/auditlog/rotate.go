package auditlog

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// A handover checkpoint passes the log from one checkpoint signing key to
// the next, as a transparency log rotates its key. It is an ordinary
// checkpoint of the tree at the rotation, signed by both the retiring key
// and its successor. Both keys carry the log's origin as their name and
// differ in their key hash. Checkpoints before a handover are signed by
// the retiring key, the ones after it by the successor only. Verify checks
// that order against the key history it is given, and Open accepts a
// published checkpoint of the retiring key when a stored handover covers
// it.

// ErrSameKey is returned by RotateSigningKey when the new key is the key
// in use.
var ErrSameKey = errors.New("auditlog: the new checkpoint signing key is the key in use")

// ErrUncovered is wrapped by the RotateSigningKey error for a log whose
// newest entries no checkpoint covers.
var ErrUncovered = errors.New("auditlog: entries are not covered by a checkpoint")

// LoadSigningKey reads a note signer key file, as LoadSigner does, and
// also returns the verifier of that key, which the signer does not expose.
// It reads the file once, so the two always belong to one key.
func LoadSigningKey(path string) (note.Signer, note.Verifier, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, nil, err
	}
	skey := strings.TrimSpace(string(data))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("auditlog: signing key file %s: invalid note signer key", path)
	}
	v, _, err := verifierOfSignerKey(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("auditlog: signing key file %s: %w", path, err)
	}
	return s, v, nil
}

// VerifierKeyOf returns the verifier key text (name+hash+key) of the
// signing key in the file at path, the line of its .vkey file.
func VerifierKeyOf(path string) (string, error) {
	data, err := readCapped(path)
	if err != nil {
		return "", err
	}
	_, text, err := verifierOfSignerKey(strings.TrimSpace(string(data)))
	if err != nil {
		return "", fmt.Errorf("auditlog: signing key file %s: %w", path, err)
	}
	return text, nil
}

// verifierOfSignerKey derives the verifier of an Ed25519 signer key of the
// form PRIVATE+KEY+name+hash+base64(0x01 || seed). Errors never quote the
// key.
func verifierOfSignerKey(skey string) (note.Verifier, string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, "", errors.New("not a signed-note private key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return nil, "", errors.New("not an Ed25519 signed-note private key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return nil, "", err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", err
	}
	if fmt.Sprintf("%08x", v.KeyHash()) != parts[3] {
		return nil, "", errors.New("the key hash does not match the key")
	}
	return v, vkey, nil
}

// LoadVerifiers reads note verifier keys from path, one per line, in the
// order given. Empty lines and lines starting with # are skipped.
func LoadVerifiers(path string) ([]note.Verifier, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	var keys []note.Verifier
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("auditlog: verifier key file %s, line %d: %w", path, i+1, err)
		}
		keys = append(keys, v)
	}
	return keys, nil
}

// keyLabel names a verifier key in messages as name+hash, the form of a
// signature line.
func keyLabel(v note.Verifier) string {
	return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
}

// checkKeyHistory checks that the keys of a history all sign for one log
// and are distinct.
func checkKeyHistory(keys []note.Verifier) error {
	seen := make(map[uint32]bool, len(keys))
	for _, k := range keys {
		if k.Name() != keys[0].Name() {
			return fmt.Errorf("auditlog: verifier keys %s and %s name different logs", keyLabel(keys[0]), keyLabel(k))
		}
		if seen[k.KeyHash()] {
			return fmt.Errorf("auditlog: verifier key %s is given twice", keyLabel(k))
		}
		seen[k.KeyHash()] = true
	}
	return nil
}

// OpenCheckpointByKeys verifies the signed checkpoint msg with any of the
// log keys in keys (all named for the checkpoint's origin) and parses it.
// It returns the positions in keys of the keys that signed it, at least
// one. Each of the extra verifiers must also have signed.
func OpenCheckpointByKeys(msg []byte, keys []note.Verifier, extra ...note.Verifier) (Checkpoint, []int, error) {
	if len(keys) == 0 {
		return Checkpoint{}, nil, errors.New("auditlog: no checkpoint verifier key given")
	}
	if len(keys) == 1 {
		c, _, err := OpenCheckpoint(msg, keys[0], extra...)
		if err != nil {
			return c, nil, err
		}
		return c, []int{0}, nil
	}
	if err := checkKeyHistory(keys); err != nil {
		return Checkpoint{}, nil, err
	}
	if len(msg) > MaxCheckpointBytes {
		return Checkpoint{}, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedCheckpoint, MaxCheckpointBytes)
	}

	n, err := note.Open(msg, note.VerifierList(append(append([]note.Verifier(nil), keys...), extra...)...))
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		labels := make([]string, len(keys))
		for i, k := range keys {
			labels[i] = keyLabel(k)
		}
		return Checkpoint{}, nil, &wrappedError{err: err, msg: fmt.Sprintf(
			"auditlog: the checkpoint has no signature by any of the verifier keys %s", strings.Join(labels, ", "))}
	}
	if err != nil {
		return Checkpoint{}, nil, signatureError(err, keys[0])
	}

	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != keys[0].Name() {
		return Checkpoint{}, nil, fmt.Errorf("auditlog: checkpoint origin %q is not the log key name %q", c.Origin, keys[0].Name())
	}
	for _, v := range extra {
		if !signedBy(n, v) {
			return Checkpoint{}, nil, fmt.Errorf("auditlog: checkpoint has no signature by %s", v.Name())
		}
	}

	var signers []int
	for i, k := range keys {
		if signedBy(n, k) {
			signers = append(signers, i)
		}
	}
	if len(signers) == 0 {
		// note.Open verified a signature, so it was an extra verifier's.
		return Checkpoint{}, nil, fmt.Errorf("auditlog: the checkpoint has no signature by a log key, only by witnesses")
	}
	return c, signers, nil
}

// RotateOptions configures RotateSigningKey.
type RotateOptions struct {
	// Old signs the log now (audit.signing_key_file), and OldKey is its
	// verifier. Both are required.
	Old    note.Signer
	OldKey note.Verifier
	// New is the signing key that takes over. NewKey is its verifier.
	New    note.Signer
	NewKey note.Verifier
	// RetiredKeys are the verifiers of keys the log used before Old,
	// oldest first, for the verification that precedes the handover.
	RetiredKeys []note.Verifier
	// Published is the content of audit.checkpoint_file, or nil. The log
	// must extend it.
	Published []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// afterVerify, when set, runs between the verification and the
	// signing of the handover. Only tests set it, to change the log
	// inside that window.
	afterVerify func()
}

// RotationError is the error of RotateSigningKey for a log that is not
// intact. Report is the verification that found the problems.
type RotationError struct {
	Report *Report
}

func (e *RotationError) Error() string {
	msg := "the log is not intact"
	if len(e.Report.Problems) > 0 {
		msg += ": " + e.Report.Problems[0].String()
		if n := len(e.Report.Problems) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more problems)", n)
		}
	}
	return "auditlog: " + msg
}

// RotateSigningKey signs and stores a handover checkpoint: the current
// tree head signed by both opts.Old and opts.New. It first verifies the
// whole log under the old key (and the retired keys) against
// opts.Published, and returns a *RotationError when that finds any
// problem. Run it with every gateway writing to db stopped. A gateway
// that appends with the old key afterwards produces checkpoints that
// Verify reports.
func RotateSigningKey(ctx context.Context, db *storage.DB, opts RotateOptions) (*SignedCheckpoint, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep, err := Verify(ctx, db, VerifyOptions{LogKey: opts.OldKey, RetiredKeys: opts.RetiredKeys, Anchor: opts.Published, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	if !rep.Intact() {
		return nil, &RotationError{Report: rep}
	}
	// A handover over entries that no checkpoint covers would be the first
	// signature over them, so a change to them since they were written
	// would go unnoticed. A gateway that stops cleanly signs them first.
	if rep.Uncovered > 0 {
		return nil, fmt.Errorf("%w: %d of the %d entries are covered by no signed checkpoint; start the gateway with the current key and stop it, which signs a checkpoint over them, or find out why checkpoints are missing with 'gatehouse audit verify'",
			ErrUncovered, rep.Uncovered, rep.Size)
	}
	if opts.afterVerify != nil {
		opts.afterVerify()
	}
	return storeHandover(ctx, db, opts, rep)
}

func (o *RotateOptions) validate() error {
	switch {
	case o.Old == nil || o.OldKey == nil || o.New == nil || o.NewKey == nil:
		return errors.New("auditlog: RotateOptions.Old, OldKey, New and NewKey are required")
	case o.Old.Name() != o.OldKey.Name() || o.Old.KeyHash() != o.OldKey.KeyHash(),
		o.New.Name() != o.NewKey.Name() || o.New.KeyHash() != o.NewKey.KeyHash():
		return errors.New("auditlog: RotateOptions: a verifier key does not belong to its signer")
	case o.New.Name() != o.Old.Name():
		return fmt.Errorf("auditlog: the new key is named %q, not %q like the key in use: both must carry the log's origin", o.New.Name(), o.Old.Name())
	case o.New.KeyHash() == o.Old.KeyHash():
		return fmt.Errorf("%w (%s)", ErrSameKey, keyLabel(o.OldKey))
	}
	for _, k := range o.RetiredKeys {
		if k.KeyHash() == o.NewKey.KeyHash() && k.Name() == o.NewKey.Name() {
			return fmt.Errorf("auditlog: the new key %s was used before, so its old checkpoints would count as the new key's", keyLabel(k))
		}
	}
	return nil
}

// storeHandover signs the tree head under the append lock, after checking
// that no entry or checkpoint arrived since the verification in rep.
func storeHandover(ctx context.Context, db *storage.DB, opts RotateOptions, rep *Report) (*SignedCheckpoint, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("auditlog: rotate: %w", err)
	}
	defer tx.Rollback()
	if db.Dialect == storage.PostgreSQL {
		key, err := appendLockKey(ctx, db)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, sqlLockAppendsPostgres, key); err != nil {
			return nil, fmt.Errorf("auditlog: rotate: %w", err)
		}
	}
	var maxIndex, maxHashID, cpSize, cpCreated sql.NullInt64
	if err := tx.QueryRowContext(ctx, sqlTreeState).Scan(&maxIndex, &cpSize, &cpCreated, &maxHashID); err != nil {
		return nil, fmt.Errorf("auditlog: read tree state: %w", err)
	}
	size, err := countFromMaxID(maxIndex, "entry index")
	if err != nil {
		return nil, err
	}
	latest := int64(0)
	if rep.Latest != nil {
		latest = rep.Latest.Size
	}
	if size != rep.Size || cpSize.Int64 != latest {
		return nil, fmt.Errorf("auditlog: the log changed during the rotation (%d entries and a latest checkpoint of size %d at the verification, %d and %d now): stop every gateway that writes to this database and run the rotation again",
			rep.Size, latest, size, cpSize.Int64)
	}
	tree, err := loadFrontier(dbHashReader{ctx: ctx, q: tx}, size)
	if err != nil {
		return nil, fmt.Errorf("auditlog: load tree of size %d: %w", size, err)
	}

	c := Checkpoint{Origin: opts.Old.Name(), Size: size, Hash: tree.root()}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, opts.Old, opts.New)
	if err != nil {
		return nil, fmt.Errorf("auditlog: sign handover checkpoint: %w", err)
	}
	now := opts.Now()
	if _, err := tx.ExecContext(ctx, sqlInsertCheckpoint, c.Size, msg, now.UnixNano()); err != nil {
		return nil, fmt.Errorf("auditlog: store handover checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("auditlog: store handover checkpoint: %w", err)
	}
	return &SignedCheckpoint{Checkpoint: c, Note: msg, Created: now}, nil
}

// WriteCheckpointFile replaces the file at path (or the file a symbolic
// link at path points to) with the signed checkpoint cp. Unlike FileSink
// it also replaces a checkpoint of the same size, which a handover
// checkpoint usually has.
func WriteCheckpointFile(path string, cp *SignedCheckpoint) error {
	target, err := linkTarget(path)
	if err != nil {
		return err
	}
	if err := safefile.WriteAtomic(target, cp.Note, 0o644); err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	return nil
}

// findHandover returns the first stored checkpoint of at least minSize
// that is signed by both retired and its successor next, or nil.
func findHandover(ctx context.Context, q queryer, minSize int64, retired, next note.Verifier) (*Checkpoint, error) {
	rows, err := q.QueryContext(ctx, sqlCheckpointsInOrder)
	if err != nil {
		return nil, fmt.Errorf("auditlog: read checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c := new(SignedCheckpoint)
		var created int64
		if err := rows.Scan(&c.ID, &c.Size, &c.Note, &created); err != nil {
			return nil, fmt.Errorf("auditlog: read checkpoints: %w", err)
		}
		if c.Size < minSize {
			continue
		}
		parsed, signers, err := OpenCheckpointByKeys(c.Note, []note.Verifier{retired, next})
		if err == nil && len(signers) == 2 && parsed.Size == c.Size {
			return &parsed, nil
		}
	}
	return nil, rows.Err()
}

// openRetiredPublished opens Options.Published with a retired key, after
// its signature by the current key failed with openErr. It accepts the
// checkpoint only when stored handover checkpoints, each reproduced by the
// stored tree, pass the log from the key that signed it to the current key
// at or after its size.
func (l *Log) openRetiredPublished(ctx context.Context, q queryer, openErr error) (Checkpoint, error) {
	history := append(append([]note.Verifier(nil), l.opts.RetiredKeys...), l.opts.PublishedKey)
	if err := checkKeyHistory(history); err != nil {
		return Checkpoint{}, err
	}
	for i, retired := range l.opts.RetiredKeys {
		cp, _, err := OpenCheckpoint(l.opts.Published, retired)
		if err != nil {
			continue
		}
		minSize := cp.Size
		for j := i; j+1 < len(history); j++ {
			h, err := findHandover(ctx, q, minSize, history[j], history[j+1])
			if err != nil {
				return Checkpoint{}, err
			}
			if h == nil {
				return Checkpoint{}, fmt.Errorf("%w: the checkpoint published last, of size %d, is signed by the retired key %s, and no stored handover checkpoint signed by %s and %s covers it; run 'gatehouse audit rotate-signing-key' with the retired key, or restore the signing key that signed the checkpoint file",
					ErrNotExtended, cp.Size, keyLabel(retired), keyLabel(history[j]), keyLabel(history[j+1]))
			}
			tree, err := loadFrontier(dbHashReader{ctx: ctx, q: q}, h.Size)
			if err != nil || tree.root() != h.Hash {
				return Checkpoint{}, fmt.Errorf("%w: the stored tree does not reproduce the handover checkpoint of size %d, so history was rewritten", ErrNotExtended, h.Size)
			}
			minSize = h.Size
		}
		return cp, nil
	}
	hint := "check the checkpoint file, audit.origin and audit.signing_key_file"
	if len(l.opts.RetiredKeys) == 0 {
		hint += "; after a rotation of the signing key, list the old verifier key in audit.retired_verifier_keys_file"
	}
	return Checkpoint{}, fmt.Errorf("auditlog: the checkpoint published last is not one of this log (%w); %s", openErr, hint)
}

// keyHistory returns the verifier keys of the log, oldest first.
func (v *verifier) keyHistory() []note.Verifier {
	if v.keys == nil {
		v.keys = append(append([]note.Verifier(nil), v.opts.RetiredKeys...), v.opts.LogKey)
	}
	return v.keys
}

// checkSigners checks that checkpoint c, taken in signing order, is signed
// by the key in force, and moves to the next key at a handover checkpoint
// that both keys signed.
func (v *verifier) checkSigners(c *SignedCheckpoint, signers []int) error {
	keys := v.keyHistory()
	by := make(map[int]bool, len(signers))
	for _, i := range signers {
		by[i] = true
	}
	switch {
	case by[v.epoch] && by[v.epoch+1]:
		v.epoch++
		v.rep.Handovers = append(v.rep.Handovers, Handover{CheckpointID: c.ID, Size: c.Size, From: keyLabel(keys[v.epoch-1]), To: keyLabel(keys[v.epoch])})
		return nil
	case by[v.epoch]:
		return nil
	case signers[0] > v.epoch:
		return v.problem(-1, 0, "checkpoint #%d of size %d is signed by %s but not by %s, the key in force at its size: no handover checkpoint signed by both keys precedes it",
			c.ID, c.Size, keyLabel(keys[signers[0]]), keyLabel(keys[v.epoch]))
	}
	return v.problem(-1, 0, "checkpoint #%d of size %d is signed only by the retired key %s, after the handover to %s",
		c.ID, c.Size, keyLabel(keys[signers[0]]), keyLabel(keys[v.epoch]))
}

// Handover is a handover checkpoint that Verify found. From and To are
// the retiring and the succeeding key, as name+hash.
type Handover struct {
	CheckpointID int64
	Size         int64
	From, To     string
}
