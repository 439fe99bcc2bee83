package killswitch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// failingRecord rejects every append, as a record store that is down.
type failingRecord struct{ appends int }

func (f *failingRecord) Append(context.Context, *record.Entry) (int64, error) {
	f.appends++
	return 0, record.ErrUnavailable
}

// TestReleaseNeedsRecord releases a cut while the record store is down.
// A release ends the containment of an incident, so it must not happen
// unless the record names who did it: the cut stays engaged.
func TestReleaseNeedsRecord(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		sw, err := Open(ctx, storagetest.Open(t, b.NewURL(t)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &Cut{Mode: Full, Scope: "all", Reason: "incident 9", EngagedBy: "alice"}
		if err := sw.Engage(ctx, c); err != nil {
			t.Fatal(err)
		}
		records := &failingRecord{}
		h := Handlers(sw, records)["POST /killswitch/{id}/release"]

		mux := http.NewServeMux()
		mux.Handle("POST /killswitch/{id}/release", h)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, fmt.Sprintf("/killswitch/%d/release", c.ID), nil))

		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503: %s", rec.Code, rec.Body)
		}
		if records.appends == 0 {
			t.Error("the release was not offered to the record")
		}
		if cuts := sw.Cuts(); len(cuts) != 1 || cuts[0].ID != c.ID {
			t.Errorf("engaged cuts %+v, want the cut still engaged", cuts)
		}
	})
}
