package loadgen

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"
)

// maxErrorKinds caps the distinct error messages one worker keeps. It
// counts the rest under otherErrors.
const maxErrorKinds = 20

const otherErrors = "other errors"

// workerStats contains the measurements of one worker. Only that worker
// writes it, so it needs no lock.
type workerStats struct {
	latencies []time.Duration // of successful requests
	statuses  map[int]int64
	errors    map[string]int64
}

func newWorkerStats() *workerStats {
	return &workerStats{statuses: map[int]int64{}, errors: map[string]int64{}}
}

func (ws *workerStats) addError(err error) {
	msg := err.Error()
	if _, known := ws.errors[msg]; !known && len(ws.errors) >= maxErrorKinds {
		msg = otherErrors
	}
	ws.errors[msg]++
}

// Summary is the result of a run.
type Summary struct {
	RunID       string  `json:"run_id"`
	Target      string  `json:"target"`
	Mode        string  `json:"mode"` // "open loop" or "closed loop"
	Rate        float64 `json:"rate"` // requested rate per second; 0 in closed loop
	Concurrency int     `json:"concurrency"`
	// DurationSeconds is the requested duration. ElapsedSeconds lasts
	// until the last response arrived.
	DurationSeconds float64 `json:"duration_seconds"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
	Interrupted     bool    `json:"interrupted,omitempty"`

	Sent      int64 `json:"sent"`
	Successes int64 `json:"successes"` // 2xx responses, rejections excepted
	// Rejected counts 2xx responses whose first ClaimResponse has outcome
	// "error": the payer rejected the request without adjudicating it.
	Rejected int64 `json:"rejected"`
	Failures int64 `json:"failures"` // responses with another status
	Errors   int64 `json:"errors"`   // no response
	// Missed counts open-loop requests that were due before the end but
	// never started because every worker was busy.
	Missed int64 `json:"missed"`
	// Throughput is successes per elapsed second.
	Throughput float64 `json:"throughput"`

	Latency       Latency          `json:"latency_ms"`
	Statuses      map[string]int64 `json:"statuses"`
	ErrorMessages map[string]int64 `json:"error_messages,omitempty"`
	Requests      RequestStats     `json:"requests"`
}

// Latency contains percentiles of the successful requests, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// RequestStats describes the distinct requests replayed.
type RequestStats struct {
	Distinct  int     `json:"distinct"`
	MeanBytes int     `json:"mean_bytes"`
	MinBytes  int     `json:"min_bytes"`
	MaxBytes  int     `json:"max_bytes"`
	MeanItems float64 `json:"mean_items"`
}

func (r *runner) summarize(ctx context.Context, results []*workerStats, elapsed time.Duration) *Summary {
	s := &Summary{
		RunID:           r.runID,
		Target:          r.opts.Target.Name(),
		Mode:            "closed loop",
		Rate:            r.opts.Rate,
		Concurrency:     r.opts.Concurrency,
		DurationSeconds: r.opts.Duration.Seconds(),
		ElapsedSeconds:  elapsed.Seconds(),
		Interrupted:     ctx.Err() != nil,
		Sent:            r.sent.Load(),
		Successes:       r.succeeded.Load(),
		Rejected:        r.rejected.Load(),
		Failures:        r.failed.Load(),
		Errors:          r.errored.Load(),
		Statuses:        map[string]int64{},
		Requests:        describeRequests(r.opts.Requests, len(r.runID)+8),
	}
	if r.openLoop {
		s.Mode = "open loop"
		stop := r.end
		if s.Interrupted {
			stop = r.sched.start.Add(elapsed)
		}
		s.Missed = max(0, min(r.sched.countBefore(stop), r.sched.countBefore(r.end))-s.Sent)
	}
	if elapsed > 0 {
		s.Throughput = float64(s.Successes) / elapsed.Seconds()
	}

	var all []time.Duration
	for _, ws := range results {
		all = append(all, ws.latencies...)
		for code, n := range ws.statuses {
			s.Statuses[strconv.Itoa(code)] += n
		}
		for msg, n := range ws.errors {
			if s.ErrorMessages == nil {
				s.ErrorMessages = map[string]int64{}
			}
			s.ErrorMessages[msg] += n
		}
	}
	s.Latency = latencyOf(all)
	return s
}

// latencyOf sorts d in place and returns its percentiles.
func latencyOf(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Latency{
		P50:  millis(Percentile(d, 50)),
		P90:  millis(Percentile(d, 90)),
		P99:  millis(Percentile(d, 99)),
		Max:  millis(d[len(d)-1]),
		Mean: millis(sum / time.Duration(len(d))),
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the value at rank ceil(p/100 × n), counting from 1.
// It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// p*n/100 rather than p/100*n: 0.9*100 is 90.00000000000001 in
	// floating point, which would round up to the wrong rank.
	rank := int(math.Ceil(p * float64(n) / 100))
	return sorted[min(max(rank, 1), n)-1]
}

func millis(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// describeRequests measures the requests as sent, with identifiers of
// idLen bytes.
func describeRequests(reqs []*Template, idLen int) RequestStats {
	st := RequestStats{Distinct: len(reqs), MinBytes: math.MaxInt}
	total, items := 0, 0
	for _, t := range reqs {
		n := t.Size(idLen)
		total += n
		items += t.Items
		st.MinBytes = min(st.MinBytes, n)
		st.MaxBytes = max(st.MaxBytes, n)
	}
	if len(reqs) == 0 {
		return RequestStats{}
	}
	st.MeanBytes = total / len(reqs)
	st.MeanItems = math.Round(float64(items)/float64(len(reqs))*100) / 100
	return st
}
