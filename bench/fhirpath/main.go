// Command fhirpath-bench times Gatehouse's FHIRPath engine against
// fhirpath.js on the official FHIRPath R4 suite and compares their
// results. run.sh in this directory drives it. The steps are:
//
//	extract  write the suite's cases that Gatehouse evaluates without error
//	select   keep the cases that fhirpath.js evaluated without error too
//	time     compile each case once and evaluate it N times, in rounds
//	report   print ns per evaluation, the ratio and the agreement counts
//
// The case file is JSON: {"corpus": DIR, "cases": [{"name",
// "expression", "input", "predicate", "expected"}]}, where input is the
// path of a JSON resource relative to the corpus directory, or "" for
// cases evaluated on an empty input. Timing files are {"engine",
// "iterations", "rounds", "warmup", "cases": [{"name", "roundNS",
// "result"}]}, where roundNS is the time in nanoseconds of each round's
// iterations/rounds evaluations and result is the last result as JSON.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gatehouse-health/gatehouse/bench/internal/cmdmain"
)

const usage = `Usage:
  fhirpath-bench extract -corpus DIR -out FILE
  fhirpath-bench select -candidates FILE -js FILE -out FILE
  fhirpath-bench time -cases FILE -n N -rounds R -warmup W -out FILE [-cpuprofile FILE]
  fhirpath-bench report -cases FILE -gatehouse FILE -js FILE

Run ./run.sh rather than these steps by hand: it installs fhirpath.js and
pins both engines to one core.
`

func main() { cmdmain.Main("fhirpath-bench", usage, run) }

// errUsage marks invalid arguments.
var errUsage = cmdmain.ErrUsage

func run(command string, args []string) error {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	corpus := fs.String("corpus", "", "corpus directory (the shared/corpus folder)")
	out := fs.String("out", "", "output file")
	candidates := fs.String("candidates", "", "case file written by extract")
	jsFile := fs.String("js", "", "fhirpath.js output: its check file for select, its timing file for report")
	cases := fs.String("cases", "", "case file written by select")
	gatehouse := fs.String("gatehouse", "", "Gatehouse timing file")
	iterations := fs.Int("n", 1000, "timed evaluations per case, a multiple of -rounds")
	rounds := fs.Int("rounds", 5, "rounds the timed evaluations are split into")
	warmup := fs.Int("warmup", 50, "untimed evaluations per case before timing")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the timed loop to this file (time only)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}

	switch command {
	case "extract":
		if *corpus == "" || *out == "" {
			return fmt.Errorf("extract needs -corpus and -out: %w", errUsage)
		}
		return extract(*corpus, *out)
	case "select":
		if *candidates == "" || *jsFile == "" || *out == "" {
			return fmt.Errorf("select needs -candidates, -js and -out: %w", errUsage)
		}
		return selectCases(*candidates, *jsFile, *out)
	case "time":
		if *cases == "" || *out == "" || !cmdmain.ValidTiming(*iterations, *rounds, *warmup) {
			return fmt.Errorf("time needs -cases, -out, -rounds >= 1, -n a multiple of -rounds and -warmup >= 0: %w", errUsage)
		}
		return timeCases(*cases, *iterations, *rounds, *warmup, *out, *cpuProfile)
	case "report":
		if *cases == "" || *gatehouse == "" || *jsFile == "" {
			return fmt.Errorf("report needs -cases, -gatehouse and -js: %w", errUsage)
		}
		return report(os.Stdout, *cases, *gatehouse, *jsFile)
	}
	return fmt.Errorf("unknown command %q: %w", command, errUsage)
}
