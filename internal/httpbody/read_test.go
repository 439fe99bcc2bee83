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
