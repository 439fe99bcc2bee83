package subscriptions

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestSlowPartnerDoesNotDelayOthers lets one partner's endpoint hold every
// notification open, as a receiver under attack or a hostile one can. A
// delivery attempt may take up to deliveryTimeout, and a partner may hold
// MaxPerPartner Subscriptions, so if partners shared one queue of attempts
// a single partner could delay every other partner's notifications by
// minutes in each round. Another partner's handshake must arrive while the
// slow endpoint still holds its connection.
func TestSlowPartnerDoesNotDelayOthers(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		release := make(chan struct{})
		var slowHeld, fastReceived atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.EscapedPath() {
			case "/partners/slow/fhir/$subscription-hook":
				slowHeld.Add(1)
				select {
				case <-release:
				case <-r.Context().Done():
				}
			case "/partners/fast/fhir/$subscription-hook":
				fastReceived.Add(1)
			default:
				w.WriteHeader(http.StatusNotFound)
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })

		h, _ := newSlowFastHub(t, b, srv)
		// The slow partner subscribes first, so its handshakes are due first.
		for range 3 {
			subscribeAs(t, h, "slow", "https://slow.example/fhir")
		}
		subscribeAs(t, h, "fast", "https://fast.example/fhir")

		startHub(t, h)

		waitFor(t, "the slow endpoint to hold a notification", func() bool { return slowHeld.Load() > 0 })
		waitFor(t, "the other partner's handshake", func() bool { return fastReceived.Load() > 0 })
		if n := slowHeld.Load(); n > 1 {
			t.Errorf("the slow endpoint received %d notifications at once, want them one at a time", n)
		}
	})
}

// startHub runs h's delivery loop until the test ends. Its cleanup waits
// for Run to return, and runs before the test database is dropped, since
// cleanups run last-registered first: a delivery still writing would
// otherwise deadlock with PostgreSQL's DROP SCHEMA.
func startHub(t *testing.T, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the hub's Run did not return within 10 s of its cancellation")
		}
	})
}

// subscribeAs creates a PAS Subscription for partner with its endpoint
// under base.
func subscribeAs(t *testing.T, h *Hub, partner, base string) {
	t.Helper()
	body := strings.Replace(pasSubscription, "https://ehr.example/fhir/r4", base, 1)
	req := httptest.NewRequest(http.MethodPost, "/Subscription", strings.NewReader(body))
	req.Header.Set(PartnerHeader, partner)
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create for %s: status %d: %s", partner, rec.Code, rec.Body)
	}
}

// TestSlowPartnerDoesNotDelayLaterRounds lets one partner's endpoint hold
// every notification open, then publishes an event for another partner
// after the first round of deliveries has started. A sender that waited
// for every partner's attempts before reading the queue again would hold
// that event until the slow attempt timed out (deliveryTimeout), so a
// hostile partner could stall everyone else's notifications round after
// round. The event must arrive while the slow endpoint still holds its
// connection.
func TestSlowPartnerDoesNotDelayLaterRounds(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		release := make(chan struct{})
		var slowHeld, slowReturned, fastHandshakes atomic.Int32
		var fastEventWhileSlowHeld atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			switch r.URL.EscapedPath() {
			case "/partners/slow/fhir/$subscription-hook":
				slowHeld.Add(1)
				select {
				case <-release:
				case <-r.Context().Done():
				}
				slowReturned.Add(1)
			case "/partners/fast/fhir/$subscription-hook":
				switch parseNotification(t, body).kind {
				case kindHandshake:
					fastHandshakes.Add(1)
				case kindEvent:
					if slowHeld.Load() > 0 && slowReturned.Load() == 0 {
						fastEventWhileSlowHeld.Add(1)
					}
				}
			default:
				w.WriteHeader(http.StatusNotFound)
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })

		h, db := newSlowFastHub(t, b, srv)
		subscribeAs(t, h, "slow", "https://slow.example/fhir")
		subscribeAs(t, h, "fast", "https://fast.example/fhir")

		startHub(t, h)
		waitFor(t, "the slow endpoint to hold its handshake", func() bool { return slowHeld.Load() > 0 })
		waitFor(t, "the other partner's handshake", func() bool { return fastHandshakes.Load() > 0 })

		publishFor(t, h, db, "fast")
		waitFor(t, "the other partner's event notification", func() bool { return fastEventWhileSlowHeld.Load() > 0 })
		if n := slowReturned.Load(); n != 0 {
			t.Errorf("the slow endpoint released %d requests before the other partner's event arrived, want 0", n)
		}
	})
}

// publishFor raises one event for partner's provider in its own
// transaction, as a decision does.
func publishFor(t *testing.T, h *Hub, db *storage.DB, partner string) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	id := "00000000-0000-4000-8000-0000000000f1"
	ev := Event{
		Partner:       partner,
		Organizations: [][2]string{{"http://hl7.org/fhir/sid/us-npi", "8189991234"}},
		Focus:         Resource{FullURL: "urn:uuid:" + id, Type: "ClaimResponse", ID: id, JSON: []byte(`{"resourceType":"ClaimResponse","id":"` + id + `"}`)},
	}
	if matched, err := h.Publish(context.Background(), tx, ev); err != nil || matched != 1 {
		t.Fatalf("Publish for %s matched %d: %v", partner, matched, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// newSlowFastHub returns a migrated Hub with the partners "slow" and
// "fast" of one organization, delivering through srv with short backoffs.
func newSlowFastHub(t *testing.T, b storagetest.Backend, srv *httptest.Server) (*Hub, *storage.DB) {
	t.Helper()
	db := openDB(t, b.NewURL(t))
	org := Partner{OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234"}
	slow, fast := org, org
	slow.FHIRBase, fast.FHIRBase = "https://slow.example/fhir", "https://fast.example/fhir"
	h, err := New(db, Options{
		FHIRBase: "https://gateway.example/fhir",
		Partners: map[string]Partner{"slow": slow, "fast": fast},
		Logger:   slog.New(slog.DiscardHandler),
		Delivery: &Delivery{Client: srv.Client(), OutboundURL: srv.URL,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, PollInterval: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, db
}
