package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// targetRatio is the per-resource speed-up the benchmark is reported
// against.
const targetRatio = 10

// maxListed caps the per-validator lists of flagged examples.
const maxListed = 40

// report prints per-resource timing, the ratios to Gatehouse, the
// mutations each validator catches and the published examples each
// flags.
func report(w io.Writer, inputsPath string, verdictPaths []string, knownInvalidPath string) error {
	var list inputFile
	if err := readJSON(inputsPath, &list); err != nil {
		return err
	}
	var runs []validatorRun
	for _, p := range verdictPaths {
		var f verdictFile
		if err := readJSON(p, &f); err != nil {
			return err
		}
		runs = append(runs, f.Validators...)
	}
	for _, r := range runs {
		if r.Iterations != runs[0].Iterations || r.Rounds != runs[0].Rounds {
			return fmt.Errorf("%s ran %d iterations in %d rounds, %s %d in %d", r.Name, r.Iterations, r.Rounds, runs[0].Name, runs[0].Iterations, runs[0].Rounds)
		}
		if len(r.Results) != len(list.Inputs) {
			return fmt.Errorf("%s has %d results for %d inputs", r.Name, len(r.Results), len(list.Inputs))
		}
		for i, res := range r.Results {
			if res.Name != list.Inputs[i].Name {
				return fmt.Errorf("%s: result %d is for %q, expected %q", r.Name, i, res.Name, list.Inputs[i].Name)
			}
		}
	}
	if len(runs) == 0 || runs[0].Name != "gatehouse" {
		return fmt.Errorf("the first verdict file must contain Gatehouse's run")
	}
	known, err := readKnownInvalid(knownInvalidPath)
	if err != nil {
		return err
	}

	printInputs(w, list, runs)
	printSpeed(w, list, runs)
	printMutations(w, list, runs)
	printExamples(w, list, runs, known)
	return nil
}

func printInputs(w io.Writer, list inputFile, runs []validatorRun) {
	counts := map[string]int{}
	for _, in := range list.Inputs {
		counts[in.Set]++
	}
	fmt.Fprintf(w, "\n## Inputs\n\n")
	fmt.Fprintf(w, "R4 instance examples (hl7.fhir.r4.examples 4.0.1, definitional resources left out): %d\n", counts["r4"])
	fmt.Fprintf(w, "PAS Bundles (internal/demo/bundles): %d\n", counts["pas"])
	fmt.Fprintf(w, "mutants (validated once each, not timed): %d\n", counts["mutation"])
	fmt.Fprintf(w, "\nhow each validator is called:\n")
	for _, r := range runs {
		fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Mode)
	}
}

// inputTimes returns the time of one validation of input i in µs: the
// mean over all rounds and the time in the median round.
func inputTimes(r validatorRun, i int) (mean, median float64) {
	rounds := append([]int64(nil), r.Results[i].RoundNS...)
	if len(rounds) == 0 {
		return 0, 0
	}
	var total int64
	for _, ns := range rounds {
		total += ns
	}
	slices.Sort(rounds)
	perRound := float64(r.Iterations / r.Rounds)
	return float64(total) / float64(r.Iterations) / 1e3, float64(rounds[(len(rounds)-1)/2]) / perRound / 1e3
}

// meanMicros returns the mean time of one validation over the timed inputs
// of one set ("" for all), from the means or from the median rounds.
func meanMicros(list inputFile, r validatorRun, set string, useMedian bool) float64 {
	total, count := 0.0, 0
	for i, in := range list.Inputs {
		if !in.Timed || (set != "" && in.Set != set) {
			continue
		}
		mean, median := inputTimes(r, i)
		if useMedian {
			total += median
		} else {
			total += mean
		}
		count++
	}
	return total / float64(count)
}

// typicalMicros returns the median over the timed inputs of their
// median-round time.
func typicalMicros(list inputFile, r validatorRun) float64 {
	var times []float64
	for i, in := range list.Inputs {
		if in.Timed {
			_, median := inputTimes(r, i)
			times = append(times, median)
		}
	}
	sort.Float64s(times)
	return times[len(times)/2]
}

func printSpeed(w io.Writer, list inputFile, runs []validatorRun) {
	fmt.Fprintf(w, "\n## Speed (%d timed validations per resource in %d interleaved rounds, after %d warm-up passes; one core)\n\n",
		runs[0].Iterations, runs[0].Rounds, runs[0].Warmup)
	fmt.Fprintf(w, "Times are µs per validation, averaged over the resources. \"mean\" averages all rounds; \"median round\" takes each resource's median round, which leaves out bursts of other load on the machine.\n\n")
	fmt.Fprintf(w, "| validator | mean, all | mean, R4 examples | mean, PAS Bundles | median round, all | median resource | ratio to Gatehouse (mean / median round) |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	baseMean := meanMicros(list, runs[0], "", false)
	baseMedian := meanMicros(list, runs[0], "", true)
	for _, r := range runs {
		mean, median := meanMicros(list, r, "", false), meanMicros(list, r, "", true)
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx / %.2fx |\n", r.Name, mean,
			meanMicros(list, r, "r4", false), meanMicros(list, r, "pas", false), median, typicalMicros(list, r), mean/baseMean, median/baseMedian)
	}
	fmt.Fprintf(w, "\nratio = the peer's time / Gatehouse's time, so above 1 means Gatehouse is faster (target: at least %dx)\n", targetRatio)
	fmt.Fprintf(w, "CPU share during the rounds (process CPU time / wall-clock time; well below 1 means other load took the core):")
	for _, r := range runs {
		fmt.Fprintf(w, " %s %.2f;", shortName(r.Name), r.CPUShare)
	}
	fmt.Fprintln(w)

	for _, r := range runs[1:] {
		var ratios []float64
		for i, in := range list.Inputs {
			if in.Timed {
				_, peer := inputTimes(r, i)
				_, gatehouse := inputTimes(runs[0], i)
				ratios = append(ratios, peer/math.Max(gatehouse, 1e-3))
			}
		}
		sort.Float64s(ratios)
		logSum, atTarget := 0.0, 0
		for _, x := range ratios {
			logSum += math.Log(math.Max(x, 1e-9))
			if x >= targetRatio {
				atTarget++
			}
		}
		fmt.Fprintf(w, "%s per-resource ratio (median rounds): median %.2fx, geometric mean %.2fx, min %.2fx, max %.2fx; at least %dx on %d of %d resources\n",
			r.Name, ratios[len(ratios)/2], math.Exp(logSum/float64(len(ratios))), ratios[0], ratios[len(ratios)-1], targetRatio, atTarget, len(ratios))
	}
	printSlowest(w, list, runs)
}

// printSlowest lists the resources that take Gatehouse longest, with
// their share of its total and every validator's median-round time.
func printSlowest(w io.Writer, list inputFile, runs []validatorRun) {
	var order []int
	total := 0.0
	for i, in := range list.Inputs {
		if in.Timed {
			order = append(order, i)
			mean, _ := inputTimes(runs[0], i)
			total += mean
		}
	}
	meanOf := func(i int) float64 {
		mean, _ := inputTimes(runs[0], i)
		return mean
	}
	sort.SliceStable(order, func(a, b int) bool { return meanOf(order[a]) > meanOf(order[b]) })

	fmt.Fprintf(w, "\nslowest resources for Gatehouse (share of Gatehouse's total, then µs per validation, median round):\n")
	for _, i := range order[:min(10, len(order))] {
		line := fmt.Sprintf("  %-52s %5.1f%%", list.Inputs[i].Name, 100*meanOf(i)/total)
		for _, r := range runs {
			_, median := inputTimes(r, i)
			line += fmt.Sprintf("  %s %.0f", shortName(r.Name), median)
		}
		fmt.Fprintln(w, line)
	}
}

// caught reports whether run r reports an error on mutant i that its
// base does not explain: the base has no error and the mutant has one,
// or, for a base the validator already rejects, the mutant has more.
func caught(list inputFile, r validatorRun, i int, bases map[string]int) (bool, string) {
	res := r.Results[i]
	if res.Failure != "" {
		return false, "validator failed: " + res.Failure
	}
	base := r.Results[bases[list.Inputs[i].Mutation.Base]]
	if base.Errors == 0 {
		return res.Errors > 0, firstMessage(res)
	}
	return res.Errors > base.Errors, "base has errors already; " + firstMessage(res)
}

func firstMessage(res result) string {
	if len(res.Messages) == 0 {
		return ""
	}
	return res.Messages[0]
}

func printMutations(w io.Writer, list inputFile, runs []validatorRun) {
	bases := map[string]int{}
	for i, in := range list.Inputs {
		bases[in.Name] = i
	}
	fmt.Fprintf(w, "\n## Real errors found: deliberately broken inputs\n\n")
	fmt.Fprintf(w, "Each mutant breaks one rule of a base that the validators accept; a validator catches it when it reports an error on the mutant and none on the base.\n\n")
	fmt.Fprintf(w, "base errors:")
	for _, r := range runs {
		fmt.Fprintf(w, " %s:", r.Name)
		for _, b := range []string{basePatient, baseObservation, baseBundle} {
			fmt.Fprintf(w, " %d", r.Results[bases[b]].Errors)
		}
		fmt.Fprintf(w, ";")
	}
	fmt.Fprintf(w, " (Patient, Observation, PAS Bundle)\n\n")

	header := "| mutant | rule |"
	rule := "| --- | --- |"
	for _, r := range runs {
		header += " " + shortName(r.Name) + " |"
		rule += " :---: |"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)

	all := make([]int, len(runs))
	core := make([]int, len(runs))
	total, totalCore := 0, 0
	var details []string
	for i, in := range list.Inputs {
		if in.Mutation == nil {
			continue
		}
		m := in.Mutation
		total++
		if m.Core {
			totalCore++
		}
		row := fmt.Sprintf("| %s | %s |", m.ID, strings.ReplaceAll(m.Rule, "|", `\|`))
		details = append(details, fmt.Sprintf("  %s (%s, base %s):", m.ID, m.Description, m.Base))
		for j, r := range runs {
			ok, msg := caught(list, r, i, bases)
			mark := "missed"
			if ok {
				mark = "caught"
				all[j]++
				if m.Core {
					core[j]++
				}
			}
			row += " " + mark + " |"
			if msg != "" {
				details = append(details, fmt.Sprintf("    %s: %s", shortName(r.Name), clip(msg, 150)))
			}
		}
		fmt.Fprintln(w, row)
	}

	fmt.Fprintln(w)
	for j, r := range runs {
		fmt.Fprintf(w, "%s: caught %d of %d (%d of %d core-rule mutants)\n", r.Name, all[j], total, core[j], totalCore)
	}
	fmt.Fprintf(w, "\nfirst error each validator gave on each mutant:\n%s\n", strings.Join(details, "\n"))
}

func printExamples(w io.Writer, list inputFile, runs []validatorRun, known map[string]string) {
	fmt.Fprintf(w, "\n## Published examples flagged with errors\n\n")
	fmt.Fprintf(w, "The R4 examples and PAS Bundles are published as valid. internal/validate/testdata/known-invalid-examples.txt lists %d R4 examples reviewed as really invalid, each with the reason. ", countPrefix(known, "r4/"))
	fmt.Fprintf(w, "Gatehouse's tests keep that list in step with Gatehouse, so Gatehouse finds all of them by construction. Errors on other examples are false positives or unreviewed.\n\n")

	gatehouse := runs[0]
	for _, r := range runs {
		flagged, knownHit, failures := 0, 0, 0
		for i, in := range list.Inputs {
			if !in.Timed {
				continue
			}
			res := r.Results[i]
			if res.Failure != "" {
				failures++
			}
			if res.Errors > 0 || res.Failure != "" {
				flagged++
				if _, ok := known[in.Name]; ok {
					knownHit++
				}
			}
		}
		fmt.Fprintf(w, "%s: flags %d of %d examples (%d validator failures); finds %d of the %d known-invalid R4 examples\n",
			r.Name, flagged, countTimed(list), failures, knownHit, countPrefix(known, "r4/"))
	}

	fmt.Fprintf(w, "\nknown-invalid R4 examples, by validator:\n")
	for i, in := range list.Inputs {
		reason, ok := known[in.Name]
		if !ok {
			continue
		}
		line := "  " + in.Name + ":"
		for _, r := range runs {
			mark := "missed"
			if r.Results[i].Errors > 0 || r.Results[i].Failure != "" {
				mark = "found"
			}
			line += " " + shortName(r.Name) + " " + mark + ";"
		}
		fmt.Fprintf(w, "%s\n    why invalid: %s\n", line, clip(reason, 160))
	}

	for _, r := range runs[1:] {
		var lines []string
		for i, in := range list.Inputs {
			res := r.Results[i]
			if !in.Timed || (res.Errors == 0 && res.Failure == "") || gatehouse.Results[i].Errors > 0 || gatehouse.Results[i].Failure != "" {
				continue
			}
			msg := firstMessage(res)
			if res.Failure != "" {
				msg = "validator failed: " + res.Failure
			}
			lines = append(lines, fmt.Sprintf("  %s: %s", in.Name, clip(msg, 150)))
		}
		fmt.Fprintf(w, "\nflagged by %s but valid for Gatehouse: %d\n", r.Name, len(lines))
		if len(lines) > maxListed {
			lines = append(lines[:maxListed], fmt.Sprintf("  ... %d more", len(lines)-maxListed))
		}
		if len(lines) > 0 {
			fmt.Fprintln(w, strings.Join(lines, "\n"))
		}
	}
}

func countTimed(list inputFile) int {
	n := 0
	for _, in := range list.Inputs {
		if in.Timed {
			n++
		}
	}
	return n
}

func countPrefix(m map[string]string, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// readKnownInvalid reads internal/validate's list of published examples
// that are not valid FHIR: "package/file: reason" lines.
func readKnownInvalid(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: line %q has no reason", path, line)
		}
		known[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return known, sc.Err()
}

// shortName is a validator's name without its version, for table heads.
func shortName(name string) string {
	if i := strings.LastIndex(name, " "); i > 0 {
		return name[:i]
	}
	return name
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
