package app

import (
	"context"
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
	key, err := pki.LoadPrivateKey(cfg.Resolve(cfg.Token.SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("token.signing_key_file: %w", err)
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
