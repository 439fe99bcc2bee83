package auditlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointBytes caps a signed checkpoint, signatures included. It
// leaves room for well over the 16 signatures c2sp.org/signed-note requires
// verifiers to accept.
const MaxCheckpointBytes = 64 << 10

// ErrMalformedCheckpoint is wrapped by ParseCheckpoint errors.
var ErrMalformedCheckpoint = errors.New("auditlog: malformed checkpoint")

// Checkpoint is the text of a c2sp.org/tlog-checkpoint note: a tree head.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// Text returns the note text of c: three lines, no extension lines.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Hash[:]) + "\n"
}

// ParseCheckpoint parses note text strictly. It rejects extension lines,
// which this log never writes, and any non-canonical size or hash.
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	if len(text) > MaxCheckpointBytes {
		return c, fmt.Errorf("%w: longer than %d bytes", ErrMalformedCheckpoint, MaxCheckpointBytes)
	}
	lines := strings.SplitAfter(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return c, fmt.Errorf("%w: want exactly 3 newline-terminated lines", ErrMalformedCheckpoint)
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	sizeText := strings.TrimSuffix(lines[1], "\n")
	hashText := strings.TrimSuffix(lines[2], "\n")
	if origin == "" || strings.ContainsAny(origin, " +\t\r") {
		return c, fmt.Errorf("%w: invalid origin %q", ErrMalformedCheckpoint, origin)
	}
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sizeText {
		return c, fmt.Errorf("%w: invalid tree size %q", ErrMalformedCheckpoint, sizeText)
	}
	hash, err := base64.StdEncoding.Strict().DecodeString(hashText)
	if err != nil || len(hash) != tlog.HashSize {
		return c, fmt.Errorf("%w: invalid root hash %q", ErrMalformedCheckpoint, hashText)
	}
	c.Origin, c.Size = origin, size
	copy(c.Hash[:], hash)
	return c, nil
}

// SignCheckpoint returns the signed note for c.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, signer)
	if err != nil {
		return nil, fmt.Errorf("auditlog: sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies the signed checkpoint msg with the log's key
// (whose name must be the checkpoint's origin) and parses it. Signatures
// by other keys, such as witness cosignatures, are ignored unless extra
// verifiers are given, in which case each of those must also have signed.
func OpenCheckpoint(msg []byte, logKey note.Verifier, extra ...note.Verifier) (Checkpoint, *note.Note, error) {
	if len(msg) > MaxCheckpointBytes {
		return Checkpoint{}, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedCheckpoint, MaxCheckpointBytes)
	}
	n, err := note.Open(msg, note.VerifierList(append([]note.Verifier{logKey}, extra...)...))
	if err != nil {
		return Checkpoint{}, nil, signatureError(err, logKey)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != logKey.Name() {
		return Checkpoint{}, nil, fmt.Errorf("auditlog: checkpoint origin %q is not the log key name %q", c.Origin, logKey.Name())
	}
	for _, v := range append([]note.Verifier{logKey}, extra...) {
		if !signedBy(n, v) {
			return Checkpoint{}, nil, fmt.Errorf("auditlog: checkpoint has no signature by %s", v.Name())
		}
	}
	return c, n, nil
}

// signatureError describes a failed note.Open of a checkpoint in terms an
// auditor can act on. It distinguishes a checkpoint signed only by other
// keys from one whose text or signature changed after signing, because the
// first also happens when the verifier key is not the log's, or after the
// log's signing key was replaced. The note error stays in the chain.
func signatureError(err error, logKey note.Verifier) error {
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var signers []string
		for _, s := range unverified.Note.UnverifiedSigs {
			signers = append(signers, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return &wrappedError{err: err, msg: fmt.Sprintf(
			"auditlog: the checkpoint has no signature by the verifier key %s+%08x, only by %s: either the verifier key is not the one that signed this log, or the checkpoint was replaced",
			logKey.Name(), logKey.KeyHash(), strings.Join(signers, ", "))}
	case errors.As(err, &invalid):
		return &wrappedError{err: err, msg: fmt.Sprintf(
			"auditlog: the checkpoint's signature by %s+%08x does not match its text: the checkpoint or its signature was changed after signing",
			invalid.Name, invalid.Hash)}
	}
	return fmt.Errorf("auditlog: checkpoint signature: %w", err)
}

// wrappedError is an error with its own message that still unwraps to the
// error it describes.
type wrappedError struct {
	err error
	msg string
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

func signedBy(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

// cosignatureAlg is the c2sp.org/tlog-cosignature Ed25519 signature type.
const cosignatureAlg = 0x04

// NewCosignatureVerifier parses a witness verifier key of the form
// name+hash+base64(0x04 || Ed25519 public key) and returns a note.Verifier
// for its c2sp.org/tlog-cosignature/v1 signatures.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	hashText, keyText, _ := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hashText, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(keyText)
	if len(hashText) != 8 || err1 != nil || err2 != nil || name == "" || strings.ContainsAny(name, " +") ||
		len(key) != 1+ed25519.PublicKeySize || key[0] != cosignatureAlg {
		return nil, fmt.Errorf("auditlog: invalid witness key %q: want name+hash+base64(0x04 || Ed25519 key)", name)
	}
	if uint32(hash) != keyID(name, key) {
		return nil, fmt.Errorf("auditlog: witness key %q: key hash does not match the key", name)
	}
	return &cosigVerifier{name: name, hash: uint32(hash), key: ed25519.PublicKey(key[1:])}, nil
}

// keyID computes the key hash of c2sp.org/signed-note.
func keyID(name string, typedKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(typedKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks a timestamped_signature over "cosignature/v1\ntime T\n"
// followed by the checkpoint text.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig)
	if ts > 1<<63-1 {
		return false
	}
	signed := cosignedMessage(ts, msg)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func cosignedMessage(ts uint64, text []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), text...)
}

// NewCosigner returns a note.Signer producing c2sp.org/tlog-cosignature/v1
// signatures, and its verifier key. Gatehouse itself is not a witness. The
// signer exists for tests and for running a local witness in development.
func NewCosigner(name string, key ed25519.PrivateKey, now func() time.Time) (note.Signer, string) {
	pub := append([]byte{cosignatureAlg}, key.Public().(ed25519.PublicKey)...)
	hash := keyID(name, pub)
	vkey := fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(pub))
	return &cosigner{name: name, hash: hash, key: key, now: now}, vkey
}

type cosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	ts := uint64(s.now().Unix())
	sig := ed25519.Sign(s.key, cosignedMessage(ts, msg))
	return append(binary.BigEndian.AppendUint64(nil, ts), sig...), nil
}
