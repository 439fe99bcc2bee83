package subscriptions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// scriptedOutbound replaces the gateway's outbound listener with one that
// responds with a set status and body and counts the requests.
type scriptedOutbound struct {
	srv      *httptest.Server
	mu       sync.Mutex
	status   int
	body     string
	attempts int
}

func newScriptedOutbound(t *testing.T) *scriptedOutbound {
	s := &scriptedOutbound{status: http.StatusOK}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.attempts++
		w.Header().Set("X-Request-Id", fmt.Sprintf("exchange-%d", s.attempts))
		if s.body != "" {
			w.Header().Set("Content-Type", "application/fhir+json")
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scriptedOutbound) respond(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *scriptedOutbound) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// logRecord is one captured slog record with its attributes as text.
type logRecord struct {
	level   slog.Level
	message string
	attrs   map[string]string
}

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
}

func newCaptureHandler() captureHandler {
	return captureHandler{mu: &sync.Mutex{}, records: &[]logRecord{}}
}

func (c captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c captureHandler) WithGroup(string) slog.Handler            { return c }

func (c captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, message: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.records = append(*c.records, rec)
	return nil
}

// matching returns the records whose message starts with prefix.
func (c captureHandler) matching(prefix string) []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logRecord
	for _, r := range *c.records {
		if strings.HasPrefix(r.message, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (c captureHandler) all() []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]logRecord(nil), *c.records...)
}

// newRetryHub returns a Hub on a manual clock with backoffs of minutes,
// as in production, sending to out and logging to logs.
func newRetryHub(t *testing.T, db *storage.DB, out *scriptedOutbound, clock *clocktest.Clock, logs captureHandler) *Hub {
	t.Helper()
	h, err := New(db, Options{
		FHIRBase: "https://gateway.example/fhir",
		Partners: map[string]Partner{testPartner: {FHIRBase: "https://ehr.example/fhir/r4", OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234"}},
		Logger:   slog.New(logs),
		Now:      clock.Now,
		Delivery: &Delivery{Client: out.srv.Client(), OutboundURL: out.srv.URL,
			MinBackoff: time.Minute, MaxBackoff: 10 * time.Minute, PollInterval: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// failTwice makes the handshake of a new Subscription fail twice, so that
// its next attempt waits the two-minute backoff.
func failTwice(t *testing.T, h *Hub, out *scriptedOutbound, clock *clocktest.Clock) string {
	t.Helper()
	id := subscribe(t, h)
	out.respond(http.StatusServiceUnavailable, "")
	h.Tick(context.Background())
	clock.Advance(time.Minute)
	h.Tick(context.Background())
	if n := out.count(); n != 2 {
		t.Fatalf("%d attempts before the restart, want 2", n)
	}
	return id
}

// restarted is a second Hub on the database of a first Hub, as after a
// gateway restart, with the Subscription whose handshake failed twice.
type restarted struct {
	hub   *Hub
	db    *storage.DB
	out   *scriptedOutbound
	clock *clocktest.Clock
	id    string
}

// restartAfterTwoFailures fails a new Subscription's handshake twice on one
// Hub, then opens a second Hub on the same database without ticking it.
// The outbound listener still responds 503.
func restartAfterTwoFailures(t *testing.T, b storagetest.Backend) restarted {
	t.Helper()
	url := b.NewURL(t)
	out := newScriptedOutbound(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	first := newRetryHub(t, openDB(t, url), out, clock, newCaptureHandler())
	id := failTwice(t, first, out, clock)

	db := openDB(t, url)
	hub := newRetryHub(t, db, out, clock, newCaptureHandler())
	return restarted{hub: hub, db: db, out: out, clock: clock, id: id}
}

// A restart after an operator's fix retries a waiting notification in
// the first round instead of after the rest of its backoff.
func TestRestartRetriesWaitingNotification(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		r := restartAfterTwoFailures(t, b)

		r.out.respond(http.StatusOK, "")
		r.hub.Tick(context.Background())
		if n := r.out.count(); n != 3 {
			t.Errorf("%d attempts after the restart, want 3", n)
		}
		if n := outboxLen(t, r.db); n != 0 {
			t.Errorf("queue contains %d notifications after the restart, want 0", n)
		}
		if got := statusOf(t, r.hub, r.id); got != "active" {
			t.Errorf("status %q after the restart, want active", got)
		}
	})
}

// A partner that stays down gets one extra attempt per start, then the
// backoff it had reached, not the first one again.
func TestRestartKeepsBackoffWhileDown(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		r := restartAfterTwoFailures(t, b)

		r.hub.Tick(context.Background())
		if n := r.out.count(); n != 3 {
			t.Fatalf("%d attempts in the first round after the restart, want 3", n)
		}
		// The third failure waits backoff(3) = 4 minutes.
		r.clock.Advance(3 * time.Minute)
		r.hub.Tick(context.Background())
		if n := r.out.count(); n != 3 {
			t.Errorf("%d attempts 3 minutes later, want 3: the backoff restarted", n)
		}
		r.clock.Advance(time.Minute)
		r.hub.Tick(context.Background())
		if n := r.out.count(); n != 4 {
			t.Errorf("%d attempts 4 minutes later, want 4", n)
		}
	})
}

// A notification another replica has claimed looks like a short retry
// wait. A start must leave it alone, or the partner gets it twice.
func TestRestartLeavesClaimedNotification(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		url := b.NewURL(t)
		out := newScriptedOutbound(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		db := openDB(t, url)
		h := newRetryHub(t, db, out, clock, newCaptureHandler())
		subscribe(t, h)
		lease := clock.Now().Add(claimLease).UTC().Format(timeLayout)
		if _, err := db.Exec(`UPDATE payer_sub_outbox SET attempts = 3, next_attempt_at = $1`, lease); err != nil {
			t.Fatal(err)
		}

		h2 := newRetryHub(t, openDB(t, url), out, clock, newCaptureHandler())
		h2.Tick(context.Background())
		if n := out.count(); n != 0 {
			t.Errorf("%d attempts at a claimed notification, want 0", n)
		}
	})
}

// tokenRefusal is the body of the gateway's outbound.token rejection.
const tokenRefusal = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient",` +
	`"diagnostics":"no access token could be obtained from the partner's authorization server"}]}`

// An outage logs its first failure, then at most one line per
// failureRepeatLog with counts, then the recovery, with ids only.
func TestFailureLogsOutageEdges(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		out := newScriptedOutbound(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		logs := newCaptureHandler()
		db := openDB(t, b.NewURL(t))
		h := newRetryHub(t, db, out, clock, logs)
		id := subscribe(t, h)
		out.respond(http.StatusServiceUnavailable, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"patient Jane Doe"}]}`)

		// Attempts at 0, 1, 3, 7 and 15 minutes (backoff 1, 2, 4, 8).
		for _, wait := range []time.Duration{0, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
			clock.Advance(wait)
			h.Tick(context.Background())
		}
		if n := out.count(); n != 5 {
			t.Fatalf("%d attempts, want 5", n)
		}

		first := logs.matching("subscriptions: delivery failed")
		if len(first) != 1 {
			t.Fatalf("%d \"delivery failed\" lines, want 1", len(first))
		}
		for key, want := range map[string]string{"partner": testPartner, "subscription": id, "event": "0",
			"step": stepPOST, "status": "503", "exchange": "exchange-1"} {
			if got := first[0].attrs[key]; got != want {
				t.Errorf("first failure: %s = %q, want %q", key, got, want)
			}
		}

		// Logged at 0, 7 and 15 minutes: the attempts at 1 and 3 minutes
		// are within failureRepeatLog of the line at 0.
		still := logs.matching("subscriptions: delivery still failing")
		if len(still) != 2 {
			t.Fatalf("%d \"still failing\" lines, want 2", len(still))
		}
		for key, want := range map[string]string{"failures": "4", "failures_not_logged": "2", "down_for": "7m0s", "attempt": "4", "step": stepPOST} {
			if got := still[0].attrs[key]; got != want {
				t.Errorf("still failing at 7 minutes: %s = %q, want %q", key, got, want)
			}
		}
		for key, want := range map[string]string{"failures": "5", "failures_not_logged": "0", "down_for": "15m0s"} {
			if got := still[1].attrs[key]; got != want {
				t.Errorf("still failing at 15 minutes: %s = %q, want %q", key, got, want)
			}
		}

		out.respond(http.StatusOK, "")
		clock.Advance(16 * time.Minute)
		h.Tick(context.Background())
		recovered := logs.matching("subscriptions: delivery recovered")
		if len(recovered) != 1 {
			t.Fatalf("%d \"recovered\" lines, want 1", len(recovered))
		}
		for key, want := range map[string]string{"partner": testPartner, "subscription": id, "failures": "5"} {
			if got := recovered[0].attrs[key]; got != want {
				t.Errorf("recovered: %s = %q, want %q", key, got, want)
			}
		}

		for _, r := range logs.all() {
			for key, v := range r.attrs {
				for _, leak := range []string{"Jane", out.srv.URL, "ehr.example", "subscription-hook"} {
					if strings.Contains(v, leak) {
						t.Errorf("log %q: %s = %q contains %q", r.message, key, v, leak)
					}
				}
			}
		}
	})
}

// A failure names the step: the gateway's token request to the partner,
// or the notification POST, with the status and a hint for each.
func TestFailureNamesStep(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		step   string
		hint   string
	}{
		{"token refused", http.StatusBadGateway, tokenRefusal, stepToken, "could not obtain an access token"},
		{"token rejected", http.StatusUnauthorized, "", stepPOST, "rejected the access token"},
		{"other 502", http.StatusBadGateway, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"the upstream could not be reached"}]}`, stepPOST, "non-2xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := newScriptedOutbound(t)
			clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			logs := newCaptureHandler()
			h := newRetryHub(t, openDB(t, storagetest.Backend{Dialect: storage.SQLite}.NewURL(t)), out, clock, logs)
			subscribe(t, h)
			out.respond(tc.status, tc.body)
			h.Tick(context.Background())

			got := logs.matching("subscriptions: delivery failed")
			if len(got) != 1 {
				t.Fatalf("%d \"delivery failed\" lines, want 1", len(got))
			}
			if s := got[0].attrs["step"]; s != tc.step {
				t.Errorf("step %q, want %q", s, tc.step)
			}
			if s := got[0].attrs["status"]; s != fmt.Sprint(tc.status) {
				t.Errorf("status %q, want %d", s, tc.status)
			}
			msg := got[0].attrs["error"]
			if !strings.Contains(msg, tc.step+" failed with HTTP "+fmt.Sprint(tc.status)) {
				t.Errorf("error %q does not name the step and status", msg)
			}
			if !strings.Contains(msg, tc.hint) {
				t.Errorf("error %q lacks the hint %q", msg, tc.hint)
			}
		})
	}
}

// A POST that never reaches the outbound listener names that step and
// keeps the request URL out of the error.
func TestFailureUnreachableListener(t *testing.T) {
	out := newScriptedOutbound(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logs := newCaptureHandler()
	h := newRetryHub(t, openDB(t, storagetest.Backend{Dialect: storage.SQLite}.NewURL(t)), out, clock, logs)
	subscribe(t, h)
	target := out.srv.URL
	out.srv.Close()
	h.Tick(context.Background())

	got := logs.matching("subscriptions: delivery failed")
	if len(got) != 1 {
		t.Fatalf("%d \"delivery failed\" lines, want 1", len(got))
	}
	if s := got[0].attrs["step"]; s != stepSend {
		t.Errorf("step %q, want %q", s, stepSend)
	}
	if msg := got[0].attrs["error"]; strings.Contains(msg, target) || strings.Contains(msg, "subscription-hook") {
		t.Errorf("error %q contains the request URL", msg)
	}
}
