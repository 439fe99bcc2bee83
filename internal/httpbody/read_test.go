package httpbody

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	cases := []struct {
		name     string
		declared int64
		limit    int64
		want     int // bytes returned
	}{
		{"declared exactly", 1000, 4096, 1000},
		{"declared short", 10, 4096, 1000},
		{"declared long", 100000, 4096, 1000},
		{"unknown length", -1, 4096, 1000},
		{"over limit", 1000, 100, 101},
		{"over limit unknown", -1, 100, 101},
		{"at limit", 1000, 1000, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// OneByteReader makes every read short, as a network body can be.
			got, err := Read(iotest.OneByteReader(bytes.NewReader(body)), c.declared, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body[:c.want]) {
				t.Errorf("read %d bytes, want the first %d of the body", len(got), c.want)
			}
		})
	}
}

func TestReadPresizeBounded(t *testing.T) {
	got, err := Read(bytes.NewReader(nil), 1<<40, 1<<41)
	if err != nil {
		t.Fatal(err)
	}
	if cap(got) > maxPresize+1 {
		t.Errorf("allocated %d bytes for an empty body, want at most %d", cap(got), maxPresize+1)
	}
}

func TestReadReportsErrors(t *testing.T) {
	broken := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(broken))
	if _, err := Read(r, 10, 100); !errors.Is(err, broken) {
		t.Errorf("error = %v, want %v", err, broken)
	}
}

func TestReadHeldTakesBufferFromBudget(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 3000)
	budget := NewBudget(1 << 20)
	hold := budget.NewHold()

	got, err := ReadHeld(iotest.OneByteReader(bytes.NewReader(body)), -1, 4096, hold)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, want %d", len(got), len(body))
	}
	if used := budget.Used(); used != int64(cap(got)) {
		t.Errorf("budget used = %d, want the buffer's capacity %d", used, cap(got))
	}
	hold.Release()
	hold.Release()
	if used := budget.Used(); used != 0 {
		t.Errorf("budget used after release = %d, want 0", used)
	}
}

func TestReadHeldStopsAtBudget(t *testing.T) {
	budget := NewBudget(2048)
	first := budget.NewHold()
	if _, err := ReadHeld(bytes.NewReader(make([]byte, 1500)), 1500, 4096, first); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		declared int64
	}{
		{"declared length over the room left", 1000},
		{"unknown length growing past the room left", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hold := budget.NewHold()
			_, err := ReadHeld(bytes.NewReader(make([]byte, 1000)), c.declared, 4096, hold)
			if !errors.Is(err, ErrBudgetExhausted) {
				t.Errorf("error = %v, want ErrBudgetExhausted", err)
			}
			hold.Release()
			if used := budget.Used(); used != 1501 {
				t.Errorf("budget used = %d, want 1501 (the first body only)", used)
			}
		})
	}

	first.Release()
	hold := budget.NewHold()
	if _, err := ReadHeld(bytes.NewReader(make([]byte, 1000)), 1000, 4096, hold); err != nil {
		t.Errorf("after release: %v, want the body read", err)
	}
}
