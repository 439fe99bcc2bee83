package app

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsDefault(t *testing.T) {
	restoreGOGC(t)
	os.Unsetenv("GOGC")
	if got := TuneGC(); got != DefaultGCPercent {
		t.Errorf("TuneGC() = %d, want %d", got, DefaultGCPercent)
	}
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Errorf("GC percent after TuneGC = %d, want %d", got, DefaultGCPercent)
	}
}

func TestTuneGCKeepsGOGC(t *testing.T) {
	restoreGOGC(t)
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if got := TuneGC(); got != 0 {
		t.Errorf("TuneGC() = %d with GOGC set, want 0", got)
	}
	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("GC percent = %d, want GOGC's 150", got)
	}
}

// restoreGOGC puts back the GOGC variable and the runtime's setting.
func restoreGOGC(t *testing.T) {
	t.Helper()
	value, set := os.LookupEnv("GOGC")
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	t.Cleanup(func() {
		if set {
			os.Setenv("GOGC", value)
		} else {
			os.Unsetenv("GOGC")
		}
		debug.SetGCPercent(percent)
	})
}
