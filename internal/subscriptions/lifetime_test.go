package subscriptions

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func newClockedHub(t *testing.T, db *storage.DB, out *fakeOutbound, clock *clocktest.Clock) *Hub {
	t.Helper()
	h, err := New(db, Options{
		FHIRBase: "https://gateway.example/fhir",
		Partners: map[string]Partner{testPartner: {FHIRBase: "https://ehr.example/fhir/r4", OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234"}},
		Logger:   slog.New(slog.DiscardHandler),
		Now:      clock.Now,
		Delivery: &Delivery{Client: out.srv.Client(), OutboundURL: out.srv.URL,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, PollInterval: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// withEndAndHeartbeat returns pasSubscription with an end and a heartbeat
// period in seconds.
func withEndAndHeartbeat(end string, heartbeat string) string {
	body := strings.Replace(pasSubscription, `"reason":`, `"end":"`+end+`","reason":`, 1)
	return strings.Replace(body, `"channel":{`, `"channel":{"extension":[{"url":"`+extHeartbeatPeriod+`","valueUnsignedInt":`+heartbeat+`}],`, 1)
}

// A Subscription whose end has passed is not live, so it does not count
// against Options.MaxPerPartner. If one could be created, a partner could
// hold any number of them, each sending heartbeats through the outbound
// path and the record. Its create gets 422 naming Subscription.end, and
// nothing is stored or queued.
func TestCreateRejectsEndInPast(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		out := newFakeOutbound(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newClockedHub(t, db, out, clock)
		for _, end := range []string{"2026-03-01T11:59:59Z", "2026-03-01T12:00:00Z", "2020-01-01T00:00:00+05:00"} {
			t.Run(end, func(t *testing.T) {
				assertCreateRejected(t, h, withEndAndHeartbeat(end, "60"), "Subscription.end", "must be in the future")
			})
		}
		assertNothingKept(t, db, h, out)
	})
}

// Once a Subscription's end passes, it no longer counts against the
// limit, so it must stop sending heartbeats too. Otherwise a partner
// could let Subscriptions end and create new ones, each heartbeating
// forever.
func TestEndedSubscriptionSendsNoHeartbeat(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		out := newFakeOutbound(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newClockedHub(t, db, out, clock)
		rec := call(t, h, http.MethodPost, "/Subscription", withEndAndHeartbeat("2026-03-01T12:02:30Z", "60"))
		if rec.Code != http.StatusCreated {
			t.Fatalf("create: status %d: %s", rec.Code, rec.Body)
		}
		ctx := context.Background()
		h.Tick(ctx) // the handshake

		clock.Advance(time.Minute)
		h.Tick(ctx)
		if _, got := out.snapshot(); len(got) != 2 || got[1].kind != kindHeartbeat {
			t.Fatalf("notifications %v before the end, want a handshake and a heartbeat", got)
		}

		clock.Advance(100 * time.Second) // past the end
		h.Tick(ctx)
		clock.Advance(time.Minute)
		h.Tick(ctx)
		attempts, got := out.snapshot()
		if attempts != 2 {
			t.Errorf("the endpoint received %d notifications after the end, want none: %v", attempts-2, got[2:])
		}
		if n := outboxLen(t, db); n != 0 {
			t.Errorf("outbox %d after the end, want 0", n)
		}
	})
}

// Every heartbeat is an outbound exchange with its own record entry, so a
// partner with the maximum number of Subscriptions and a period of one
// second would make the gateway write ten entries a second, without end.
// A period under minHeartbeat gets 422 naming the channel extension, and
// nothing is stored or queued.
func TestCreateRejectsShortHeartbeat(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		out := newFakeOutbound(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newClockedHub(t, db, out, clock)
		for _, period := range []string{"0", "1", "59", "86401"} {
			t.Run(period, func(t *testing.T) {
				assertCreateRejected(t, h, withEndAndHeartbeat("2026-03-02T12:00:00Z", period),
					"Subscription.channel.extension", "between 60 and 86400 seconds")
			})
		}
		assertNothingKept(t, db, h, out)

		rec := call(t, h, http.MethodPost, "/Subscription", withEndAndHeartbeat("2026-03-02T12:00:00Z", "60"))
		if rec.Code != http.StatusCreated {
			t.Errorf("period 60: status %d, want 201: %s", rec.Code, rec.Body)
		}
	})
}

// An ended Subscription no longer counts against the limit. So a partner
// could let Subscriptions end while their notifications fail and create
// new ones. Each would keep a notification in the queue, retried forever,
// in the rounds that other partners' notifications wait in.
// Once its end passes, the Subscription is turned off and its queue is
// dropped, and the endpoint gets no further attempt.
func TestEndedSubscriptionDropsQueue(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		out := newFakeOutbound(t)
		out.set(true, false)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newClockedHub(t, db, out, clock)
		rec := call(t, h, http.MethodPost, "/Subscription", withEndAndHeartbeat("2026-03-01T12:01:00Z", "60"))
		if rec.Code != http.StatusCreated {
			t.Fatalf("create: status %d: %s", rec.Code, rec.Body)
		}
		id := strings.TrimPrefix(rec.Header().Get("Location"), "Subscription/")
		ctx := context.Background()
		h.Tick(ctx)
		before, _ := out.snapshot()
		if before != 1 {
			t.Fatalf("the endpoint received %d attempts at the handshake, want 1", before)
		}

		clock.Advance(2 * time.Minute) // past the end and the retry's due time
		h.Tick(ctx)
		clock.Advance(10 * time.Minute)
		h.Tick(ctx)
		if attempts, _ := out.snapshot(); attempts != before {
			t.Errorf("the endpoint received %d attempts after the end, want none", attempts-before)
		}
		if n := outboxLen(t, db); n != 0 {
			t.Errorf("outbox %d after the end, want 0", n)
		}
		if got := statusOf(t, h, id); got != "off" {
			t.Errorf("status %q after the end, want off", got)
		}
	})
}

// assertNothingKept checks that rejected creates left no Subscription and
// no queued notification, and that a delivery round sends nothing.
func assertNothingKept(t *testing.T, db *storage.DB, h *Hub, out *fakeOutbound) {
	t.Helper()
	var stored int
	if err := db.QueryRow(`SELECT COUNT(*) FROM payer_subscriptions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d Subscriptions stored, want 0", stored)
	}
	if n := outboxLen(t, db); n != 0 {
		t.Errorf("outbox %d, want 0", n)
	}
	h.Tick(context.Background())
	if attempts, _ := out.snapshot(); attempts != 0 {
		t.Errorf("the endpoint received %d notifications, want 0", attempts)
	}
}

// assertCreateRejected posts body as a new Subscription and checks for a
// 422 OperationOutcome of code business-rule that names field and reason.
func assertCreateRejected(t *testing.T, h *Hub, body, field, reason string) {
	t.Helper()
	rec := call(t, h, http.MethodPost, "/Subscription", body)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("status %d, want 422: %s", rec.Code, rec.Body)
	}
	for _, want := range []string{`"resourceType":"OperationOutcome"`, `"business-rule"`, field, reason} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s lacks %q", rec.Body, want)
		}
	}
}
