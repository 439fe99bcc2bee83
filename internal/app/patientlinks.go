package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
	"github.com/gatehouse-health/gatehouse/internal/patientlinks"
)

// patientLinkKeyInfo is the HKDF info string of the patient link key, so
// that the key derived from the token signing key serves no other use.
const patientLinkKeyInfo = "gatehouse patient links hmac key v1"

// pageTokenKeyInfo is the HKDF info string of the key that seals page
// tokens (package pagelink), so that it differs from every other key
// derived from the token signing key.
const pageTokenKeyInfo = "gatehouse page token aes-gcm key v1"

// openPatientLinks opens the partner-patient link store under a key
// derived from token.signing_key_file. Every replica sharing the database
// must already share that key, because each one verifies the access tokens
// the others issue, and it never leaves the gateway hosts, so a copy of
// the database alone cannot reverse the stored hashes. Replacing the
// token signing key therefore drops every link, which New reports and
// this logs.
func (rt *Running) openPatientLinks(ctx context.Context, cfg *config.File, log *slog.Logger, now func() time.Time) error {
	key, err := patientLinkKey(cfg)
	if err != nil {
		return err
	}
	links, err := patientlinks.New(ctx, rt.DB, key, 0, now)
	if err != nil {
		return err
	}
	if n := links.DroppedAtStart(); n > 0 {
		log.Warn("patient links dropped: they were written without a key or under another token signing key; partners must name those patients again before outbound payloads about them pass",
			"count", n)
	}
	rt.patientLinks = links
	return nil
}

// patientLinkKey derives the patient link key from the token signing key.
func patientLinkKey(cfg *config.File) ([]byte, error) {
	return signingKeyDerived(cfg, patientLinkKeyInfo, patientlinks.KeySize)
}

// newPageSealer returns the sealer of page tokens, under a key derived
// from the token signing key, so that every replica opens the tokens the
// others issue.
func newPageSealer(cfg *config.File) (*pagelink.Sealer, error) {
	key, err := signingKeyDerived(cfg, pageTokenKeyInfo, pagelink.KeySize)
	if err != nil {
		return nil, err
	}
	return pagelink.New(key)
}

// signingKeyDerived derives a key of size bytes for the use info names
// from the token signing key.
func signingKeyDerived(cfg *config.File, info string, size int) ([]byte, error) {
	signer, err := loadTokenSigningKey(cfg.Resolve(cfg.Token.SigningKeyFile))
	if err != nil {
		return nil, err
	}
	priv, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token.signing_key_file: the patient link and page token keys need an ECDSA key in a file, not %T", signer)
	}
	secret, err := priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("token.signing_key_file: %w", err)
	}
	return hkdf.Key(sha256.New, secret, nil, info, size)
}

// PatientLinks returns the store of the partners' patient links, so that
// tests can link patients as an accepted inbound request would.
func (rt *Running) PatientLinks() *patientlinks.Store { return rt.patientLinks }

// PageSealer returns the sealer of page tokens, so that tests can seal a
// token the gateway would not issue, such as an expired one.
func (rt *Running) PageSealer() *pagelink.Sealer { return rt.pages }
