package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/gatehouse-health/gatehouse/bench/internal/cmdmain"
	"github.com/gatehouse-health/gatehouse/bench/internal/summaries"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
)

// printHalf prints the open-loop rate of the half phase: half the median
// throughput of the closed-loop summaries, rounded down, and at least 1.
func printHalf(_ context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: half needs the summaries of the closed-loop rounds", cmdmain.ErrUsage)
	}
	runs, err := summaries.ReadAll(args)
	if err != nil {
		return err
	}
	fmt.Println(summaries.HalfThroughput(runs))
	return nil
}

func throughput(s *loadgen.Summary) float64 { return s.Throughput }

// summaryName matches the summaries run.sh writes: r<replicas>-<kind>-<round>.json.
var summaryName = regexp.MustCompile(`^r([0-9]+)-(max|half)-[0-9]+\.json$`)

// printReport prints one table per kind of load, one row per number of
// replicas, with medians over the rounds.
func printReport(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "`DIR` containing the summaries")
	if err := fs.Parse(args); err != nil || *dir == "" {
		return fmt.Errorf("%w: report needs -dir", cmdmain.ErrUsage)
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return err
	}
	runs := map[string]map[int][]*loadgen.Summary{"max": {}, "half": {}}
	for _, e := range entries {
		m := summaryName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		s, err := summaries.Read(filepath.Join(*dir, e.Name()))
		if err != nil {
			return err
		}
		runs[m[2]][n] = append(runs[m[2]][n], s)
	}
	printTable("Closed loop (maximum throughput)", runs["max"])
	printTable("Open loop at half of one replica's maximum", runs["half"])
	return nil
}

func printTable(title string, byReplicas map[int][]*loadgen.Summary) {
	if len(byReplicas) == 0 {
		return
	}
	counts := make([]int, 0, len(byReplicas))
	for n := range byReplicas {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	first := byReplicas[counts[0]][0]
	fmt.Printf("\n## %s: concurrency %d, %d rounds of %.0f s per setup\n\n", title, first.Concurrency, len(byReplicas[counts[0]]), first.DurationSeconds)
	fmt.Println("Values are medians over the rounds; failures, errors and missed are sums.")
	fmt.Println()
	fmt.Println("| replicas | rate /s | successes/s | per round | p50 ms | p90 ms | p99 ms | max ms | failures | errors | missed |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range counts {
		r := byReplicas[n]
		rate := "closed"
		if r[0].Rate > 0 {
			rate = strconv.FormatFloat(r[0].Rate, 'f', -1, 64)
		}
		perRound := ""
		var failures, errs, missed int64
		for i, s := range r {
			if i > 0 {
				perRound += ", "
			}
			perRound += strconv.FormatFloat(s.Throughput, 'f', 1, 64)
			failures += s.Failures
			errs += s.Errors
			missed += s.Missed
		}
		fmt.Printf("| %d | %s | %.1f | %s | %.2f | %.2f | %.2f | %.2f | %d | %d | %d |\n", n, rate,
			summaries.Median(r, throughput), perRound,
			summaries.Median(r, func(s *loadgen.Summary) float64 { return s.Latency.P50 }),
			summaries.Median(r, func(s *loadgen.Summary) float64 { return s.Latency.P90 }),
			summaries.Median(r, func(s *loadgen.Summary) float64 { return s.Latency.P99 }),
			summaries.Median(r, func(s *loadgen.Summary) float64 { return s.Latency.Max }),
			failures, errs, missed)
	}
}

// verifiedSize matches the entry count in the output of gatehouse audit
// verify.
var verifiedSize = regexp.MustCompile(`intact: ([0-9]+) entries`)

// checkExpected compares the entries of a log with what the loads that
// wrote it produced. Every $submit that the gateway forwarded records a
// request and a response entry, and every worker's token request records
// one response entry alone, so with no failed request the log holds
// 2 x sent + workers entries, and nothing else.
func checkExpected(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("expect", flag.ContinueOnError)
	replicas := fs.Int("replicas", 0, "number of replicas `N`, for the report")
	countsFile := fs.String("counts", "", "`FILE` written by 'replicas count'")
	verifyFile := fs.String("verify", "", "`FILE` holding the output of gatehouse audit verify")
	if err := fs.Parse(args); err != nil || *countsFile == "" || *verifyFile == "" || fs.NArg() == 0 {
		return fmt.Errorf("%w: expect needs -counts, -verify and the summaries", cmdmain.ErrUsage)
	}
	runs, err := summaries.ReadAll(fs.Args())
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*countsFile)
	if err != nil {
		return err
	}
	var got entryCounts
	if err := json.Unmarshal(b, &got); err != nil {
		return fmt.Errorf("%s: %w", *countsFile, err)
	}
	out, err := os.ReadFile(*verifyFile)
	if err != nil {
		return err
	}
	m := verifiedSize.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("%s does not report an intact log", *verifyFile)
	}
	verified, _ := strconv.ParseInt(string(m[1]), 10, 64)

	var sent, failed, workers int64
	for _, s := range runs {
		sent += s.Sent
		failed += s.Failures + s.Errors
		workers += int64(s.Concurrency)
	}
	want := entryCounts{
		Phases: map[string]int64{"request": sent, "response": sent + workers},
		Alone:  workers,
		Total:  2*sent + workers,
	}
	fmt.Printf("loads: %d (warm-up included), %d $submit requests sent, %d failed or unanswered, %d workers with one token each\n",
		len(runs), sent, failed, workers)
	fmt.Printf("expected entries: %d = 2 x %d (request and response of each $submit) + %d (token responses)\n", want.Total, sent, workers)
	fmt.Printf("entries by phase: %v; token responses (exchanges with one entry): %d\n", got.Phases, got.Alone)
	fmt.Printf("audit verify: intact, %d entries\n", verified)

	var problems []error
	if failed > 0 {
		problems = append(problems, fmt.Errorf("%d requests failed, so the expected count is not exact", failed))
	}
	if verified != want.Total || got.Total != want.Total {
		problems = append(problems, fmt.Errorf("the log of %d replica(s) contains %d entries (verify: %d), want %d", *replicas, got.Total, verified, want.Total))
	}
	for phase, n := range got.Phases {
		if n != want.Phases[phase] {
			problems = append(problems, fmt.Errorf("%d %s entries, want %d", n, phase, want.Phases[phase]))
		}
	}
	if got.Alone != want.Alone {
		problems = append(problems, fmt.Errorf("%d single-entry exchanges, want %d token responses", got.Alone, want.Alone))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	fmt.Println("result: the log holds exactly the entries the loads produced")
	return nil
}
