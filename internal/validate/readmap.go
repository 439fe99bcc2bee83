package validate

import (
	"sync"
	"sync/atomic"
)

// readMap is a map for caches that are read on every node of an instance
// and written rarely. Reads of entries that have settled load an
// immutable map, without locking and without hashing the key through an
// interface as sync.Map does. New entries wait in a locked map. It is
// merged with the immutable one into a new immutable map once its entries
// have been read as often as it has entries, or once it contains a
// quarter as many entries as the immutable map. A write then costs O(1)
// amortized.
type readMap[K comparable, V any] struct {
	read   atomic.Pointer[map[K]V]
	mu     sync.Mutex
	dirty  map[K]V // entries not yet in read
	misses int     // reads served from dirty since the last merge
}

func (c *readMap[K, V]) load(k K) (V, bool) {
	if m := c.read.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v, true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.dirty[k]
	if ok {
		c.misses++
		if c.misses >= len(c.dirty) {
			c.merge()
		}
	}
	return v, ok
}

// store adds k. A value already stored for k is kept, so that readers
// that loaded it and later readers agree.
func (c *readMap[K, V]) store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.read.Load(); m != nil {
		if _, ok := (*m)[k]; ok {
			return
		}
	}
	if _, ok := c.dirty[k]; ok {
		return
	}
	if c.dirty == nil {
		c.dirty = map[K]V{}
	}
	c.dirty[k] = v
	if read := c.read.Load(); read == nil || len(c.dirty) > len(*read)/4 {
		c.merge()
	}
}

// merge moves the dirty entries into a new immutable map. c.mu is held.
func (c *readMap[K, V]) merge() {
	size := len(c.dirty)
	old := c.read.Load()
	if old != nil {
		size += len(*old)
	}
	next := make(map[K]V, size)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	for k, v := range c.dirty {
		next[k] = v
	}
	c.read.Store(&next)
	c.dirty, c.misses = nil, 0
}
