// Command validator-bench times Gatehouse's FHIR validator against
// JavaScript validators from npm on the same inputs and compares what
// each finds. run.sh in this directory drives it. The steps are:
//
//	inputs  list the R4 instance examples and PAS Bundles, write the mutants
//	time    validate every input with Gatehouse, N times per timed input, in rounds
//	report  print per-resource time, ratios and the errors each one found
//
// inputs.json is {"inputs": [{"name", "path", "set", "context", "timed",
// "mutation"}]}. Every validator's run writes {"validators": [{"name",
// "mode", "iterations", "rounds", "warmup", "results": [{"name",
// "roundNS", "errors", "messages", "failure"}]}]}, one result per input
// in the same order, where roundNS is the time in nanoseconds of each round's
// iterations/rounds validations of a timed input.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-health/gatehouse/bench/internal/cmdmain"
)

const usage = `Usage:
  validator-bench inputs -examples DIR -bundles DIR -out DIR
  validator-bench time -inputs FILE -n N -rounds R -warmup W -out FILE [-cpuprofile FILE]
  validator-bench report -inputs FILE -known FILE -verdicts FILE[,FILE...]

Run ./run.sh rather than these steps by hand: it installs the JavaScript
validators and pins every validator to one core.
`

func main() { cmdmain.Main("validator-bench", usage, run) }

// errUsage marks invalid arguments.
var errUsage = cmdmain.ErrUsage

func run(command string, args []string) error {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	examples := fs.String("examples", "", "the package/ folder of the unpacked hl7.fhir.r4.examples archive")
	bundles := fs.String("bundles", "", "folder of PAS Bundles named pas-<version>-*.json")
	out := fs.String("out", "", "output folder (inputs) or file (time)")
	inputs := fs.String("inputs", "", "inputs.json written by the inputs step")
	known := fs.String("known", "", "known-invalid-examples.txt of internal/validate")
	verdicts := fs.String("verdicts", "", "comma-separated verdict files, Gatehouse's first")
	iterations := fs.Int("n", 10, "timed validations per resource, a multiple of -rounds")
	rounds := fs.Int("rounds", 5, "rounds the timed validations are split into")
	warmup := fs.Int("warmup", 1, "untimed passes over the resources before timing")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the timed validations to this file (time only)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}

	switch command {
	case "inputs":
		if *examples == "" || *bundles == "" || *out == "" {
			return fmt.Errorf("inputs needs -examples, -bundles and -out: %w", errUsage)
		}
		return writeInputs(*examples, *bundles, *out)
	case "time":
		if *inputs == "" || *out == "" || !cmdmain.ValidTiming(*iterations, *rounds, *warmup) {
			return fmt.Errorf("time needs -inputs, -out, -rounds >= 1, -n a multiple of -rounds and -warmup >= 0: %w", errUsage)
		}
		return timeGatehouse(*inputs, *iterations, *rounds, *warmup, *out, *cpuProfile)
	case "report":
		if *inputs == "" || *known == "" || *verdicts == "" {
			return fmt.Errorf("report needs -inputs, -known and -verdicts: %w", errUsage)
		}
		return report(os.Stdout, *inputs, strings.Split(*verdicts, ","), *known)
	}
	return fmt.Errorf("unknown command %q: %w", command, errUsage)
}
