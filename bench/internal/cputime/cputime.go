// Package cputime measures how much of the wall-clock time of a benchmark
// the process spent on the CPU. Pinned to one core, a share well below 1
// means other processes took that core, so the timings are inflated.
package cputime

import "time"

// Sample is a point in wall-clock and process CPU time.
type Sample struct {
	wall time.Time
	cpu  time.Duration
	ok   bool
}

// Now takes a sample.
func Now() Sample {
	cpu, ok := processCPU()
	return Sample{wall: time.Now(), cpu: cpu, ok: ok}
}

// Share returns the CPU time the process used since s, divided by the
// wall-clock time since s, or 0 where the platform does not report CPU
// time.
func (s Sample) Share() float64 {
	now := Now()
	wall := now.wall.Sub(s.wall)
	if !s.ok || !now.ok || wall <= 0 {
		return 0
	}
	return float64(now.cpu-s.cpu) / float64(wall)
}
