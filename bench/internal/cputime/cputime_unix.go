//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time of all threads of the
// process.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
