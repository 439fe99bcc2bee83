package auditlog

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// silentWitness accepts add-checkpoint requests and never responds. It
// closes received on the first request and canceled when that request's
// context ends. Closing release ends every request, so that a failed test
// can shut the server down.
type silentWitness struct {
	received chan struct{}
	canceled chan struct{}
	release  chan struct{}
	once     sync.Once
}

func (w *silentWitness) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	// net/http notices that the client went away only once the body is
	// read, because only then does it read the connection in the
	// background.
	io.Copy(io.Discard, r.Body)
	first := false
	w.once.Do(func() { first = true })
	if first {
		close(w.received)
	}
	select {
	case <-r.Context().Done():
		if first {
			close(w.canceled)
		}
	case <-w.release:
	}
}

// recordingSink records the size of every checkpoint published to it.
type recordingSink struct {
	mu    sync.Mutex
	sizes []int64
}

func (s *recordingSink) Name() string { return "recording" }

func (s *recordingSink) Publish(_ context.Context, cp *SignedCheckpoint, _ Prover) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, cp.Size)
	return nil
}

func (s *recordingSink) published() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.sizes...)
}

// TestCloseCancelsSilentWitness publishes to a witness that never responds,
// listed before another sink, with a publish timeout that cannot pass
// during the test. The other sink still gets the checkpoint, and Close
// returns once its context is canceled, having canceled the witness's
// request.
func TestCloseCancelsSilentWitness(t *testing.T) {
	witness := &silentWitness{received: make(chan struct{}), canceled: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(witness)
	t.Cleanup(srv.Close)
	other := &recordingSink{}

	var errsMu sync.Mutex
	publishErrs := map[string]error{}
	l, _, _ := newTestLog(t, func(o *Options) {
		vkey := newTestWitness(t, nil).vkey
		sink, err := NewWitnessSink(srv.URL, vkey, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		o.CheckpointEvery = 1
		o.CheckpointInterval = time.Hour
		o.PublishTimeout = time.Hour
		o.Sinks = []Sink{sink, other}
		o.OnPublishError = func(name string, _ int64, err error) {
			errsMu.Lock()
			defer errsMu.Unlock()
			publishErrs[name] = err
		}
	})

	// Registered after the log's own cleanup, so it runs first.
	t.Cleanup(func() { close(witness.release) })

	appendN(t, l, 1)
	<-witness.received

	// Cancel only once the writer has exited, as a shutdown deadline
	// would, so that Close is waiting for the sinks.
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- l.Close(ctx) }()
	<-l.done
	cancel()
	err := <-closed
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want an error wrapping context.Canceled", err)
	}

	if got := other.published(); len(got) == 0 || got[len(got)-1] != 1 {
		t.Errorf("the other sink got checkpoint sizes %v, want the checkpoint of 1 entry last", got)
	}

	errsMu.Lock()
	var witnessErr error
	for name, err := range publishErrs {
		if strings.HasPrefix(name, "witness ") {
			witnessErr = err
		}
	}
	errsMu.Unlock()
	if !errors.Is(witnessErr, context.Canceled) {
		t.Errorf("witness publish error = %v, want one wrapping context.Canceled", witnessErr)
	}

	if t.Failed() {
		return
	}
	// The witness server observes the request end only because the sink
	// canceled it: the publish timeout is an hour.
	<-witness.canceled
}
