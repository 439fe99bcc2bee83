package patientlinks

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestLinkExtendedPastSlack checks that a request rewrites a link's expiry
// only when it moves by more than a 400th of the retention, for patients
// and claims alike.
func TestLinkExtendedPastSlack(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		start := time.Unix(1_800_000_000, 0)
		c := clocktest.New(start)
		db := b.New(t)
		// A retention of 400 hours gives a slack of one hour.
		retention := 400 * time.Hour
		s := newStore(t, db, retention, c)
		ctx := context.Background()
		remember := func() {
			t.Helper()
			if err := s.RememberExchange(ctx, "ehr-1", []congruence.Identifier{memberA}, []congruence.Identifier{memberB}); err != nil {
				t.Fatal(err)
			}
		}

		remember()
		c.Advance(30 * time.Minute)
		remember()
		for _, tbl := range linkTables {
			if got, want := storedExpiry(t, db, tbl), start.Add(retention); !got.Equal(want) {
				t.Errorf("%s: expiry after a request within the slack = %v, want the first request's %v", tbl, got, want)
			}
		}

		c.Advance(31 * time.Minute)
		remember()
		for _, tbl := range linkTables {
			if got, want := storedExpiry(t, db, tbl), c.Now().Add(retention); !got.Equal(want) {
				t.Errorf("%s: expiry after a request past the slack = %v, want %v", tbl, got, want)
			}
		}
	})
}

// storedExpiry reads the expiry of the only link in tbl.
func storedExpiry(t *testing.T, db *storage.DB, tbl table) time.Time {
	t.Helper()
	var ns int64
	if err := db.QueryRowContext(context.Background(), `SELECT expires_ns FROM `+string(tbl)).Scan(&ns); err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, ns)
}
