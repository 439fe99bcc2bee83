package subscriptions

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestCreateCapsLiveSubscriptions creates Subscriptions up to the
// per-partner limit. Each one multiplies the partner's notifications and
// heartbeats through the outbound path and the record, so the next one is
// rejected with nothing queued, until the partner deletes one.
func TestCreateCapsLiveSubscriptions(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		var ids []string
		for range DefaultMaxPerPartner {
			ids = append(ids, subscribe(t, h))
		}
		queued := outboxLen(t, db)

		rec := call(t, h, http.MethodPost, "/Subscription", pasSubscription)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d past the limit, want 422: %s", rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"business-rule"`) {
			t.Errorf("the OperationOutcome lacks the business-rule code: %s", rec.Body)
		}
		if n := outboxLen(t, db); n != queued {
			t.Errorf("outbox %d after the rejected create, want %d: a handshake was queued", n, queued)
		}
		var live int
		if err := db.QueryRow(`SELECT COUNT(*) FROM payer_subscriptions WHERE status <> 'off'`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != DefaultMaxPerPartner {
			t.Errorf("%d live Subscriptions, want %d", live, DefaultMaxPerPartner)
		}

		if rec := call(t, h, http.MethodDelete, "/Subscription/"+ids[0], ""); rec.Code != http.StatusNoContent {
			t.Fatalf("delete: status %d: %s", rec.Code, rec.Body)
		}
		subscribe(t, h)
	})
}

// Creates sent at once cannot pass the limit together: each counts the
// live Subscriptions and inserts its own before the next one counts.
func TestConcurrentCreatesKeepLimit(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		h.maxLive = 3
		const creates = 24
		codes := make(chan int, creates)
		var wg sync.WaitGroup
		for range creates {
			wg.Go(func() {
				codes <- call(t, h, http.MethodPost, "/Subscription", pasSubscription).Code
			})
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		if count[http.StatusCreated] != 3 || count[http.StatusUnprocessableEntity] != creates-3 {
			t.Errorf("statuses %v, want 3 times 201 and %d times 422", count, creates-3)
		}
		var live int
		if err := db.QueryRow(`SELECT COUNT(*) FROM payer_subscriptions WHERE status <> 'off'`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != 3 {
			t.Errorf("%d live Subscriptions, want 3", live)
		}
	})
}
