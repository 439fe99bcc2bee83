package revocation

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// Store must satisfy the token service's contract.
var _ token.Revocations = (*Store)(nil)

func newStore(t *testing.T, db *storage.DB, c *clocktest.Clock) *Store {
	t.Helper()
	s, err := New(context.Background(), db, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRevoked(t *testing.T, s *Store, jti string) bool {
	t.Helper()
	revoked, err := s.Revoked(context.Background(), jti)
	if err != nil {
		t.Fatalf("Revoked(%q): %v", jti, err)
	}
	return revoked
}

func TestRevokeThenRevoked(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), c)
		ctx := context.Background()

		if mustRevoked(t, s, "jti-1") {
			t.Fatal("jti-1 is revoked before Revoke")
		}
		if err := s.Revoke(ctx, "jti-1", c.Now().Add(5*time.Minute)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if !mustRevoked(t, s, "jti-1") {
			t.Error("jti-1 is not revoked after Revoke")
		}
		if mustRevoked(t, s, "jti-2") {
			t.Error("jti-2 is revoked, but only jti-1 was")
		}
		if err := s.Revoke(ctx, "jti-1", c.Now().Add(5*time.Minute)); err != nil {
			t.Errorf("second Revoke of the same jti: %v", err)
		}
	})
}

func TestRevocationExpires(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		start := time.Unix(1_800_000_000, 0)
		c := clocktest.New(start)
		s := newStore(t, b.New(t), c)
		ctx := context.Background()

		if err := s.Revoke(ctx, "short", start.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, "long", start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		c.Set(start.Add(time.Minute))
		if mustRevoked(t, s, "short") {
			t.Error("short is still revoked at its expiry")
		}
		if !mustRevoked(t, s, "long") {
			t.Error("long is no longer revoked before its expiry")
		}

		// A replica whose clock lags may still accept short, so the next
		// revocation keeps its row within the clock margin and prunes it
		// after.
		if err := s.Revoke(ctx, "other", start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := mustLen(t, s); n != 3 {
			t.Errorf("Len within the clock margin = %d, want 3", n)
		}
		c.Set(start.Add(time.Minute + storage.ClockMargin + time.Second))
		if err := s.Revoke(ctx, "third", start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := mustLen(t, s); n != 3 {
			t.Errorf("Len after pruning = %d, want 3", n)
		}
	})
}

func TestRevokeAlreadyExpired(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), c)
		ctx := context.Background()

		if err := s.Revoke(ctx, "old", c.Now().Add(-storage.ClockMargin-time.Second)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		n, err := s.Len(ctx)
		if err != nil {
			t.Fatalf("Len: %v", err)
		}
		if n != 0 {
			t.Errorf("Len = %d, want no row for an expired token", n)
		}
	})
}

func TestRevokeEmptyID(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), c)
		if err := s.Revoke(context.Background(), "", c.Now().Add(time.Minute)); err == nil {
			t.Error("Revoke accepted an empty token id")
		}
	})
}

// TestRevocationSharedAcrossStores checks that two stores with their own
// connections to one database, as two replicas have, see each other's
// revocations.
func TestRevocationSharedAcrossStores(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		url := b.NewURL(t)
		first, second := newStore(t, storagetest.Open(t, url), c), newStore(t, storagetest.Open(t, url), c)

		if err := first.Revoke(context.Background(), "jti-1", c.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if !mustRevoked(t, second, "jti-1") {
			t.Error("a revocation through one store is not visible through another")
		}
	})
}

func TestRevokedFailsOnClosedDatabase(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		db := b.New(t)
		s := newStore(t, db, c)
		db.Close()

		if _, err := s.Revoked(context.Background(), "jti-1"); err == nil {
			t.Error("Revoked returned no error on a closed database")
		}
		if err := s.Revoke(context.Background(), "jti-1", c.Now().Add(time.Minute)); err == nil {
			t.Error("Revoke returned no error on a closed database")
		}
	})
}

// A token just expired by this replica's clock is still accepted by a
// replica whose clock lags, so its revocation is recorded.
func TestRevokeJustExpired(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), c)
		if err := s.Revoke(context.Background(), "recent", c.Now().Add(-time.Second)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if n := mustLen(t, s); n != 1 {
			t.Errorf("Len = %d, want the row of a token expired within the clock margin", n)
		}
	})
}

func mustLen(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.Len(context.Background())
	if err != nil {
		t.Fatalf("Len: %v", err)
	}
	return n
}
