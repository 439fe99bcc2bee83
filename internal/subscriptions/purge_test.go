package subscriptions

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// rowsOf counts the rows of table whose column equals id.
func rowsOf(t *testing.T, db *storage.DB, table, column, id string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE `+column+` = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A deleted or ended Subscription stays readable, with its events, for
// DefaultRetention, so the partner can fetch what it missed. Without a
// purge its rows would stay forever and a partner could grow the
// database without bound by creating and deleting Subscriptions. After
// the retention the rows are gone and a read gets 404, while a live
// Subscription is kept.
func TestPurgeAfterRetention(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, clock, h := newPurgeHub(t, b)
		start := purgeStart
		ctx := context.Background()

		deleted := subscribe(t, h)
		h.Tick(ctx)
		publish(t, h, db, 1)
		h.Tick(ctx)
		if rec := call(t, h, http.MethodDelete, "/Subscription/"+deleted, ""); rec.Code != http.StatusOK && rec.Code != http.StatusNoContent {
			t.Fatalf("delete: status %d: %s", rec.Code, rec.Body)
		}
		rec := call(t, h, http.MethodPost, "/Subscription", withEndAndHeartbeat("2026-03-01T12:01:00Z", "60"))
		if rec.Code != http.StatusCreated {
			t.Fatalf("create the ending Subscription: status %d: %s", rec.Code, rec.Body)
		}
		ended := strings.TrimPrefix(rec.Header().Get("Location"), "Subscription/")
		live := subscribe(t, h)

		clock.Advance(2 * time.Minute)
		h.Tick(ctx) // turns the ending Subscription off
		if got := statusOf(t, h, ended); got != "off" {
			t.Fatalf("status %q after the end, want off", got)
		}

		clock.Set(start.Add(DefaultRetention - time.Hour))
		h.Tick(ctx)
		for _, id := range []string{deleted, ended, live} {
			if rec := call(t, h, http.MethodGet, "/Subscription/"+id, ""); rec.Code != http.StatusOK {
				t.Errorf("read %s before the retention passed: status %d, want 200", id, rec.Code)
			}
		}
		if n := rowsOf(t, db, "payer_sub_events", "subscription_id", deleted); n != 1 {
			t.Errorf("%d stored events of the deleted Subscription before the retention passed, want 1", n)
		}

		clock.Set(start.Add(DefaultRetention + time.Hour))
		h.Tick(ctx)
		for _, id := range []string{deleted, ended} {
			rec := call(t, h, http.MethodGet, "/Subscription/"+id, "")
			if rec.Code != http.StatusNotFound {
				t.Errorf("read %s after the retention: status %d, want 404", id, rec.Code)
			}
			if !strings.Contains(rec.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Errorf("read %s after the retention: body %s is not an OperationOutcome", id, rec.Body)
			}
			for _, table := range []string{"payer_sub_events", "payer_sub_outbox", "payer_sub_off"} {
				if n := rowsOf(t, db, table, "subscription_id", id); n != 0 {
					t.Errorf("%d rows of %s in %s after the retention, want 0", n, id, table)
				}
			}
			if n := rowsOf(t, db, "payer_subscriptions", "id", id); n != 0 {
				t.Errorf("Subscription %s still stored after the retention", id)
			}
		}
		if rec := call(t, h, http.MethodGet, "/Subscription/"+live, ""); rec.Code != http.StatusOK {
			t.Errorf("read the live Subscription after the retention: status %d, want 200", rec.Code)
		}
	})
}

// A Subscription turned off before payer_sub_off existed has no off
// time. The first purge stamps it with its own time, so it is purged one
// retention later instead of never.
func TestPurgeStampsOldOffRows(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, clock, h := newPurgeHub(t, b)
		start := purgeStart
		ctx := context.Background()

		id := subscribe(t, h)
		if rec := call(t, h, http.MethodDelete, "/Subscription/"+id, ""); rec.Code != http.StatusOK && rec.Code != http.StatusNoContent {
			t.Fatalf("delete: status %d: %s", rec.Code, rec.Body)
		}
		if _, err := db.Exec(`DELETE FROM payer_sub_off`); err != nil {
			t.Fatal(err)
		}

		clock.Set(start.Add(DefaultRetention + time.Hour))
		h.Tick(ctx)
		if n := rowsOf(t, db, "payer_subscriptions", "id", id); n != 1 {
			t.Fatalf("the unstamped Subscription was purged at its first stamping: %d rows, want 1", n)
		}
		if n := rowsOf(t, db, "payer_sub_off", "subscription_id", id); n != 1 {
			t.Errorf("%d off records after the first purge, want 1", n)
		}

		clock.Advance(DefaultRetention + time.Hour)
		h.Tick(ctx)
		if n := rowsOf(t, db, "payer_subscriptions", "id", id); n != 0 {
			t.Errorf("the Subscription is still stored one retention after its stamping")
		}
	})
}

// purgeStart is the fake clock's time when a purge test begins.
var purgeStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newPurgeHub returns a Hub on a new database of b whose clock starts at
// purgeStart, with the database and the clock.
func newPurgeHub(t *testing.T, b storagetest.Backend) (*storage.DB, *clocktest.Clock, *Hub) {
	t.Helper()
	db := openDB(t, b.NewURL(t))
	clock := clocktest.New(purgeStart)
	return db, clock, newClockedHub(t, db, newFakeOutbound(t), clock)
}
