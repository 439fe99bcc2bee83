package console

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
)

// verifyTimeout bounds one verification of the whole log.
const verifyTimeout = 30 * time.Minute

// verification is the state of the latest "verify now" run. One run at a
// time: a request while one runs joins it.
type verification struct {
	mu    sync.Mutex
	state VerifyState
}

// VerifyState is the verification state the audit-log page and
// /console/api/verify show.
type VerifyState struct {
	// Status is "idle", "running", "intact", "problems" or "failed".
	Status    string    `json:"status"`
	By        string    `json:"by,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	Done      int64     `json:"done"`
	Total     int64     `json:"total"`
	Size      int64     `json:"size"`
	Checked   int       `json:"checkpoints"` // checkpoints whose signature and root were checked
	Uncovered int64     `json:"uncovered"`   // entries after the latest checkpoint
	Problems  []string  `json:"problems,omitempty"`
	// Error is the reason verification could not run, as opposed to the
	// problems it found.
	Error string `json:"error,omitempty"`
}

func (v *verification) snapshot() VerifyState {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.state
	if s.Status == "" {
		s.Status = "idle"
	}
	s.Problems = append([]string(nil), s.Problems...)
	return s
}

// start runs a verification in the background unless one is running. It
// reports whether it started one.
func (v *verification) start(log AuditLog, by string, now func() time.Time) bool {
	v.mu.Lock()
	if v.state.Status == "running" {
		v.mu.Unlock()
		return false
	}
	v.state = VerifyState{Status: "running", By: by, Started: now()}
	v.mu.Unlock()

	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
		defer cancel()
		rep, err := log.Verify(ctx, func(done, total int64) {
			v.mu.Lock()
			v.state.Done, v.state.Total = done, total
			v.mu.Unlock()
		})
		v.finish(rep, err, now())
	}()
	return true
}

func (v *verification) finish(rep *auditlog.Report, err error, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state.Finished = at
	if err != nil {
		v.state.Status, v.state.Error = "failed", err.Error()
		return
	}
	v.state.Size, v.state.Checked, v.state.Uncovered = rep.Size, rep.Checkpoints, rep.Uncovered
	v.state.Done, v.state.Total = rep.Size, rep.Size
	v.state.Status = "intact"
	for _, p := range rep.Problems {
		v.state.Problems = append(v.state.Problems, p.String())
	}
	if len(v.state.Problems) > 0 {
		v.state.Status = "problems"
	}
}
