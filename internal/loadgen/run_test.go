package loadgen

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTarget responds to every request itself after delay, recording when
// each request arrived and the Claim identifiers it carried.
type fakeTarget struct {
	delay  time.Duration
	status int
	err    error

	mu    sync.Mutex
	times []time.Time
	ids   []string
}

func (f *fakeTarget) Name() string { return "fake" }

func (f *fakeTarget) NewSender(context.Context) (Sender, error) { return fakeSender{f}, nil }

type fakeSender struct{ f *fakeTarget }

func (s fakeSender) Send(ctx context.Context, body []byte) (Response, error) {
	f := s.f
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	f.ids = append(f.ids, claimIDIn(string(body)))
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.err != nil {
		return Response{}, f.err
	}
	return Response{Status: f.status}, nil
}

func (fakeSender) Close() {}

// claimIDIn returns the value following the Claim identifier system.
func claimIDIn(doc string) string {
	_, rest, _ := strings.Cut(doc, `"system":"`+ClaimIDSystem+`","value":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func builtinRequests(t *testing.T, n int) []*Template {
	t.Helper()
	reqs, err := Builtin(n, 7, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

func TestPercentileKnownInputs(t *testing.T) {
	ms := func(n int) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * time.Millisecond
		}
		return d
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"p50 of 1..100", ms(100), 50, 50 * time.Millisecond},
		{"p90 of 1..100", ms(100), 90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(100), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(100), 100, 100 * time.Millisecond},
		{"p99 of 1..1000", ms(1000), 99, 990 * time.Millisecond},
		{"p50 of 1..10", ms(10), 50, 5 * time.Millisecond},
		{"p90 of 1..10", ms(10), 90, 9 * time.Millisecond},
		{"p99 of 1..10 rounds up", ms(10), 99, 10 * time.Millisecond},
		{"p50 of 1..3 rounds up", ms(3), 50, 2 * time.Millisecond},
		{"one value", ms(1), 99, time.Millisecond},
		{"empty", nil, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%g) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestLatencyOfSortsAndSummarizes(t *testing.T) {
	d := []time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	got := latencyOf(d)
	want := Latency{P50: 2, P90: 4, P99: 4, Max: 4, Mean: 2.5}
	if got != want {
		t.Errorf("latencyOf = %+v, want %+v", got, want)
	}
}

func TestScheduleDue(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := schedule{start: start, rate: 20}
	if got := s.due(0); !got.Equal(start) {
		t.Errorf("due(0) = %s, want the start", got)
	}
	if got := s.due(20).Sub(start); got != time.Second {
		t.Errorf("due(20) - start = %s, want 1s", got)
	}
	if got := s.due(7).Sub(start); got != 350*time.Millisecond {
		t.Errorf("due(7) - start = %s, want 350ms", got)
	}
	if got := s.countBefore(start.Add(time.Second)); got != 20 {
		t.Errorf("countBefore(1s) = %d, want 20 (requests 0 to 19)", got)
	}
	if got := s.countBefore(start.Add(time.Second + time.Nanosecond)); got != 21 {
		t.Errorf("countBefore(1s+1ns) = %d, want 21", got)
	}
	if got := s.countBefore(start); got != 0 {
		t.Errorf("countBefore(start) = %d, want 0", got)
	}
}

// TestRunKeepsRate sends to an instant target at 100/s for one second:
// 100 requests, none earlier than its slot, each with its own identifier.
func TestRunKeepsRate(t *testing.T) {
	f := &fakeTarget{status: 200}
	sum, err := Run(context.Background(), Options{
		Requests: builtinRequests(t, 5), Target: f, Rate: 100, Concurrency: 4, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent+sum.Missed != 100 {
		t.Errorf("sent %d + missed %d, want 100 due in one second at 100/s", sum.Sent, sum.Missed)
	}
	// How many go out in time depends on the machine, but the accounting
	// above must not. A run that sends nothing is broken.
	if sum.Sent == 0 {
		t.Errorf("sent nothing of 100 to an instant target")
	}
	if sum.Successes != sum.Sent || sum.Statuses["200"] != sum.Sent {
		t.Errorf("successes %d, statuses %v, want all %d", sum.Successes, sum.Statuses, sum.Sent)
	}

	slices.SortFunc(f.times, func(a, b time.Time) int { return a.Compare(b) })
	first := f.times[0]
	for i, at := range f.times {
		// A request may start late, never early; 2ms allows for timer
		// granularity.
		if slot := first.Add(time.Duration(i) * 10 * time.Millisecond); at.Before(slot.Add(-2 * time.Millisecond)) {
			t.Fatalf("request %d started %s before its slot: the rate was exceeded", i, slot.Sub(at))
		}
	}
	if got := len(uniq(f.ids)); got != len(f.ids) || f.ids[0] == "" {
		t.Errorf("%d distinct Claim identifiers in %d requests (first %q), want one each", got, len(f.ids), f.ids[0])
	}
}

// TestRunClosedLoopCapped sends closed loop to an instant target: the
// total still stays within MaxRate.
func TestRunClosedLoopCapped(t *testing.T) {
	f := &fakeTarget{status: 200}
	d := 200 * time.Millisecond
	sum, err := Run(context.Background(), Options{Requests: builtinRequests(t, 3), Target: f, Concurrency: 8, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(MaxRate*d.Seconds()) + 1; sum.Sent > limit {
		t.Errorf("sent %d in %s closed loop, want at most %d (MaxRate)", sum.Sent, d, limit)
	}
	if sum.Mode != "closed loop" || sum.Missed != 0 {
		t.Errorf("mode %q missed %d, want closed loop with nothing missed", sum.Mode, sum.Missed)
	}
}

// TestRunOpenLoopCountsWait loads a target that takes 50ms per request
// with one worker at 100/s: most requests are missed, and latency counts
// the wait behind the busy worker.
func TestRunOpenLoopCountsWait(t *testing.T) {
	f := &fakeTarget{status: 200, delay: 50 * time.Millisecond}
	sum, err := Run(context.Background(), Options{
		Requests: builtinRequests(t, 2), Target: f, Rate: 100, Concurrency: 1, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent+sum.Missed != 50 {
		t.Errorf("sent %d + missed %d, want the 50 due", sum.Sent, sum.Missed)
	}
	if sum.Sent > 11 || sum.Missed < 39 {
		t.Errorf("sent %d, missed %d; one 50ms worker fits at most 10 or 11 in 500ms", sum.Sent, sum.Missed)
	}
	if sum.Latency.Max < 100 {
		t.Errorf("max latency %.1fms, want the queueing behind the worker counted (over 100ms)", sum.Latency.Max)
	}
}

func TestRunCountsStatusesAndErrors(t *testing.T) {
	t.Run("refusals", func(t *testing.T) {
		sum, err := Run(context.Background(), Options{
			Requests: builtinRequests(t, 1), Target: &fakeTarget{status: 429}, Rate: 50, Concurrency: 2, Duration: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Successes != 0 || sum.Failures != sum.Sent || sum.Statuses["429"] != sum.Sent || sum.Latency.P99 != 0 {
			t.Errorf("summary %+v, want every request a 429 failure without latency", sum)
		}
	})
	t.Run("transport errors", func(t *testing.T) {
		sum, err := Run(context.Background(), Options{
			Requests: builtinRequests(t, 1), Target: &fakeTarget{err: errors.New("connection reset")}, Rate: 50, Concurrency: 2, Duration: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Errors != sum.Sent || sum.ErrorMessages["connection reset"] != sum.Sent {
			t.Errorf("errors %d messages %v, want all %d sent", sum.Errors, sum.ErrorMessages, sum.Sent)
		}
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	sum, err := Run(ctx, Options{Requests: builtinRequests(t, 1), Target: &fakeTarget{status: 200}, Rate: 10, Concurrency: 1, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s after its context ended", took)
	}
	if !sum.Interrupted || sum.Sent < 2 || sum.Missed > 1 {
		t.Errorf("interrupted %v sent %d missed %d, want an interrupted run counting only what was due", sum.Interrupted, sum.Sent, sum.Missed)
	}
}

func TestOptionsCaps(t *testing.T) {
	reqs := builtinRequests(t, 1)
	good := Options{Requests: reqs, Target: &fakeTarget{}, Rate: 10, Concurrency: 1, Duration: time.Second}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"rate above cap", func(o *Options) { o.Rate = MaxRate + 1 }, "rate"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate"},
		{"no workers", func(o *Options) { o.Concurrency = 0 }, "concurrency"},
		{"too many workers", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "duration"},
		{"duration above cap", func(o *Options) { o.Duration = MaxDuration + time.Second }, "duration"},
		{"no requests", func(o *Options) { o.Requests = nil }, "no requests"},
		{"no target", func(o *Options) { o.Target = nil }, "no target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.change(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run error = %v, want one about %s", err, tt.want)
			}
		})
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://localhost:8443", true},
		{"http://127.0.0.1:9000/Claim/$submit", true},
		{"http://127.3.4.5:9000", true},
		{"https://[::1]:8443", true},
		{"https://gatehouse.example.org", false},
		{"http://10.0.0.1:80", false},
		{"http://0.0.0.0:80", false},
		{"ftp://localhost/", false},
		{"localhost:8443", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckLoopbackURL(tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("CheckLoopbackURL = %v, want ok %v", err, tt.ok)
			}
		})
	}

	// The dialer checks again after name resolution.
	if err := loopbackOnly("tcp", "192.0.2.1:443", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("loopbackOnly(192.0.2.1) = %v, want ErrNotLoopback", err)
	}
	if err := loopbackOnly("tcp", "127.0.0.1:443", nil); err != nil {
		t.Errorf("loopbackOnly(127.0.0.1) = %v, want nil", err)
	}
	if _, err := (&HTTP{SubmitURL: "http://192.0.2.1/Claim/$submit"}).NewSender(context.Background()); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("NewSender for a remote URL = %v, want ErrNotLoopback", err)
	}
}

func uniq(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}
