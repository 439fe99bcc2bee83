package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
)

func newTestReplayCache(t *testing.T, max int) (*MemoryReplayCache, *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(testStart)
	c, err := NewMemoryReplayCache(max, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

func TestMemoryReplayCacheRejectsReuse(t *testing.T) {
	c, _ := newTestReplayCache(t, 10)
	ctx := context.Background()
	exp := testStart.Add(5 * time.Minute)

	if err := c.Use(ctx, "ehr-alpha", "j1", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := c.Use(ctx, "ehr-alpha", "j1", exp); !errors.Is(err, ErrReplay) {
		t.Errorf("second use: err = %v, want ErrReplay", err)
	}
	if err := c.Use(ctx, "ehr-beta", "j1", exp); err != nil {
		t.Errorf("same jti for another client: %v", err)
	}
}

func TestMemoryReplayCacheExpiry(t *testing.T) {
	c, clock := newTestReplayCache(t, 10)
	ctx := context.Background()

	if err := c.Use(ctx, "ehr-alpha", "j1", testStart.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if err := c.Use(ctx, "ehr-alpha", "j1", testStart.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Errorf("before expiry: err = %v, want ErrReplay", err)
	}
	clock.Advance(time.Second)
	if err := c.Use(ctx, "ehr-alpha", "j2", testStart.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := c.Len(); n != 1 {
		t.Errorf("Len after expiry = %d, want 1 (expired entry pruned)", n)
	}
}

func TestMemoryReplayCacheFull(t *testing.T) {
	c, clock := newTestReplayCache(t, 3)
	ctx := context.Background()

	for i := range 3 {
		if err := c.Use(ctx, "ehr-alpha", fmt.Sprint(i), testStart.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Use(ctx, "ehr-alpha", "overflow", testStart.Add(time.Minute)); !errors.Is(err, ErrReplayCacheFull) {
		t.Errorf("err = %v, want ErrReplayCacheFull", err)
	}
	if err := c.Use(ctx, "ehr-alpha", "0", testStart.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Errorf("a full cache must still report replays: err = %v", err)
	}

	clock.Advance(time.Minute)
	if err := c.Use(ctx, "ehr-alpha", "overflow", testStart.Add(3*time.Minute)); err != nil {
		t.Errorf("after the first entry expired: %v", err)
	}
}

func TestMemoryReplayCacheIgnoresExpired(t *testing.T) {
	c, _ := newTestReplayCache(t, 1)
	if err := c.Use(context.Background(), "ehr-alpha", "old", testStart.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := c.Len(); n != 0 {
		t.Errorf("Len = %d, want 0 for an already expired entry", n)
	}
}

func TestMemoryReplayCacheConcurrentUse(t *testing.T) {
	c, _ := newTestReplayCache(t, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 32 {
		wg.Go(func() {
			err := c.Use(context.Background(), "ehr-alpha", "same", testStart.Add(time.Minute))
			if err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("%d concurrent uses accepted, want 1", accepted)
	}
}

func TestNewMemoryReplayCacheSize(t *testing.T) {
	if _, err := NewMemoryReplayCache(0, nil); err == nil {
		t.Error("size 0 accepted")
	}
}
