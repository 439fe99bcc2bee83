package token

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrReplayCacheFull is returned by MemoryReplayCache.Use when the cache
// contains its maximum number of unexpired entries. The server then responds
// with 503 rather than evicting an entry, because an evicted jti could be
// replayed.
var ErrReplayCacheFull = errors.New("token: replay cache is full")

// MemoryReplayCache is a ReplayCache in process memory. It suits a single
// gateway instance. Replicas need a shared cache, so that a jti used on one
// is rejected on all.
type MemoryReplayCache struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[replayKey]time.Time
	expiry  expiryHeap
}

type replayKey struct {
	clientID string
	jti      string
}

// NewMemoryReplayCache returns a cache that holds at most max unexpired
// entries and reads the time from now (time.Now when nil).
func NewMemoryReplayCache(max int, now func() time.Time) (*MemoryReplayCache, error) {
	if max <= 0 {
		return nil, fmt.Errorf("token: replay cache size must be positive, got %d", max)
	}
	if now == nil {
		now = time.Now
	}
	c := &MemoryReplayCache{
		now:     now,
		max:     max,
		entries: make(map[replayKey]time.Time),
	}
	return c, nil
}

// Use records jti for clientID until expires, after dropping entries that
// have expired. It returns ErrReplay for a pair already recorded and
// ErrReplayCacheFull when no room is left.
func (c *MemoryReplayCache) Use(_ context.Context, clientID, jti string, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	now := c.now()
	c.prune(now)

	key := replayKey{clientID: clientID, jti: jti}
	if _, ok := c.entries[key]; ok {
		return ErrReplay
	}
	if !expires.After(now) {
		// Already expired, so the assertion cannot pass the exp check again.
		return nil
	}
	if len(c.entries) >= c.max {
		return ErrReplayCacheFull
	}

	c.entries[key] = expires
	heap.Push(&c.expiry, expiryItem{key: key, expires: expires})
	return nil
}

// Len returns the number of entries held, expired or not.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// prune removes every entry whose expiry is at or before now.
func (c *MemoryReplayCache) prune(now time.Time) {
	for len(c.expiry) > 0 && !c.expiry[0].expires.After(now) {
		item := heap.Pop(&c.expiry).(expiryItem)
		delete(c.entries, item.key)
	}
}

type expiryItem struct {
	key     replayKey
	expires time.Time
}

// expiryHeap is a min-heap of entries ordered by expiry.
type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }

func (h *expiryHeap) Pop() any {
	old := *h
	item := old[len(old)-1]
	*h = old[:len(old)-1]
	return item
}
