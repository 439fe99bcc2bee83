package summaries

import (
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/loadgen"
)

func runsOf(throughputs ...float64) []*loadgen.Summary {
	out := make([]*loadgen.Summary, len(throughputs))
	for i, v := range throughputs {
		out[i] = &loadgen.Summary{Throughput: v}
	}
	return out
}

func TestHalfThroughput(t *testing.T) {
	for _, tt := range []struct {
		name string
		runs []*loadgen.Summary
		want int
	}{
		{"odd count takes the middle", runsOf(300, 100, 231), 115},
		{"even count takes the mean of the middle two", runsOf(100, 400, 200, 300), 125},
		{"at least one", runsOf(0.5), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := HalfThroughput(tt.runs); got != tt.want {
				t.Errorf("HalfThroughput = %d, want %d", got, tt.want)
			}
		})
	}
}
