package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-health/gatehouse/bench/internal/summaries"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
)

// Goals the comparison is judged against.
const (
	goalThroughputRatio = 0.5 // Gatehouse throughput / nginx throughput (medians), at least
	goalAddedP99MS      = 5.0 // Gatehouse p99 minus payer-alone p99 at half rate (medians), below
)

// targets are the summaries' file name prefixes, in report order.
var targets = []struct{ file, label string }{
	{"payer", "(a) payer service alone, plain HTTP"},
	{"nginx", "(b) nginx mTLS proxy -> payer service"},
	{"gatehouse", "(c) Gatehouse, every control on"},
}

// rounds holds the summaries of one target in one phase, one per round.
type rounds []*loadgen.Summary

// readRounds reads DIR/<file>-<phase>-1.json, -2.json and so on, up to the
// first number missing.
func readRounds(dir, file, phase string) (rounds, error) {
	var out rounds
	for r := 1; ; r++ {
		name := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.json", file, phase, r))
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			break
		}
		s, err := summaries.Read(name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("report: %s-%s-1.json not found in %s", file, phase, dir)
	}
	return out, nil
}

// median returns the median of field over the rounds.
func (rs rounds) median(field func(*loadgen.Summary) float64) float64 {
	return summaries.Median(rs, field)
}

func (rs rounds) sum(field func(*loadgen.Summary) int64) int64 {
	var total int64
	for _, s := range rs {
		total += field(s)
	}
	return total
}

// each formats field of every round, in round order.
func (rs rounds) each(field func(*loadgen.Summary) float64, format string) string {
	parts := make([]string, len(rs))
	for i, s := range rs {
		parts[i] = fmt.Sprintf(format, field(s))
	}
	return strings.Join(parts, ", ")
}

// Fields of a summary that the tables show.
func throughput(s *loadgen.Summary) float64 { return s.Throughput }
func p50(s *loadgen.Summary) float64        { return s.Latency.P50 }
func p90(s *loadgen.Summary) float64        { return s.Latency.P90 }
func p99(s *loadgen.Summary) float64        { return s.Latency.P99 }
func maxLatency(s *loadgen.Summary) float64 { return s.Latency.Max }
func missed(s *loadgen.Summary) int64       { return s.Missed }
func failures(s *loadgen.Summary) int64     { return s.Failures }
func errorCount(s *loadgen.Summary) int64   { return s.Errors }
func rejected(s *loadgen.Summary) int64     { return s.Rejected }

// printHalf prints half the median throughput of the summaries given,
// rounded down, and at least 1.
func printHalf(_ context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("half: give the summary files of the maximum-throughput rounds")
	}
	var rs rounds
	for _, name := range args {
		s, err := summaries.Read(name)
		if err != nil {
			return err
		}
		rs = append(rs, s)
	}
	fmt.Println(max(1, int(math.Floor(rs.median(throughput)/2))))
	return nil
}

// printReport prints the two tables and the ratios from the rounds
// DIR/<target>-max-<n>.json and DIR/<target>-half-<n>.json.
func printReport(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "`DIR` holding the summaries")
	fs.Parse(args)
	maxRuns, halfRuns := map[string]rounds{}, map[string]rounds{}
	for _, t := range targets {
		var err error
		if maxRuns[t.file], err = readRounds(*dir, t.file, "max"); err != nil {
			return err
		}
		if halfRuns[t.file], err = readRounds(*dir, t.file, "half"); err != nil {
			return err
		}
		// A rejection skips adjudication, so a target that rejected part
		// of the load did less work than the others and the ratios would
		// not compare like with like.
		if n := maxRuns[t.file].sum(rejected) + halfRuns[t.file].sum(rejected); n > 0 {
			return fmt.Errorf("report: %s: the payer rejected %d requests; every target must adjudicate the whole load (are the load's patients its members?)", t.label, n)
		}
	}
	printMaxTable(maxRuns)
	printHalfTable(halfRuns)

	ratio := maxRuns["gatehouse"].median(throughput) / maxRuns["nginx"].median(throughput)
	base := halfRuns["payer"].median(p99)
	added := halfRuns["gatehouse"].median(p99) - base
	fmt.Printf("\n## Ratios (medians over the rounds)\n\n")
	fmt.Printf("Gatehouse throughput / nginx throughput: %.2f (goal >= %.1f: %s)\n", ratio, goalThroughputRatio, verdict(ratio >= goalThroughputRatio))
	fmt.Printf("Gatehouse added p99 at half rate: %.2f ms (goal < %.0f ms: %s)\n", added, goalAddedP99MS, verdict(added < goalAddedP99MS))
	fmt.Printf("nginx added p99 at half rate: %.2f ms\n", halfRuns["nginx"].median(p99)-base)
	return nil
}

// printMaxTable prints, per target, the medians over the rounds and each
// round's throughput.
func printMaxTable(runs map[string]rounds) {
	g := runs["gatehouse"]
	fmt.Printf("\n## Maximum throughput: closed loop, concurrency %d, %d rounds of %.0f s per target, taken in turns\n\n",
		g[0].Concurrency, len(g), g[0].DurationSeconds)
	fmt.Println("Values are medians over the rounds.")
	fmt.Println()
	fmt.Println("| target | successes/s | per round | p50 ms | p90 ms | p99 ms | max ms | failures | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		r := runs[t.file]
		fmt.Printf("| %s | %.1f | %s | %.2f | %.2f | %.2f | %.2f | %d | %d |\n", t.label,
			r.median(throughput), r.each(throughput, "%.0f"), r.median(p50), r.median(p90), r.median(p99), r.median(maxLatency),
			r.sum(failures), r.sum(errorCount))
	}
}

// printHalfTable prints, per target, the medians over the rounds and each
// round's p99, because one stall of the shared disk can move a single p99
// by tens of milliseconds.
func printHalfTable(runs map[string]rounds) {
	g := runs["gatehouse"]
	fmt.Printf("\n## Half of Gatehouse's maximum: open loop, %g/s, concurrency %d, %d rounds of %.0f s per target, taken in turns\n\n",
		g[0].Rate, g[0].Concurrency, len(g), g[0].DurationSeconds)
	fmt.Println("Values are medians over the rounds.")
	fmt.Println()
	fmt.Println("| target | successes/s | p50 ms | p90 ms | p99 ms | p99 per round | max ms | added p99 vs (a) ms | missed | failures | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	base := runs["payer"].median(p99)
	for _, t := range targets {
		r := runs[t.file]
		fmt.Printf("| %s | %.1f | %.2f | %.2f | %.2f | %s | %.2f | %+.2f | %d | %d | %d |\n", t.label,
			r.median(throughput), r.median(p50), r.median(p90), r.median(p99), r.each(p99, "%.1f"), r.median(maxLatency),
			r.median(p99)-base, r.sum(missed), r.sum(failures), r.sum(errorCount))
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "not met"
}
