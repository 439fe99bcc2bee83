// Package cmdmain is the entry point the benchmark programs share: one
// subcommand per step, usage on stderr, exit 2 on usage errors and 1 on
// other failures.
package cmdmain

import (
	"errors"
	"fmt"
	"os"
)

// ErrUsage is wrapped by a step's error when its arguments are invalid.
var ErrUsage = errors.New("invalid arguments")

// Main runs run with the subcommand and its arguments from os.Args and
// exits. Error lines start with name, and usage is printed on usage errors.
func Main(name, usage string, run func(command string, args []string) error) {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", name, err)
		if errors.Is(err, ErrUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// ValidTiming reports whether the options of a time step are usable:
// at least one round, iterations a positive multiple of rounds, and no
// negative warmup.
func ValidTiming(iterations, rounds, warmup int) bool {
	return rounds >= 1 && iterations >= rounds && iterations%rounds == 0 && warmup >= 0
}
