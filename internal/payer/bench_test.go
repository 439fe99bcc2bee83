package payer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkSubmitNewClaim measures the service's $submit handler alone,
// without a network, on a SQLite file: each request carries a new Claim
// identifier, so the service adjudicates it and stores a new
// authorization, as under bench/compare's load.
func BenchmarkSubmitNewClaim(b *testing.B) {
	bundle := demoBundle(b, "pas-2.2.1-ReferralAuthorizationBundleExample.json")
	claimID := []byte(`"value":"111099"`)
	if bytes.Count(bundle, claimID) != 1 {
		b.Fatal("the shipped Bundle no longer has the Claim identifier this benchmark replaces")
	}
	benchSubmit(b, func(i int) []byte {
		return bytes.Replace(bundle, claimID, fmt.Appendf(nil, `"value":"b%08d"`, i), 1)
	})
}

// BenchmarkSubmitReplay is BenchmarkSubmitNewClaim with the same Bundle
// every time, so after the first request the service replays its stored
// response.
func BenchmarkSubmitReplay(b *testing.B) {
	bundle := demoBundle(b, "pas-2.2.1-ReferralAuthorizationBundleExample.json")
	benchSubmit(b, func(int) []byte { return bundle })
}

// benchSubmit posts body(i) to the handler for each iteration i, with the
// service's own clock and random ids. The database is set up as the
// gateway sets it up: the service writes through a DeferCommitSync handle
// to a file that another handle writes to as well, once per request, as
// the exchange record does. That other write makes SQLite drop the
// service's page cache, as it does in the gateway.
func benchSubmit(b *testing.B, body func(i int) []byte) {
	ctx := context.Background()
	db := sqliteBackend.New(b)
	payerDB, err := db.DeferCommitSync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { payerDB.Close() })
	recordDB, err := db.DeferCommitSync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { recordDB.Close() })
	if _, err := recordDB.ExecContext(ctx, `CREATE TABLE bench_record (seq INTEGER NOT NULL PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}

	svc, err := New(payerDB, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	h := svc.Handler()

	i := 0
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/Claim/$submit", bytes.NewReader(body(i)))
		req.Header.Set("Content-Type", fhirJSONType)
		req.Header.Set(PartnerHeader, "bench-partner")
		i++
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("$submit status = %d, want 200: %s", w.Code, w.Body)
		}
		_, _ = io.Copy(io.Discard, w.Body)
		if _, err := recordDB.ExecContext(ctx, `INSERT INTO bench_record (seq, body) VALUES ($1, $2)`, i, "exchange"); err != nil {
			b.Fatal(err)
		}
	}
}
