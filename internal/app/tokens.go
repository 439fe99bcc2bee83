package app

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/replay"
	"github.com/gatehouse-health/gatehouse/internal/revocation"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// newTokenServer builds the token service: the gateway's signing key, the
// partners' registered keys, and the database-backed replay cache and
// revocation store.
func newTokenServer(ctx context.Context, cfg *config.File, db *storage.DB, clients token.ClientStore, now func() time.Time) (*token.Server, error) {
	key, err := loadTokenSigningKey(cfg.Resolve(cfg.Token.SigningKeyFile))
	if err != nil {
		return nil, err
	}
	cache, err := replay.New(ctx, db, now)
	if err != nil {
		return nil, err
	}
	revocations, err := revocation.New(ctx, db, now)
	if err != nil {
		return nil, err
	}
	return token.NewServer(token.ServerOptions{
		TokenURL:   cfg.TokenURL(),
		Issuer:     cfg.PublicURL,
		Audience:   cfg.FHIRBase(),
		SigningKey: key,
		Lifetime:   cfg.Token.Lifetime,
		Clients:    clients,
		// VerifiedCacheTTL: zero keeps the default, negative turns it off.
		VerifiedCacheTTL: cfg.Token.VerifiedCacheOption(),
		Replay:           cache,
		Revocations:      revocations,
		Now:              now,
		PeerClient:       gateway.PeerPartner(pki.PartnerFromCertificate),
	})
}

// loadTokenSigningKey reads token.signing_key_file. Access tokens are signed
// with ES256, so any other key is rejected here, where the error can name
// the configuration key, the file and the command that creates a usable key.
func loadTokenSigningKey(path string) (crypto.Signer, error) {
	key, err := pki.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("token.signing_key_file: %w", err)
	}
	if pub, ok := key.Public().(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
		return key, nil
	}
	return nil, fmt.Errorf("token.signing_key_file: %s contains %s, but access tokens are signed with ES256, which needs an ECDSA P-256 key: create one with 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s'",
		path, describeKey(key.Public()), path)
}

// describeKey names the algorithm and size of a public key for an error.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA %d-bit key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	default:
		return fmt.Sprintf("a key of type %T", pub)
	}
}
