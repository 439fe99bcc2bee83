package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/bench/internal/cputime"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/validate"
)

// verdictFile is the output of a validator run: one entry per validator,
// each with one result per input, in the order of inputs.json.
type verdictFile struct {
	Validators []validatorRun `json:"validators"`
}

type validatorRun struct {
	Name       string `json:"name"`
	Mode       string `json:"mode"`       // the timed call, as code
	Iterations int    `json:"iterations"` // per timed input, over all rounds
	Rounds     int    `json:"rounds"`
	Warmup     int    `json:"warmup"`
	// CPUShare is the process CPU time over the wall-clock time of the
	// rounds. Well below 1 means other processes took the core.
	CPUShare float64  `json:"cpuShare"`
	Results  []result `json:"results"`
}

type result struct {
	Name string `json:"name"`
	// RoundNS is the time, in nanoseconds, of each round's
	// Iterations/Rounds validations of a timed input. It is empty for a
	// mutant.
	RoundNS  []int64  `json:"roundNS"`
	Errors   int      `json:"errors"`   // issues of severity error or fatal
	Messages []string `json:"messages"` // the first few errors
	// Failure is set when the validator itself failed rather than
	// reporting on the input.
	Failure string `json:"failure,omitempty"`
}

// exampleDomains are the extension domains the specification's examples
// use without defining the extensions, and internal/validate's tests allow
// them the same way for the R4 examples.
var exampleDomains = []string{"http://hl7.org/fhir/", "http://example.org/", "http://nema.org/"}

// exampleModifierDomains is the domain of the modifier extensions the R4
// examples use without defining them (Basic-referral).
var exampleModifierDomains = []string{"http://example.org/"}

const maxMessages = 3

// timeGatehouse validates every input. It runs warmup untimed passes over
// the timed inputs, because the validator compiles definitions on first
// use. Then, in each of the rounds, it validates every timed input
// n/rounds times in a row and records the time. Because the rounds are
// interleaved, the median round leaves out bursts of other load on the
// machine. Last, it validates every input once more for the verdicts.
func timeGatehouse(inputsPath string, n, rounds, warmup int, out, cpuProfile string) error {
	var list inputFile
	if err := readJSON(inputsPath, &list); err != nil {
		return err
	}
	validators := map[string]*validate.Validator{}
	bodies := make([][]byte, len(list.Inputs))
	for i, in := range list.Inputs {
		raw, err := os.ReadFile(in.Path)
		if err != nil {
			return err
		}
		bodies[i] = raw
		if _, ok := validators[in.Context]; ok {
			continue
		}
		v, err := newGatehouseValidator(in.Context)
		if err != nil {
			return err
		}
		validators[in.Context] = v
	}

	for range warmup {
		for i, in := range list.Inputs {
			if in.Timed {
				_, _ = validators[in.Context].Validate(bodies[i])
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
	run := validatorRun{Name: "gatehouse", Mode: "validate.New + (*Validator).Validate(body)", Iterations: n, Rounds: rounds, Warmup: warmup}
	run.Results = make([]result, len(list.Inputs))
	started := cputime.Now()
	for range rounds {
		for i, in := range list.Inputs {
			if !in.Timed {
				continue
			}
			v := validators[in.Context]
			start := time.Now()
			for range n / rounds {
				_, _ = v.Validate(bodies[i])
			}
			run.Results[i].RoundNS = append(run.Results[i].RoundNS, time.Since(start).Nanoseconds())
		}
	}

	run.CPUShare = started.Share()

	// The verdicts come from one more validation of every input.
	for i, in := range list.Inputs {
		r := &run.Results[i]
		r.Name = in.Name
		res, err := validators[in.Context].Validate(bodies[i])
		if err != nil {
			r.Failure = err.Error()
			continue
		}
		r.Errors, r.Messages = gatehouseErrors(res)
	}
	return writeJSON(out, verdictFile{Validators: []validatorRun{run}})
}

// newGatehouseValidator configures the validator as Gatehouse does for
// the input's context: PAS Bundles in the context of their PAS version,
// with the default extension domains. R4 examples with the example
// domains added, as internal/validate's tests do.
func newGatehouseValidator(context string) (*validate.Validator, error) {
	if context == "" {
		return validate.New(validate.Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	}
	v, err := validate.New(validate.Options{Context: []string{context}})
	if err != nil {
		return nil, fmt.Errorf("validator for %s: %w", context, err)
	}
	return v, nil
}

func gatehouseErrors(res *validate.Result) (int, []string) {
	count := 0
	var messages []string
	for _, is := range res.Issues {
		if is.Severity != outcome.Error && is.Severity != outcome.Fatal {
			continue
		}
		count++
		if len(messages) < maxMessages {
			messages = append(messages, strings.TrimSpace(strings.Join(is.Expression, ",")+" "+is.Diagnostics))
		}
	}
	return count, messages
}
