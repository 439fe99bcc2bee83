package posture

import (
	"testing"
	"time"
)

func TestDurationFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", 52560 * time.Hour: "52560h", 90 * time.Second: "1m30s", time.Hour + 5*time.Minute: "1h5m", 30 * time.Second: "30s"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}
