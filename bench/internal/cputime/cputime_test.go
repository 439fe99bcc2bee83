package cputime

import "testing"

func TestShareOfBusyLoop(t *testing.T) {
	start := Now()
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	_ = x
	share := start.Share()
	if share <= 0 || share > 1.5 {
		t.Errorf("Share() = %.2f after a busy loop, expected a value in (0, 1.5]", share)
	}
}
