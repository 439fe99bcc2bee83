package replay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

func newCache(t *testing.T, b storagetest.Backend, now func() time.Time) *Cache {
	t.Helper()
	c, err := New(context.Background(), b.New(t), now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUseOnce(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		now := time.Unix(1_800_000_000, 0)
		c := newCache(t, b, func() time.Time { return now })
		ctx := context.Background()
		exp := now.Add(5 * time.Minute)
		if err := c.Use(ctx, "ehr-a", "jti-1", exp); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := c.Use(ctx, "ehr-a", "jti-1", exp); !errors.Is(err, token.ErrReplay) {
			t.Fatalf("second use: %v, want ErrReplay", err)
		}
		if err := c.Use(ctx, "ehr-b", "jti-1", exp); err != nil {
			t.Errorf("same jti for another client: %v", err)
		}
	})
}

func TestExpiredIDsArePruned(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		now := time.Unix(1_800_000_000, 0)
		c := newCache(t, b, func() time.Time { return now })
		ctx := context.Background()
		if err := c.Use(ctx, "ehr-a", "jti-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute + storage.ClockMargin + time.Second)
		if err := c.Use(ctx, "ehr-a", "jti-1", now.Add(time.Minute)); err != nil {
			t.Errorf("use after expiry and the clock margin: %v", err)
		}
	})
}

// A replica whose clock runs ahead must not delete an id that a replica
// whose clock lags would still accept, so ids outlive their expiry by
// storage.ClockMargin.
func TestExpiredIDKeptForClockMargin(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		now := time.Unix(1_800_000_000, 0)
		c := newCache(t, b, func() time.Time { return now })
		ctx := context.Background()
		if err := c.Use(ctx, "ehr-a", "jti-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute + storage.ClockMargin - time.Second)
		if err := c.Use(ctx, "ehr-a", "jti-1", now.Add(time.Minute)); !errors.Is(err, token.ErrReplay) {
			t.Errorf("use within the clock margin after expiry: %v, want ErrReplay", err)
		}
	})
}

// TestConcurrentUse checks that of many simultaneous uses of one jti exactly
// one succeeds.
func TestConcurrentUse(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := newCache(t, b, nil)
		var ok, replayed atomic.Int32
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.Use(context.Background(), "ehr-a", "same", time.Now().Add(time.Minute))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, token.ErrReplay):
					replayed.Add(1)
				default:
					t.Errorf("Use: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || replayed.Load() != 31 {
			t.Errorf("%d succeeded and %d replayed, want 1 and 31", ok.Load(), replayed.Load())
		}
	})
}
