// Package clocktest provides a manual clock for tests of code that takes
// its time source as a func() time.Time.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time source that moves only when a test sets or advances it.
// It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock that reads start until it is moved.
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time. Pass the method value c.Now where
// code under test takes a func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, which may be earlier than its current time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
