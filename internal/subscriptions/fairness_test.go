package subscriptions

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// partnerEndpoints replaces the outbound listener for the partners
// "busy", "other" and "hold". It counts requests per partner path,
// responds 503 to "busy", and holds the first request to "hold" until
// release closes.
type partnerEndpoints struct {
	srv     *httptest.Server
	release chan struct{}
	held    chan struct{} // closed when the first "hold" request arrives

	mu       sync.Mutex
	requests map[string]int
	heldOnce bool
}

func newPartnerEndpoints(t *testing.T) *partnerEndpoints {
	e := &partnerEndpoints{release: make(chan struct{}), held: make(chan struct{}), requests: map[string]int{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		partner := ""
		switch r.URL.EscapedPath() {
		case "/partners/busy/fhir/$subscription-hook":
			partner = "busy"
		case "/partners/other/fhir/$subscription-hook":
			partner = "other"
		case "/partners/hold/fhir/$subscription-hook":
			partner = "hold"
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		e.mu.Lock()
		e.requests[partner]++
		holdThis := partner == "hold" && !e.heldOnce
		if holdThis {
			e.heldOnce = true
			close(e.held)
		}
		e.mu.Unlock()

		switch {
		case partner == "busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case holdThis:
			select {
			case <-e.release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *partnerEndpoints) count(partner string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[partner]
}

// newPartnersHub returns a Hub on clock whose partners "busy", "other"
// and "hold" each have their own FHIR base and may hold maxLive
// Subscriptions.
func newPartnersHub(t *testing.T, db *storage.DB, e *partnerEndpoints, clock *clocktest.Clock, maxLive int) *Hub {
	t.Helper()
	org := Partner{OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234"}
	partners := map[string]Partner{}
	for _, name := range []string{"busy", "other", "hold"} {
		p := org
		p.FHIRBase = "https://" + name + ".example/fhir"
		partners[name] = p
	}
	h, err := New(db, Options{
		FHIRBase:      "https://gateway.example/fhir",
		Partners:      partners,
		Logger:        slog.New(slog.DiscardHandler),
		Now:           clock.Now,
		MaxPerPartner: maxLive,
		Delivery: &Delivery{Client: e.srv.Client(), OutboundURL: e.srv.URL,
			MinBackoff: time.Second, MaxBackoff: time.Minute, PollInterval: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// A round reads at most headsPerRound queued notifications. If it took
// them in due order alone, one partner with that many stalled
// Subscriptions, all due before another partner's handshake, would fill
// every round and delay the other partner for as long as its own
// notifications keep failing. The other partner's handshake must go out
// in the first round.
func TestBusyPartnerDoesNotFillRound(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		e := newPartnerEndpoints(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newPartnersHub(t, db, e, clock, headsPerRound+1)
		for range headsPerRound {
			subscribeAs(t, h, "busy", "https://busy.example/fhir")
		}
		clock.Advance(time.Second) // the other partner's handshake is due last
		subscribeAs(t, h, "other", "https://other.example/fhir")

		h.Tick(context.Background())

		if n := e.count("other"); n != 1 {
			t.Errorf("the other partner received %d notifications in the first round, want its handshake", n)
		}
		if n := e.count("busy"); n != headsPerRound-1 {
			t.Errorf("the busy partner received %d attempts in the first round, want %d", n, headsPerRound-1)
		}
	})
}

// A round skips a partner whose sender from an earlier round still runs
// (startSending). Without that, a second sender for the same partner
// would deliver its notifications in parallel, so an endpoint that holds
// requests open would face one more connection each round. Here the
// partner's first handshake is held while a second Subscription's
// handshake becomes due, and a second round must not send it.
func TestRoundSkipsPartnerStillSending(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		e := newPartnerEndpoints(t)
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newPartnersHub(t, db, e, clock, 0)
		ctx := context.Background()

		subscribeAs(t, h, "hold", "https://hold.example/fhir")
		var first sync.WaitGroup
		h.dispatch(ctx, &first)
		<-e.held

		subscribeAs(t, h, "hold", "https://hold.example/fhir")
		var second sync.WaitGroup
		h.dispatch(ctx, &second)
		second.Wait()
		if n := e.count("hold"); n != 1 {
			t.Errorf("the partner's endpoint received %d requests while its first was held, want 1", n)
		}

		close(e.release)
		first.Wait()
		var third sync.WaitGroup
		h.dispatch(ctx, &third)
		third.Wait()
		if n := e.count("hold"); n != 2 {
			t.Errorf("the partner's endpoint received %d requests after its sender ended, want 2", n)
		}
	})
}
