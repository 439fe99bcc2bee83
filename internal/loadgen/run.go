package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Caps on one run. They keep a mistyped option from turning the tool into
// a flood: at most MaxRate × MaxDuration requests, from at most
// MaxConcurrency connections, each to a loopback address.
const (
	MaxRate        = 5000 // requests per second
	MaxConcurrency = 256
	MaxDuration    = 10 * time.Minute
)

// Options configures Run.
type Options struct {
	// Requests are replayed in turns: request i is Requests[i % len].
	Requests []*Template
	// Target receives the requests.
	Target Target
	// Rate is the request rate per second of an open-loop run. Zero makes
	// the run closed loop (see the package documentation).
	Rate float64
	// Concurrency is the number of workers, each with its own connection
	// and, for the gateway, its own access token.
	Concurrency int
	// Duration is how long requests are started for. Run waits for the
	// requests still in flight at the end.
	Duration time.Duration
	// Progress, when set, is called about once a second from another
	// goroutine with the counts so far.
	Progress func(Progress)
	// RunID prefixes the identifiers of every request. Empty means eight
	// random hex digits.
	RunID string
}

// Progress is a snapshot of a running load.
type Progress struct {
	Elapsed   time.Duration
	Sent      int64
	Succeeded int64
	Rejected  int64 // 2xx responses with a ClaimResponse of outcome "error"
	Failed    int64 // responses with a status other than 2xx
	Errors    int64 // no response: connection or timeout errors
	InFlight  int64
	// LastSecond is the number of responses and errors in the last second.
	LastSecond int64
}

// validate checks the options against the caps.
func (o *Options) validate() error {
	switch {
	case len(o.Requests) == 0:
		return errors.New("loadgen: no requests to send")
	case o.Target == nil:
		return errors.New("loadgen: no target")
	}
	return CheckLimits(o.Rate, o.Concurrency, o.Duration)
}

// CheckLimits returns a *LimitError naming the first value outside the caps.
func CheckLimits(rate float64, concurrency int, duration time.Duration) error {
	switch {
	case math.IsNaN(rate) || rate < 0 || rate > MaxRate:
		return &LimitError{Option: "rate", Value: fmt.Sprintf("%g/s", rate), Allowed: fmt.Sprintf("0 (closed loop) up to %d/s", MaxRate)}
	case concurrency < 1 || concurrency > MaxConcurrency:
		return &LimitError{Option: "concurrency", Value: fmt.Sprint(concurrency), Allowed: fmt.Sprintf("1 to %d", MaxConcurrency)}
	case duration <= 0 || duration > MaxDuration:
		return &LimitError{Option: "duration", Value: duration.String(), Allowed: fmt.Sprintf("more than 0 and at most %s", MaxDuration)}
	}
	return nil
}

// LimitError is an option of Options outside its cap.
type LimitError struct {
	Option  string // "rate", "concurrency" or "duration"
	Value   string // the value given, such as "-1s"
	Allowed string // the allowed range, such as "1 to 256"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("loadgen: %s %s is out of range: use %s", e.Option, e.Value, e.Allowed)
}

// schedule gives the earliest start of each request: request i is due
// at start + i/rate.
type schedule struct {
	start time.Time
	rate  float64
}

// due returns when request i may start.
func (s schedule) due(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) / s.rate * float64(time.Second)))
}

// countBefore returns how many requests are due before t.
func (s schedule) countBefore(t time.Time) int64 {
	if !t.After(s.start) {
		return 0
	}
	return int64(math.Ceil(t.Sub(s.start).Seconds() * s.rate))
}

// runner is the state of one Run.
type runner struct {
	opts      Options
	sched     schedule
	end       time.Time
	openLoop  bool
	runID     string
	next      atomic.Int64 // index of the next request to claim
	sent      atomic.Int64
	succeeded atomic.Int64
	rejected  atomic.Int64
	failed    atomic.Int64
	errored   atomic.Int64
	inFlight  atomic.Int64
}

// Run sends the load and returns its summary. An error means the run
// could not start, such as a worker that got no access token. Failed
// requests are counted in the summary instead. Cancelling ctx stops the
// run early, and the summary then covers what was sent.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	senders, err := openSenders(ctx, opts.Target, opts.Concurrency)
	if err != nil {
		return nil, err
	}
	defer closeSenders(senders)

	r := &runner{opts: opts, openLoop: opts.Rate > 0, runID: opts.RunID}
	if r.runID == "" {
		r.runID = randomRunID()
	}
	rate := opts.Rate
	if !r.openLoop {
		rate = MaxRate
	}
	r.sched = schedule{start: time.Now(), rate: rate}
	r.end = r.sched.start.Add(opts.Duration)

	stopProgress := r.reportProgress()
	results := make([]*workerStats, len(senders))
	var wg sync.WaitGroup
	for w, s := range senders {
		wg.Go(func() { results[w] = r.work(ctx, s) })
	}
	wg.Wait()
	stopProgress()
	return r.summarize(ctx, results, time.Since(r.sched.start)), nil
}

// openSenders opens one sender per worker, one after the other so that
// token requests do not arrive as a burst.
func openSenders(ctx context.Context, t Target, n int) ([]Sender, error) {
	senders := make([]Sender, 0, n)
	for w := range n {
		s, err := t.NewSender(ctx)
		if err != nil {
			closeSenders(senders)
			return nil, fmt.Errorf("loadgen: worker %d: %w", w+1, err)
		}
		senders = append(senders, s)
	}
	return senders, nil
}

func closeSenders(senders []Sender) {
	for _, s := range senders {
		s.Close()
	}
}

// work claims requests in order until the duration ends or ctx is done.
func (r *runner) work(ctx context.Context, s Sender) *workerStats {
	ws := newWorkerStats()
	var buf []byte
	for {
		i := r.next.Add(1) - 1
		due := r.sched.due(i)
		if !due.Before(r.end) || !sleepUntil(ctx, due) {
			return ws
		}
		start := time.Now()
		if !start.Before(r.end) {
			return ws
		}
		if r.openLoop {
			// Count the wait for a free worker as part of the latency.
			start = due
		}
		t := r.opts.Requests[i%int64(len(r.opts.Requests))]
		id := r.runID + "-" + strconv.FormatInt(i+1, 10)
		buf = t.Fill(buf[:0], id, id)

		r.sent.Add(1)
		r.inFlight.Add(1)
		res, err := s.Send(ctx, buf)
		elapsed := time.Since(start)
		r.inFlight.Add(-1)
		if err != nil && ctx.Err() != nil {
			// Interrupted, not an error of the target.
			r.sent.Add(-1)
			return ws
		}
		r.record(ws, res, err, elapsed)
	}
}

// record counts one result. The latency percentiles cover successes only,
// because a rejection skips the payer's adjudication and would make the
// run look faster.
func (r *runner) record(ws *workerStats, res Response, err error, elapsed time.Duration) {
	status := res.Status
	switch {
	case err != nil:
		r.errored.Add(1)
		ws.addError(err)
	case res.Rejected:
		r.rejected.Add(1)
		ws.statuses[status]++
	case status >= 200 && status < 300:
		r.succeeded.Add(1)
		ws.latencies = append(ws.latencies, elapsed)
		ws.statuses[status]++
	default:
		r.failed.Add(1)
		ws.statuses[status]++
	}
}

// sleepUntil waits until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reportProgress calls the Progress hook every second until the returned
// function is called.
func (r *runner) reportProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				completed := r.succeeded.Load() + r.rejected.Load() + r.failed.Load() + r.errored.Load()
				r.opts.Progress(Progress{
					Elapsed:    time.Since(r.sched.start),
					Sent:       r.sent.Load(),
					Succeeded:  r.succeeded.Load(),
					Rejected:   r.rejected.Load(),
					Failed:     r.failed.Load(),
					Errors:     r.errored.Load(),
					InFlight:   r.inFlight.Load(),
					LastSecond: completed - last,
				})
				last = completed
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func randomRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("loadgen: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
