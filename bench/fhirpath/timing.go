package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/gatehouse-health/gatehouse/bench/internal/cputime"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// timingFile is the output of either engine's timing run.
type timingFile struct {
	Engine     string `json:"engine"`
	Iterations int    `json:"iterations"` // per case, over all rounds
	Rounds     int    `json:"rounds"`
	Warmup     int    `json:"warmup"`
	// CPUShare is the process CPU time over the wall-clock time of the
	// rounds. Well below 1 means other processes took the core.
	CPUShare float64      `json:"cpuShare"`
	Cases    []timingCase `json:"cases"`
}

type timingCase struct {
	Name string `json:"name"`
	// RoundNS is the time, in nanoseconds, of each round's
	// Iterations/Rounds evaluations of the case.
	RoundNS []int64         `json:"roundNS"`
	Result  json.RawMessage `json:"result"`
}

type compiledCase struct {
	name  string
	expr  *fhirpath.Expression
	input []fhirpath.Value
}

// timeCases compiles every case once and runs warmup untimed passes over
// all cases. Then, in each of the rounds, it evaluates every case
// n/rounds times in a row and records the time. Interleaving the rounds
// spreads a burst of other load on the machine over many cases, so the
// median round of each case leaves it out. Inputs are parsed before
// timing, as fhirpathjs.js parses them before its loop.
func timeCases(casesPath string, n, rounds, warmup int, out, cpuProfile string) error {
	var file caseFile
	if err := readJSON(casesPath, &file); err != nil {
		return err
	}
	inputs := map[string]*fhirpath.Node{}
	compiled := make([]compiledCase, len(file.Cases))
	for i, c := range file.Cases {
		expr, err := fhirpath.Compile(c.Expression)
		if err != nil {
			return fmt.Errorf("case %s: %w", c.Name, err)
		}
		in, err := loadInput(file.Corpus, c.Input, inputs)
		if err != nil {
			return fmt.Errorf("case %s: %w", c.Name, err)
		}
		compiled[i] = compiledCase{name: c.Name, expr: expr, input: in}
	}

	for range warmup {
		for _, c := range compiled {
			if _, err := c.expr.Evaluate(fhirpath.EvalContext{}, c.input...); err != nil {
				return fmt.Errorf("case %s: %w", c.name, err)
			}
		}
	}

	runtime.GC()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	result := timingFile{Engine: "gatehouse", Iterations: n, Rounds: rounds, Warmup: warmup}
	result.Cases = make([]timingCase, len(compiled))
	last := make([]fhirpath.Collection, len(compiled))
	started := cputime.Now()
	for range rounds {
		for i, c := range compiled {
			var err error
			start := time.Now()
			for range n / rounds {
				if last[i], err = c.expr.Evaluate(fhirpath.EvalContext{}, c.input...); err != nil {
					return fmt.Errorf("case %s: %w", c.name, err)
				}
			}
			result.Cases[i].RoundNS = append(result.Cases[i].RoundNS, time.Since(start).Nanoseconds())
		}
	}
	result.CPUShare = started.Share()
	for i, c := range compiled {
		result.Cases[i].Name = c.name
		result.Cases[i].Result = fhirpath.FormatJSON(last[i])
	}
	return writeJSON(out, result)
}
