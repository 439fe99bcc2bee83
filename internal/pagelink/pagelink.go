// Package pagelink seals the links of a search response (Bundle.link:
// self, first, previous, next, last) into opaque page tokens, so
// that a partner can follow the pages of a search the gateway allowed and
// nothing else.
//
// A token is the base64url encoding (no padding) of
//
//	version (1 byte, 1) || nonce (12 bytes) || AES-256-GCM ciphertext
//
// whose plaintext is the JSON encoding of Page. The additional data is
// "gatehouse page v1", the direction and the partner id, each followed by a
// zero byte, so a token opens only for the partner and the direction it
// was issued to: another partner's token fails like a forged one.
//
// The key never leaves the gateway hosts, so the upstream's link, which
// may carry search values, is not readable from the token.
package pagelink

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// KeySize is the size of the sealing key in bytes (AES-256).
const KeySize = 32

// MaxTokenLength caps a token, in bytes. Seal returns ErrTooLong for a
// longer one, and Open rejects it. A token contains the decided query and
// the upstream's link, each usually at most the 8 KiB a query may have,
// and base64 adds a third. The canonical query can be longer than the
// query as sent (a raw "?" becomes "%3F"), so a search near the query cap
// can still exceed this cap.
const MaxTokenLength = 32 << 10

const version = 1

// Errors returned by Open. Neither states why a token is invalid, so that a
// partner learns nothing about another partner's tokens.
var (
	ErrInvalid = errors.New("pagelink: the page token is invalid")
	ErrExpired = errors.New("pagelink: the page token has expired")
)

// ErrTooLong is returned by Seal for a page whose token would be longer
// than MaxTokenLength.
var ErrTooLong = fmt.Errorf("pagelink: the page token would be longer than %d bytes", MaxTokenLength)

// Page is the content of a token: the search that was decided and the
// upstream's link to one of its pages.
type Page struct {
	// Search is the path of the decided search below the FHIR base, the
	// resource type or "" for a system search.
	Search string `json:"s"`
	// Query is the decided query in canonical form (fhirreq.Query.Encode).
	Query string `json:"q"`
	// Link is the upstream's link, relative to the upstream's FHIR base:
	// a path starting with "/" and its raw query.
	Link string `json:"l"`
	// Expires is the end of the token's lifetime, in Unix seconds.
	Expires int64 `json:"e"`
}

// Sealer seals and opens page tokens. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer under key, which must be KeySize bytes.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("pagelink: the key has %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pagelink: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pagelink: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns the token of p for partner in direction, or ErrTooLong
// when that token would be longer than MaxTokenLength, which Open rejects.
func (s *Sealer) Seal(direction, partner string, p Page) (string, error) {
	// The HTML-safe escaping of encoding/json would write each "&" of a
	// query as six bytes, and Open reads the plain form as well.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		panic("pagelink: encode page: " + err.Error()) // strings and an integer always encode
	}
	plain := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	size := 1 + s.aead.NonceSize() + len(plain) + s.aead.Overhead()
	if base64.RawURLEncoding.EncodedLen(size) > MaxTokenLength {
		return "", ErrTooLong
	}
	out := make([]byte, 1+s.aead.NonceSize(), size)
	out[0] = version
	rand.Read(out[1:]) // never returns an error
	out = s.aead.Seal(out, out[1:], plain, additionalData(direction, partner))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the page that token seals for partner in direction. It
// returns ErrInvalid for a token that does not open, including one sealed
// for another partner or direction, and ErrExpired for one whose lifetime
// ended before now.
func (s *Sealer) Open(direction, partner, token string, now time.Time) (Page, error) {
	var p Page
	if len(token) > MaxTokenLength {
		return p, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < 1+n+s.aead.Overhead() || raw[0] != version {
		return p, ErrInvalid
	}
	plain, err := s.aead.Open(nil, raw[1:1+n], raw[1+n:], additionalData(direction, partner))
	if err != nil {
		return p, ErrInvalid
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, ErrInvalid
	}
	if now.Unix() >= p.Expires {
		return Page{}, ErrExpired
	}
	return p, nil
}

func additionalData(direction, partner string) []byte {
	ad := make([]byte, 0, 32+len(direction)+len(partner))
	ad = append(ad, "gatehouse page v1\x00"...)
	ad = append(ad, direction...)
	ad = append(ad, 0)
	ad = append(ad, partner...)
	return append(ad, 0)
}
