package token

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ErrUnknownClient is returned, possibly wrapped, by a ClientStore that has
// no registration for the requested client id.
var ErrUnknownClient = errors.New("token: unknown client")

// ErrReplay is returned, possibly wrapped, by a ReplayCache when an
// assertion's jti has already been used by the same client.
var ErrReplay = errors.New("token: assertion jti already used")

// Client is the part of a partner registration the token service uses.
type Client struct {
	// ID is the OAuth client id. Assertions must carry it as iss and sub.
	ID string

	// Keys are the client's public signing keys. The assertion's kid
	// selects among them, and no key is ever taken from the assertion.
	Keys jose.JSONWebKeySet

	// Scopes is the maximum set of scopes the client may be granted.
	Scopes []string
}

// ClientStore looks up partner registrations.
type ClientStore interface {
	// Client returns the registration for id. It returns an error wrapping
	// ErrUnknownClient when there is none. Any other error is treated as an
	// outage: the token request fails with 503 temporarily_unavailable.
	Client(ctx context.Context, id string) (*Client, error)
}

// ReplayCache remembers the assertion ids (jti) already used, so that each
// assertion is accepted once.
type ReplayCache interface {
	// Use records jti for clientID until expires. It MUST return an error
	// wrapping ErrReplay when the pair is already recorded and has not
	// expired, and it MUST make the record visible to every gateway replica
	// before returning nil. Any other error fails the token request with
	// 503 temporarily_unavailable, so an unavailable cache rejects requests
	// rather than admitting replays.
	Use(ctx context.Context, clientID, jti string, expires time.Time) error
}

// KeyedClientStore is a ClientStore that can refresh a client's keys when
// an assertion names a kid it does not hold. The Server uses ClientForKey in
// place of Client when the store implements it. RemoteKeys does.
type KeyedClientStore interface {
	ClientStore

	// ClientForKey returns the registration for id as Client does. When
	// none of the client's keys has kid, it may fetch them again first,
	// within limits the store sets, because kid comes from an assertion
	// whose signature is not yet checked.
	ClientForKey(ctx context.Context, id, kid string) (*Client, error)
}

// Revocations stores the ids (jti) of revoked access tokens.
type Revocations interface {
	// Revoke records jti as revoked until expires. Revoking a recorded jti
	// again succeeds. It MUST make the record visible to every gateway
	// replica before returning nil, and it may drop the record once
	// expires has passed, because the token then fails the exp check.
	Revoke(ctx context.Context, jti string, expires time.Time) error

	// Revoked reports whether jti is recorded and its record has not
	// expired. An error fails closed: Verify rejects the token with
	// ErrRevocationUnavailable.
	Revoked(ctx context.Context, jti string) (bool, error)
}

// StaticClients is a ClientStore over a fixed map from client id to
// registration, for tests, the demo and the development mode.
type StaticClients map[string]*Client

// Client returns the registration for id.
func (s StaticClients) Client(_ context.Context, id string) (*Client, error) {
	c, ok := s[id]
	if !ok || c == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownClient, id)
	}
	return c, nil
}
