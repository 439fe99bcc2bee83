package record

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/sqlitedb"
)

func TestAppendListAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSQLStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := []Entry{
		{ExchangeID: "x1", Phase: PhaseRequest, Partner: "ehr-a", Status: 0, RequestBody: []byte(`{"a":1}`), Received: time.Unix(1, 0)},
		{ExchangeID: "x1", Phase: PhaseResponse, Partner: "ehr-a", Status: 200, ResponseBody: []byte(`{"b":2}`), UpstreamTime: time.Millisecond},
		{ExchangeID: "x2", Phase: PhaseRefusal, Partner: "ehr-b", Status: 403, Decision: Deny, Rule: "policy.not-allowed"},
	}
	for i := range in {
		seq, err := s.Append(ctx, &in[i])
		if err != nil {
			t.Fatal(err)
		}
		if seq != int64(i+1) || in[i].Seq != seq {
			t.Errorf("entry %d got seq %d", i, seq)
		}
	}
	db.Close()

	// Reopen: committed entries survive.
	db, err = sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, _ = NewSQLStore(ctx, db, nil)
	got, err := s.List(ctx, Filter{ExchangeID: "x1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Phase != PhaseRequest || !bytes.Equal(got[1].ResponseBody, []byte(`{"b":2}`)) || got[1].UpstreamTime != time.Millisecond {
		t.Errorf("List(x1) = %+v", got)
	}
	if got, _ := s.List(ctx, Filter{Partner: "ehr-b"}); len(got) != 1 || got[0].Rule != "policy.not-allowed" {
		t.Errorf("List(partner ehr-b) = %+v", got)
	}
	if got, _ := s.List(ctx, Filter{AfterSeq: 2}); len(got) != 1 || got[0].Seq != 3 {
		t.Errorf("List(after 2) = %+v", got)
	}
}

func TestAppendFailsOnClosedDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSQLStore(ctx, db, nil)
	db.Close()
	if _, err := s.Append(ctx, &Entry{ExchangeID: "x"}); err == nil {
		t.Fatal("Append succeeded on a closed database")
	}
}
