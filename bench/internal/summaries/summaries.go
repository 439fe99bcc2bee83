// Package summaries reads the JSON summaries that internal/loadgen
// writes and computes the statistics the benchmark reports share.
package summaries

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/loadgen"
)

// Read reads one summary file.
func Read(path string) (*loadgen.Summary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s loadgen.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// ReadAll reads the summary files in order and stops at the first error.
func ReadAll(paths []string) ([]*loadgen.Summary, error) {
	out := make([]*loadgen.Summary, 0, len(paths))
	for _, path := range paths {
		s, err := Read(path)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Median returns the median of field over runs, the mean of the two
// middle values for an even count. runs must not be empty.
func Median(runs []*loadgen.Summary, field func(*loadgen.Summary) float64) float64 {
	v := make([]float64, len(runs))
	for i, s := range runs {
		v[i] = field(s)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// HalfThroughput returns half the median throughput of runs, rounded
// down and at least 1: the open-loop rate of a benchmark's second phase.
// runs must not be empty.
func HalfThroughput(runs []*loadgen.Summary) int {
	throughput := func(s *loadgen.Summary) float64 { return s.Throughput }
	return max(1, int(math.Floor(Median(runs, throughput)/2)))
}
