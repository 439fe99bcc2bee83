package alerts

import (
	"math"
	"time"
)

// bucketsPerWindow is the number of buckets a sliding window is cut into,
// so a count leaves the window at most Window/bucketsPerWindow late.
const bucketsPerWindow = 20

// maxPatientKeys caps the distinct patients kept per partner and window.
// Beyond it the count stays at the cap, which is far above any sensible
// threshold.
const maxPatientKeys = 100_000

// slidingSum is a sum over the last window, kept in buckets.
type slidingSum struct {
	width   time.Duration
	sums    [bucketsPerWindow]float64
	indexes [bucketsPerWindow]int64 // the bucket number in each slot
}

func newSlidingSum(window time.Duration) *slidingSum {
	s := &slidingSum{width: window / bucketsPerWindow}
	for i := range s.indexes {
		s.indexes[i] = math.MinInt64
	}
	return s
}

func (s *slidingSum) bucket(now time.Time) int64 { return now.UnixNano() / int64(s.width) }

func (s *slidingSum) add(now time.Time, v float64) {
	b := s.bucket(now)
	slot := int(uint64(b) % bucketsPerWindow)
	if s.indexes[slot] != b {
		s.indexes[slot], s.sums[slot] = b, 0
	}
	s.sums[slot] += v
}

// value returns the sum of the buckets that are inside the window ending
// at now.
func (s *slidingSum) value(now time.Time) float64 {
	b := s.bucket(now)
	var total float64
	for i, idx := range s.indexes {
		if idx > b-bucketsPerWindow && idx <= b {
			total += s.sums[i]
		}
	}
	return total
}

// patientKey is the keyed hash of one patient name.
type patientKey [16]byte

type sighting struct {
	key patientKey
	at  time.Time
}

// distinctSet counts the distinct keys seen in the last window. Every
// sighting is queued with its time; a key leaves the set when its latest
// queued sighting leaves the window. Sightings of a key closer together
// than one bucket are merged, so the queue stays short for repeated keys.
type distinctSet struct {
	window time.Duration
	merge  time.Duration
	last   map[patientKey]time.Time
	queue  []sighting
	head   int
}

func newDistinctSet(window time.Duration) *distinctSet {
	return &distinctSet{window: window, merge: window / bucketsPerWindow, last: map[patientKey]time.Time{}}
}

func (d *distinctSet) add(now time.Time, k patientKey) {
	d.expire(now)
	if t, ok := d.last[k]; ok && now.Sub(t) < d.merge {
		return
	}
	if _, ok := d.last[k]; !ok && len(d.last) >= maxPatientKeys {
		return
	}
	d.last[k] = now
	d.queue = append(d.queue, sighting{k, now})
}

func (d *distinctSet) expire(now time.Time) {
	cutoff := now.Add(-d.window)
	for d.head < len(d.queue) && !d.queue[d.head].at.After(cutoff) {
		s := d.queue[d.head]
		if d.last[s.key].Equal(s.at) {
			delete(d.last, s.key)
		}
		d.head++
	}
	// Compact once the consumed half dominates.
	if d.head > 1024 && d.head > len(d.queue)/2 {
		d.queue = append(d.queue[:0], d.queue[d.head:]...)
		d.head = 0
	}
}

func (d *distinctSet) count(now time.Time) float64 {
	d.expire(now)
	return float64(len(d.last))
}

// baseline is an exponentially weighted mean and variance of one metric's
// total per window.
type baseline struct {
	windows  int // windows learned
	mean     float64
	variance float64
}

// learn adds one window's total with weight alpha.
func (b *baseline) learn(x, alpha float64) {
	if b.windows == 0 {
		b.mean, b.variance = x, 0
	} else {
		diff := x - b.mean
		incr := alpha * diff
		b.mean += incr
		b.variance = (1 - alpha) * (b.variance + diff*incr)
	}
	b.windows++
}

// limit returns mean + k·σ, with σ at least a tenth of the mean and at
// least 1.
func (b *baseline) limit(k float64) float64 {
	sigma := math.Max(math.Sqrt(b.variance), math.Max(b.mean/10, 1))
	return b.mean + k*sigma
}
