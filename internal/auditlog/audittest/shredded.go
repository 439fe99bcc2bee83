// Package audittest provides audit-log set-ups shared by the tests of the
// packages that verify the log: the console's and the CLI's.
package audittest

import (
	"context"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// AppendShreddedEarly appends three request entries recorded 40 days ago
// to the log in db. It then nulls the bodies of entry 1 and marks it
// shredded 30 hours after recording, as an insider destroying evidence
// would, so that the shredding time lies in the past.
func AppendShreddedEarly(t testing.TB, db *storage.DB, origin string, signer note.Signer, recipients []age.Recipient) {
	t.Helper()
	ctx := context.Background()
	recordedAt := time.Now().Add(-40 * 24 * time.Hour)
	l, err := auditlog.Open(ctx, db, auditlog.Options{Origin: origin, Signer: signer, Recipients: recipients,
		Now: func() time.Time { return recordedAt }})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ex-0", "ex-1", "ex-2"} {
		e := &record.Entry{ExchangeID: id, Phase: record.PhaseRequest, Direction: "inbound", Partner: "demo-ehr",
			Method: "POST", Target: "/fhir/Claim/$submit", Decision: record.Allow, Received: recordedAt,
			RequestBody: []byte(`{"resourceType":"Bundle"}`)}
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	const shred = "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx = 1"
	if _, err := db.Exec(shred, int64(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
}
