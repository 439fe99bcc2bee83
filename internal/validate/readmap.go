package validate

import (
	"sync"
	"sync/atomic"
)

// readMap is a map for caches that are read on every node of an instance
// and written rarely: reads load an immutable map without locking or
// hashing through an interface, as sync.Map does, and each write copies
// the map. It suits caches whose keys come from the loaded definitions,
// so that the number of writes, and the size, are bounded.
type readMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (c *readMap[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// store adds k. A value already stored for k is kept, so that readers
// that loaded it and later readers agree.
func (c *readMap[K, V]) store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var next map[K]V
	if old == nil {
		next = map[K]V{k: v}
	} else {
		if _, ok := (*old)[k]; ok {
			return
		}
		next = make(map[K]V, len(*old)+1)
		for key, val := range *old {
			next[key] = val
		}
		next[k] = v
	}
	c.m.Store(&next)
}
