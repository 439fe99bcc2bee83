package auditlog

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

const (
	bodyADPrefix = "gatehouse.audit.body/v1\n"
	dataKeySize  = 32
	nonceSize    = 12
	// maxWrappedKey caps the age file read back as a wrapped key. An age
	// header is about 200 bytes per X25519 recipient.
	maxWrappedKey = 64 << 10
)

// ErrShredded is returned when a body is requested whose data key was
// destroyed by Shred.
var ErrShredded = errors.New("auditlog: data key destroyed by retention")

// wrapKey encrypts a new data key to recipients and returns both. It is
// the expensive step of an append (one X25519 exchange per recipient), so
// Append runs it on the caller's goroutine.
func wrapKey(recipients []age.Recipient) (key, wrapped []byte, err error) {
	key = make([]byte, dataKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, nil, fmt.Errorf("auditlog: wrap data key: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, nil, fmt.Errorf("auditlog: wrap data key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("auditlog: wrap data key: %w", err)
	}
	return key, buf.Bytes(), nil
}

// unwrapKey recovers a data key with one of identities.
func unwrapKey(wrapped []byte, identities []age.Identity) ([]byte, error) {
	if wrapped == nil {
		return nil, ErrShredded
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), identities...)
	if err != nil {
		return nil, fmt.Errorf("auditlog: unwrap data key: %w", err)
	}
	key, err := io.ReadAll(io.LimitReader(r, dataKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("auditlog: unwrap data key: %w", err)
	}
	if len(key) != dataKeySize {
		return nil, errors.New("auditlog: unwrap data key: wrong key length")
	}
	return key, nil
}

// bodyAD builds the associated data that binds a ciphertext to its log,
// leaf and part (see the package documentation).
func bodyAD(origin string, index int64, exchangeID, part string) []byte {
	ad := make([]byte, 0, len(bodyADPrefix)+4+len(origin)+8+4+len(exchangeID)+4+len(part))
	ad = append(ad, bodyADPrefix...)
	ad = appendString(ad, origin)
	ad = binary.BigEndian.AppendUint64(ad, uint64(index))
	ad = appendString(ad, exchangeID)
	return appendString(ad, part)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// sealBody encrypts plaintext under key and returns nonce || ciphertext,
// or nil for an empty body.
func sealBody(key, plaintext, ad []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, nil
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[:nonceSize], plaintext, ad), nil
}

// openBody reverses sealBody.
func openBody(key, sealed, ad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < nonceSize+aead.Overhead() {
		return nil, errors.New("auditlog: body ciphertext too short")
	}
	plain, err := aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, errors.New("auditlog: body ciphertext failed authentication")
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return cipher.NewGCM(block)
}

// Bodies are the decrypted bodies of one entry.
type Bodies struct {
	Request, Response []byte
}

// OpenBodies decrypts the bodies of row with one of identities and checks
// each plaintext against the hash its leaf commits to. origin is the log's
// origin line. It returns ErrShredded when the row's data key is gone.
func OpenBodies(origin string, row *Row, identities []age.Identity) (*Bodies, error) {
	key, err := unwrapKey(row.WrappedKey, identities)
	if err != nil {
		return nil, err
	}
	var out Bodies
	parts := []struct {
		name   string
		sealed []byte
		commit *Body
		dst    *[]byte
	}{
		{"request", row.RequestCiphertext, &row.Leaf.Request, &out.Request},
		{"response", row.ResponseCiphertext, &row.Leaf.Response, &out.Response},
	}
	for _, p := range parts {
		ad := bodyAD(origin, row.Leaf.Index, row.Leaf.Entry.ExchangeID, p.name)
		plain, err := openBody(key, p.sealed, ad)
		if err != nil {
			return nil, fmt.Errorf("auditlog: entry %d %s body: %w", row.Leaf.Index, p.name, err)
		}
		if int64(len(plain)) != p.commit.Size || (len(plain) > 0 && digest(plain) != p.commit.SHA256) {
			return nil, fmt.Errorf("auditlog: entry %d %s body does not match its committed hash", row.Leaf.Index, p.name)
		}
		*p.dst = plain
	}
	return &out, nil
}
