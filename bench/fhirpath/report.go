package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// targetRatio is the speed-up the benchmark is reported against.
const targetRatio = 20

// report prints the timing of both engines over the same cases, the
// ratio, and how often their results and the suite's outputs agree.
func report(w io.Writer, casesPath, gatehousePath, jsPath string) error {
	var file caseFile
	if err := readJSON(casesPath, &file); err != nil {
		return err
	}
	var gh, js timingFile
	if err := readJSON(gatehousePath, &gh); err != nil {
		return err
	}
	if err := readJSON(jsPath, &js); err != nil {
		return err
	}
	if len(gh.Cases) != len(file.Cases) || len(js.Cases) != len(file.Cases) {
		return fmt.Errorf("timing files have %d and %d cases, the case file %d", len(gh.Cases), len(js.Cases), len(file.Cases))
	}
	if gh.Iterations != js.Iterations || gh.Rounds != js.Rounds {
		return fmt.Errorf("iterations or rounds differ: Gatehouse %d in %d, fhirpath.js %d in %d", gh.Iterations, gh.Rounds, js.Iterations, js.Rounds)
	}

	printCaseCounts(w, file)
	printTiming(w, file, gh, js)
	return printAgreement(w, file, gh, js)
}

func printCaseCounts(w io.Writer, file caseFile) {
	fmt.Fprintf(w, "\n## Cases\n\n")
	fmt.Fprintf(w, "timed: %d cases of the official suite (tests-fhir-r4.xml)\n", len(file.Cases))
	for _, reason := range sortedKeys(file.Skipped) {
		fmt.Fprintf(w, "left out, %s: %d\n", reason, file.Skipped[reason])
	}
	printDropped(w, "Gatehouse errors (not run on fhirpath.js)", file.DroppedByGatehouse)
	printDropped(w, "fhirpath.js errors (Gatehouse evaluates these)", file.DroppedByJS)
}

func printDropped(w io.Writer, title string, cases []droppedCase) {
	if len(cases) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, d := range cases {
		fmt.Fprintf(w, "  %s: %s\n    error: %s\n", d.Name, clip(d.Expression, 100), clip(d.Error, 140))
	}
}

// caseTimes returns, per case, the mean time of one evaluation over all
// rounds and the time in the median round, both in ns.
func caseTimes(t timingFile) (mean, median []float64) {
	perRound := float64(t.Iterations / t.Rounds)
	for _, c := range t.Cases {
		var total int64
		for _, ns := range c.RoundNS {
			total += ns
		}
		rounds := append([]int64(nil), c.RoundNS...)
		slices.Sort(rounds)
		mean = append(mean, float64(total)/float64(t.Iterations))
		median = append(median, float64(rounds[(len(rounds)-1)/2])/perRound)
	}
	return mean, median
}

func printTiming(w io.Writer, file caseFile, gh, js timingFile) {
	ghMean, ghMedian := caseTimes(gh)
	jsMean, jsMedian := caseTimes(js)
	sum := func(xs []float64) float64 {
		total := 0.0
		for _, x := range xs {
			total += x
		}
		return total
	}
	cases := float64(len(file.Cases))

	fmt.Fprintf(w, "\n## Speed (compile once; %d timed evaluations per case in %d interleaved rounds, after %d warm-up passes)\n\n",
		gh.Iterations, gh.Rounds, gh.Warmup)
	fmt.Fprintf(w, "| engine | ns per evaluation, mean of all rounds | ns per evaluation, median round | total timed |\n| --- | ---: | ---: | ---: |\n")
	fmt.Fprintf(w, "| Gatehouse internal/fhirpath | %.0f | %.0f | %.3f s |\n", sum(ghMean)/cases, sum(ghMedian)/cases, sum(ghMean)*float64(gh.Iterations)/1e9)
	fmt.Fprintf(w, "| %s | %.0f | %.0f | %.3f s |\n", js.Engine, sum(jsMean)/cases, sum(jsMedian)/cases, sum(jsMean)*float64(js.Iterations)/1e9)
	fmt.Fprintf(w, "\nratio (fhirpath.js / Gatehouse): %.1fx on the means, %.1fx on the median rounds (target: at least %dx)\n",
		sum(jsMean)/sum(ghMean), sum(jsMedian)/sum(ghMedian), targetRatio)
	fmt.Fprintf(w, "CPU share during the rounds (process CPU time / wall-clock time; well below 1 means other load took the core): Gatehouse %.2f, fhirpath.js %.2f\n",
		gh.CPUShare, js.CPUShare)

	// Per-case ratios use the median rounds, which leave out bursts of
	// other load on the machine.
	ratios := make([]float64, len(file.Cases))
	for i := range ratios {
		ratios[i] = jsMedian[i] / math.Max(ghMedian[i], 1)
	}
	sorted := append([]float64(nil), ratios...)
	sort.Float64s(sorted)
	logSum, atTarget := 0.0, 0
	for _, r := range ratios {
		logSum += math.Log(r)
		if r >= targetRatio {
			atTarget++
		}
	}
	fmt.Fprintf(w, "per-case ratio (median rounds): median %.1fx, geometric mean %.1fx, min %.1fx, max %.1fx\n",
		sorted[len(sorted)/2], math.Exp(logSum/float64(len(ratios))), sorted[0], sorted[len(sorted)-1])
	fmt.Fprintf(w, "cases where Gatehouse is at least %dx faster: %d of %d\n", targetRatio, atTarget, len(ratios))

	order := make([]int, len(ratios))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ratios[order[a]] < ratios[order[b]] })
	fmt.Fprintf(w, "\nlowest per-case ratios (ratio, then Gatehouse ns / fhirpath.js ns per evaluation, median rounds):\n")
	for _, i := range order[:min(10, len(order))] {
		c := file.Cases[i]
		fmt.Fprintf(w, "  %5.1fx  %8.0f / %8.0f  %s: %s\n", ratios[i], ghMedian[i], jsMedian[i], c.Name, clip(c.Expression, 80))
	}
}

func printAgreement(w io.Writer, file caseFile, gh, js timingFile) error {
	equal, ghRight, jsRight, metadataOnly := 0, 0, 0, 0
	var differ []string
	for i, c := range file.Cases {
		ghItems, dropped, err := canonicalGatehouse(gh.Cases[i].Result)
		if err != nil {
			return fmt.Errorf("case %s: Gatehouse result: %w", c.Name, err)
		}
		metadataOnly += dropped
		var jsItems []any
		if err := json.Unmarshal(js.Cases[i].Result, &jsItems); err != nil {
			return fmt.Errorf("case %s: fhirpath.js result: %w", c.Name, err)
		}
		ghOK, jsOK := matchesSuite(c, ghItems), matchesSuite(c, jsItems)
		if ghOK {
			ghRight++
		}
		if jsOK {
			jsRight++
		}
		if reflect.DeepEqual(ghItems, jsItems) {
			equal++
			continue
		}
		differ = append(differ, fmt.Sprintf("  %s: %s\n    Gatehouse %s (suite: %s)\n    fhirpath.js %s (suite: %s)\n    suite expects %s\n",
			c.Name, clip(c.Expression, 100), clip(compact(ghItems), 160), verdict(ghOK),
			clip(compact(jsItems), 160), verdict(jsOK), clip(compactExpected(c.Expected), 160)))
	}

	fmt.Fprintf(w, "\n## Agreement\n\n")
	fmt.Fprintf(w, "equal results: %d of %d cases; different: %d\n", equal, len(file.Cases), len(differ))
	fmt.Fprintf(w, "matching the suite's expected output: Gatehouse %d, fhirpath.js %d (of %d)\n", ghRight, jsRight, len(file.Cases))
	if metadataOnly > 0 {
		fmt.Fprintf(w, "Gatehouse items left out of the comparison as primitives with no value (fhirpath.js drops them from results): %d\n", metadataOnly)
	}
	if len(differ) > 0 {
		fmt.Fprintf(w, "\ncases with different results:\n%s", strings.Join(differ, ""))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "matches"
	}
	return "differs"
}

// calendarUnits are the units of FHIRPath's calendar durations, which
// fhirpath.js writes unquoted and in the plural ("4 days").
var calendarUnits = map[string]bool{
	"year": true, "month": true, "week": true, "day": true,
	"hour": true, "minute": true, "second": true, "millisecond": true,
}

// canonicalGatehouse converts a result written by fhirpath.FormatJSON to
// the plain JSON values fhirpath.js returns: the item values without type
// names, quantities as "4 'g'" or "4 days". Primitive nodes with no value
// (only an id or extensions) are dropped and counted, because fhirpath.js
// drops them when it converts a result.
func canonicalGatehouse(raw json.RawMessage) ([]any, int, error) {
	var items []struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, err
	}
	out := []any{}
	dropped := 0
	for _, it := range items {
		if it.Type == "System.Quantity" {
			var q struct {
				Value float64 `json:"value"`
				Unit  string  `json:"unit"`
			}
			if err := json.Unmarshal(it.Value, &q); err != nil {
				return nil, 0, err
			}
			out = append(out, quantityText(q.Value, q.Unit))
			continue
		}
		var v any
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return nil, 0, err
		}
		if v == nil {
			dropped++
			continue
		}
		out = append(out, v)
	}
	return out, dropped, nil
}

func quantityText(value float64, unit string) string {
	num := strconv.FormatFloat(value, 'f', -1, 64)
	if calendarUnits[unit] {
		if value != 1 {
			unit += "s"
		}
		return num + " " + unit
	}
	return num + " '" + unit + "'"
}

// matchesSuite reports whether items, as plain JSON values, equal the
// suite's expected outputs. Predicate cases compare whether the result is
// non-empty.
func matchesSuite(c benchCase, items []any) bool {
	if c.Predicate {
		items = []any{len(items) > 0}
	}
	if len(items) != len(c.Expected) {
		return false
	}
	for i, want := range c.Expected {
		if !itemMatches(items[i], want) {
			return false
		}
	}
	return true
}

func itemMatches(got any, want expectedItem) bool {
	switch want.Type {
	case "boolean":
		b, ok := got.(bool)
		return ok && strconv.FormatBool(b) == want.Text
	case "integer", "decimal":
		f, ok := got.(float64)
		w, err := strconv.ParseFloat(want.Text, 64)
		return ok && err == nil && f == w
	case "date", "dateTime", "time":
		s, ok := got.(string)
		return ok && s == temporalText(want.Text)
	case "":
		// A few outputs carry no type: match on the literal's form.
		switch x := got.(type) {
		case bool:
			return strconv.FormatBool(x) == want.Text
		case float64:
			w, err := strconv.ParseFloat(want.Text, 64)
			return err == nil && x == w
		case string:
			return x == want.Text || x == temporalText(want.Text)
		}
		return false
	}
	s, ok := got.(string)
	return ok && s == want.Text
}

// temporalText strips the "@" and "@T" of a FHIRPath date or time literal,
// leaving the text both engines return.
func temporalText(literal string) string {
	s, ok := strings.CutPrefix(literal, "@")
	if !ok {
		return literal
	}
	return strings.TrimPrefix(s, "T")
}

func compactExpected(items []expectedItem) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = strings.TrimSpace(it.Type + " " + it.Text)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func compact(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
