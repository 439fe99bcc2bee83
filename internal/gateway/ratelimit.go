package gateway

import (
	"sync"
	"time"
)

// RateLimiter is a token bucket: Rate requests per second on average, with
// bursts up to Burst.
type RateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a full bucket. A rate of zero or less returns nil,
// which Partner treats as unlimited.
func NewRateLimiter(rate float64, burst int) *RateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &RateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// Allow takes one token if available at time now.
func (l *RateLimiter) Allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
