package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
)

// WriteJSON writes the summary as one indented JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes the summary as aligned lines for a terminal.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "closed loop"
	if s.Rate > 0 {
		rate = strconv.FormatFloat(s.Rate, 'f', -1, 64) + "/s, open loop"
	}
	fmt.Fprintf(tw, "target:\t%s\n", s.Target)
	fmt.Fprintf(tw, "load:\t%s, concurrency %d, %.1fs (elapsed %.1fs)\n", rate, s.Concurrency, s.DurationSeconds, s.ElapsedSeconds)
	if s.Interrupted {
		fmt.Fprintf(tw, "interrupted:\tyes, the counts cover the requests sent before the interrupt\n")
	}
	fmt.Fprintf(tw, "requests:\t%d distinct, %d bytes mean (%d to %d), %.2f items mean\n",
		s.Requests.Distinct, s.Requests.MeanBytes, s.Requests.MinBytes, s.Requests.MaxBytes, s.Requests.MeanItems)
	fmt.Fprintf(tw, "sent:\t%d (successes %d, rejected %d, failures %d, errors %d, missed %d)\n", s.Sent, s.Successes, s.Rejected, s.Failures, s.Errors, s.Missed)
	fmt.Fprintf(tw, "throughput:\t%.1f successes/s\n", s.Throughput)
	l := s.Latency
	fmt.Fprintf(tw, "latency (ms):\tp50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n", l.P50, l.P90, l.P99, l.Max, l.Mean)
	fmt.Fprintf(tw, "statuses:\t%s\n", countsText(s.Statuses))
	for _, msg := range sortedKeys(s.ErrorMessages) {
		fmt.Fprintf(tw, "error:\t%d × %s\n", s.ErrorMessages[msg], msg)
	}
	return tw.Flush()
}

func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	out := ""
	for i, k := range sortedKeys(m) {
		if i > 0 {
			out += ", "
		}
		out += k + ": " + strconv.FormatInt(m[k], 10)
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
