package killswitch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// countingRecord is a record.Store that stores appended entries in memory,
// safe for concurrent use.
type countingRecord struct {
	mu      sync.Mutex
	entries []record.Entry
}

func (c *countingRecord) Append(_ context.Context, e *record.Entry) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, *e)
	return int64(len(c.entries)), nil
}

// releases returns the number of release entries of cut id.
func (c *countingRecord) releases(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.entries {
		if e.Interaction == "killswitch.release" && e.Rule == fmt.Sprintf("killswitch.cut-%d", id) {
			n++
		}
	}
	return n
}

// postRelease sends POST /killswitch/{id}/release to the switch's admin
// handlers.
func postRelease(sw *Switch, records record.Store, id int64) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle("POST /killswitch/{id}/release", Handlers(sw, records)["POST /killswitch/{id}/release"])
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, fmt.Sprintf("/killswitch/%d/release", id), nil))
	return rec
}

// TestReleaseRaceOneEntry releases one cut from two replicas sharing the
// database at the same moment, several times: exactly one release
// succeeds and is recorded, and the other gets 409 and records nothing.
func TestReleaseRaceOneEntry(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		url := b.NewURL(t)
		replicaA, err := Open(ctx, storagetest.Open(t, url), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		replicaB, err := Open(ctx, storagetest.Open(t, url), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		records := &countingRecord{}

		for round := range 20 {
			c := &Cut{Mode: Full, Scope: "all", Reason: fmt.Sprintf("incident %d", round), EngagedBy: "alice"}
			if err := replicaA.Engage(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := replicaB.Reload(ctx); err != nil {
				t.Fatal(err)
			}

			start := make(chan struct{})
			var done sync.WaitGroup
			codes := make([]int, 2)
			for i, sw := range []*Switch{replicaA, replicaB} {
				done.Go(func() {
					<-start
					codes[i] = postRelease(sw, records, c.ID).Code
				})
			}
			close(start)
			done.Wait()

			slices.Sort(codes)
			if codes[0] != http.StatusOK || codes[1] != http.StatusConflict {
				t.Errorf("round %d: statuses %v, want one 200 and one 409", round, codes)
			}
			if n := records.releases(c.ID); n != 1 {
				t.Errorf("round %d: %d release entries, want 1", round, n)
			}

			if err := replicaB.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			if cut := engagedCut(replicaB, c.ID); cut != nil {
				t.Errorf("round %d: cut %d still engaged", round, c.ID)
			}
		}
	})
}

// TestReleaseAgainConflict releases a released cut: 409 naming the cut and
// the time of its release, and no second entry.
func TestReleaseAgainConflict(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		sw, err := Open(ctx, storagetest.Open(t, b.NewURL(t)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &Cut{Mode: Full, Scope: "all", Reason: "incident 3", EngagedBy: "alice"}
		if err := sw.Engage(ctx, c); err != nil {
			t.Fatal(err)
		}
		records := &countingRecord{}
		if rec := postRelease(sw, records, c.ID); rec.Code != http.StatusOK {
			t.Fatalf("first release: status %d: %s", rec.Code, rec.Body)
		}

		rec := postRelease(sw, records, c.ID)
		if rec.Code != http.StatusConflict {
			t.Fatalf("second release: status %d, want 409: %s", rec.Code, rec.Body)
		}
		var body struct {
			Error      string    `json:"error"`
			Released   int64     `json:"released"`
			ReleasedAt time.Time `json:"released_at"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if body.Released != c.ID {
			t.Errorf("released = %d, want cut %d", body.Released, c.ID)
		}
		if !strings.Contains(body.Error, "already released") {
			t.Errorf("error = %q, want it to contain %q", body.Error, "already released")
		}
		if body.ReleasedAt.IsZero() {
			t.Error("released_at missing")
		}
		if n := records.releases(c.ID); n != 1 {
			t.Errorf("%d release entries, want 1", n)
		}
	})
}

// TestReleaseUnrecordedFreesClaim checks that a release that could not be
// recorded gives up its claim, so a retry releases the cut at once rather
// than after the claim timeout.
func TestReleaseUnrecordedFreesClaim(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		sw, err := Open(ctx, storagetest.Open(t, b.NewURL(t)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &Cut{Mode: Full, Scope: "all", Reason: "incident 4", EngagedBy: "alice"}
		if err := sw.Engage(ctx, c); err != nil {
			t.Fatal(err)
		}

		if rec := postRelease(sw, &failingRecord{}, c.ID); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("unrecorded release: status %d, want 503: %s", rec.Code, rec.Body)
		}

		records := &countingRecord{}
		if rec := postRelease(sw, records, c.ID); rec.Code != http.StatusOK {
			t.Fatalf("retry: status %d, want 200: %s", rec.Code, rec.Body)
		}
		if n := records.releases(c.ID); n != 1 {
			t.Errorf("%d release entries, want 1", n)
		}
	})
}

// contextRecord stores entries like countingRecord but, like the audit
// log, fails an append whose context is done.
type contextRecord struct{ countingRecord }

func (c *contextRecord) Append(ctx context.Context, e *record.Entry) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return c.countingRecord.Append(ctx, e)
}

// A client that closes the connection cancels the request's context. The
// engage and the release must still be made and recorded together, or the
// log would miss a cut in force, or name a release never made.
func TestChangeSurvivesClientDisconnect(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		sw, err := Open(context.Background(), storagetest.Open(t, b.NewURL(t)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		records := &contextRecord{}
		mux := http.NewServeMux()
		for pattern, h := range Handlers(sw, records) {
			mux.Handle(pattern, h)
		}
		disconnected, cancel := context.WithCancel(context.Background())
		cancel()

		req := httptest.NewRequestWithContext(disconnected, http.MethodPost, "/killswitch", strings.NewReader(`{"mode":"full","reason":"incident 12"}`))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("engage: status %d, want 201: %s", rec.Code, rec.Body)
		}
		cuts := sw.Cuts()
		if len(cuts) != 1 {
			t.Fatalf("engaged cuts %+v, want one", cuts)
		}
		if len(records.entries) != 1 || records.entries[0].Interaction != "killswitch.engage" {
			t.Errorf("recorded %+v, want one killswitch.engage entry", records.entries)
		}

		req = httptest.NewRequestWithContext(disconnected, http.MethodPost, fmt.Sprintf("/killswitch/%d/release", cuts[0].ID), nil)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("release: status %d, want 200: %s", rec.Code, rec.Body)
		}
		if cuts := sw.Cuts(); len(cuts) != 0 {
			t.Errorf("engaged cuts %+v after the release, want none", cuts)
		}
		if n := records.releases(cuts[0].ID); n != 1 {
			t.Errorf("%d release entries, want 1", n)
		}
	})
}
