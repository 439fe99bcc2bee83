package auditlog

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
)

const (
	// keyADPrefix starts the associated data of a wrapped data key.
	keyADPrefix = "gatehouse.audit.key/v1\n"
	// gcmTagSize is the AES-GCM authentication tag length.
	gcmTagSize = 16
	// wrappedKeySize is the length of a wrapped data key: the KEK id, a
	// nonce, and the sealed data key with its tag.
	wrappedKeySize = 8 + nonceSize + dataKeySize + gcmTagSize
	// ageHeader starts an age file. The wrapped key of an entry written
	// before key-encryption keys is an age file, which no KEK id starts
	// with (as an integer these bytes exceed 7*10^18).
	ageHeader = "age-encryption.org/v1\n"
)

// kek is the key-encryption key the writer wraps data keys under. It is
// immutable, and the writer counts its uses.
type kek struct {
	id      int64
	aead    cipher.AEAD
	expires time.Time // wrap data keys only while the batch time is before it
	// fileSHA256 is the SHA-256 of the stored age file, which version 4
	// leaves commit to so that verification catches a replaced file.
	fileSHA256 [32]byte
}

// newKEK draws a key-encryption key, wraps it with age to recipients (one
// X25519 exchange per recipient) and inserts it in tx, valid from now for
// interval.
func newKEK(ctx context.Context, tx *sql.Tx, recipients []age.Recipient, now time.Time, interval time.Duration) (*kek, error) {
	key := make([]byte, dataKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, fmt.Errorf("auditlog: wrap key-encryption key: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, fmt.Errorf("auditlog: wrap key-encryption key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("auditlog: wrap key-encryption key: %w", err)
	}
	k := &kek{expires: now.Add(interval), fileSHA256: digest(buf.Bytes())}
	if k.aead, err = newGCM(key); err != nil {
		return nil, err
	}
	err = tx.QueryRowContext(ctx, sqlInsertKEK, buf.Bytes(), now.UnixNano(), k.expires.UnixNano()).Scan(&k.id)
	if err != nil {
		return nil, fmt.Errorf("auditlog: store key-encryption key: %w", err)
	}
	return k, nil
}

// unwrapKEK recovers a key-encryption key from its age file.
func unwrapKEK(wrapped []byte, identities []age.Identity) (cipher.AEAD, error) {
	key, err := ageDecryptKey(wrapped, identities)
	if err != nil {
		return nil, fmt.Errorf("auditlog: unwrap key-encryption key: %w", err)
	}
	return newGCM(key)
}

// ageDecryptKey decrypts an age file whose plaintext is a 32-byte key.
func ageDecryptKey(file []byte, identities []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(file), identities...)
	if err != nil {
		return nil, err
	}
	key, err := io.ReadAll(io.LimitReader(r, dataKeySize+1))
	if err != nil {
		return nil, err
	}
	if len(key) != dataKeySize {
		return nil, errors.New("wrong key length")
	}
	return key, nil
}

// keyAD builds the associated data that binds a wrapped data key to its
// log, leaf and key-encryption key (see the package documentation).
func keyAD(origin string, index, kekID int64) []byte {
	ad := make([]byte, 0, len(keyADPrefix)+4+len(origin)+16)
	ad = append(ad, keyADPrefix...)
	ad = appendString(ad, origin)
	ad = binary.BigEndian.AppendUint64(ad, uint64(index))
	return binary.BigEndian.AppendUint64(ad, uint64(kekID))
}

// wrapDataKey seals dataKey under k for the entry at index, with nonce.
func (k *kek) wrapDataKey(origin string, index int64, dataKey, nonce []byte) []byte {
	out := make([]byte, 8, wrappedKeySize)
	binary.BigEndian.PutUint64(out, uint64(k.id))
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, dataKey, keyAD(origin, index, k.id))
}

// errMalformedWrappedKey is a stored wrapped key of the wrong shape.
var errMalformedWrappedKey = errors.New("auditlog: malformed wrapped data key")

// parseWrappedKey returns the KEK id of a wrapped data key, or legacy when
// it is an age file from before key-encryption keys.
func parseWrappedKey(wrapped []byte) (kekID int64, legacy bool, err error) {
	if bytes.HasPrefix(wrapped, []byte(ageHeader)) {
		return 0, true, nil
	}
	if len(wrapped) != wrappedKeySize {
		return 0, false, errMalformedWrappedKey
	}
	id := binary.BigEndian.Uint64(wrapped)
	if id == 0 || id > 1<<62 {
		return 0, false, errMalformedWrappedKey
	}
	return int64(id), false, nil
}

// unwrapDataKey opens a wrapped data key of the entry at index with its
// key-encryption key.
func unwrapDataKey(aead cipher.AEAD, origin string, index, kekID int64, wrapped []byte) ([]byte, error) {
	nonce, sealed := wrapped[8:8+nonceSize], wrapped[8+nonceSize:]
	key, err := aead.Open(nil, nonce, sealed, keyAD(origin, index, kekID))
	if err != nil {
		return nil, errors.New("auditlog: wrapped data key failed authentication")
	}
	return key, nil
}
