package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// appendExchange appends the request entry of testEntry(n, 3000), an
// unrelated entry, and the exchange's response entry, which keeps the
// request in the request entry. It returns the request entry and the
// indexes of the request and response entries.
func appendExchange(t *testing.T, l *Log, n int) (req *record.Entry, reqIndex, respIndex int64) {
	t.Helper()
	ctx := context.Background()
	req = testEntry(n, 3000)
	a, err := l.AppendEntry(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEntry(ctx, testEntry(n+1, 64)); err != nil {
		t.Fatal(err)
	}
	b, err := l.AppendEntry(ctx, responseOf(req, a.Seq))
	if err != nil {
		t.Fatal(err)
	}
	return req, a.Index, b.Index
}

// responseOf returns the response entry of req's exchange, which names
// the request entry numbered seq instead of storing the request again.
func responseOf(req *record.Entry, seq int64) *record.Entry {
	resp := *req
	resp.Phase, resp.RequestSeq = record.PhaseResponse, seq
	resp.ResponseBody = []byte(`{"resourceType":"ClaimResponse","id":"r1"}`)
	return &resp
}

func TestRequestStoredOnce(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, nil)
		req, reqIndex, respIndex := appendExchange(t, l, 1)

		var withCiphertext int
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_entries WHERE idx = $1 AND request_ct IS NOT NULL", respIndex).Scan(&withCiphertext); err != nil {
			t.Fatal(err)
		}
		if withCiphertext != 0 {
			t.Error("the response entry stored the request ciphertext again")
		}
		row, err := l.Row(context.Background(), respIndex)
		if err != nil {
			t.Fatal(err)
		}
		got := row.Leaf.Request
		if !got.InRequestEntry() || got.Size != int64(len(req.RequestBody)) || got.SHA256 != digest(req.RequestBody) {
			t.Errorf("response leaf commits to request %+v, want the request's size and hash kept in the request entry", got)
		}
		if row.Leaf.RequestEntry != reqIndex || row.Leaf.Entry.RequestSeq != reqIndex+1 {
			t.Errorf("response leaf names request entry %d (sequence number %d), want %d", row.Leaf.RequestEntry, row.Leaf.Entry.RequestSeq, reqIndex)
		}

		bodies, err := openBodies(t, l, keys, row)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bodies.Request, req.RequestBody) || bodies.RequestIndex != reqIndex {
			t.Errorf("request body of %d bytes from entry %d, want %d bytes from entry %d",
				len(bodies.Request), bodies.RequestIndex, len(req.RequestBody), reqIndex)
		}
		if !bytes.Contains(bodies.Response, []byte(`"r1"`)) {
			t.Errorf("response body %q", bodies.Response)
		}

		rep := closeAndVerify(t, l, db, keys)
		if !rep.Intact() {
			t.Errorf("log with a request kept in the request entry: %v", rep.Problems)
		}
	})
}

// The writer rejects a reference to an entry that does not hold the
// request body, so no entry names a body the log lacks.
func TestAppendRejectsWrongRequestEntry(t *testing.T) {
	ctx := context.Background()
	l, _, _ := newTestLog(t, nil)
	req, reqIndex, _ := appendExchange(t, l, 1)
	seq := reqIndex + 1

	otherBody := responseOf(req, seq)
	otherBody.RequestBody = []byte("another body")
	otherExchange := responseOf(req, seq)
	otherExchange.ExchangeID = "ex-other"
	inRequestPhase := responseOf(req, seq)
	inRequestPhase.Phase = record.PhaseRequest
	tests := []struct {
		name string
		e    *record.Entry
		want string
	}{
		{"another body", otherBody, "holds another request body"},
		{"another exchange", otherExchange, "belongs to another exchange"},
		{"not a request entry", responseOf(req, seq+2), "not a request entry"},
		{"no such entry", responseOf(req, seq+100), "request entry"},
		{"in a request entry", inRequestPhase, "only a response or refusal entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.AppendEntry(ctx, tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// A ciphertext stored beside a request body kept elsewhere is not what the
// leaf commits to.
func TestVerifyStrayRequestCiphertext(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, nil)
		_, reqIndex, respIndex := appendExchange(t, l, 1)
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "UPDATE audit_entries SET request_ct = (SELECT request_ct FROM audit_entries WHERE idx = $1) WHERE idx = $2", reqIndex, respIndex)
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || rep.Problems[0].Index != respIndex || !strings.Contains(rep.Problems[0].What, "request ciphertext present") {
			t.Errorf("problems %v, want a request ciphertext present at %d", rep.Problems, respIndex)
		}
	})
}

// splitExchange appends an exchange whose request entry is covered by a
// signed checkpoint and whose response entry comes after it, and closes
// the log. The checkpoint covers a second entry too, so that the request
// entry's leaf hash is not itself part of the stored tree's frontier. It
// returns that checkpoint and the two indexes.
func splitExchange(t *testing.T, b storagetest.Backend) (db *storage.DB, keys *testKeys, trusted []byte, reqIndex, respIndex int64) {
	t.Helper()
	ctx := context.Background()
	l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 2 })
	req := testEntry(1, 3000)
	a, err := l.AppendEntry(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEntry(ctx, testEntry(2, 64)); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = $1", a.Index+2).Scan(&trusted); err != nil {
		t.Fatal(err)
	}
	resp, err := l.AppendEntry(ctx, responseOf(req, a.Seq))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return db, keys, trusted, a.Index, resp.Index
}

// An edit to a request entry below the trusted checkpoint of an
// incremental verification is reported at the response entry that names
// it. The run does not recompute the request entry, but it checks every
// request entry that a recomputed entry names.
func TestVerifyRequestEntryEditedBelowCheckpoint(t *testing.T) {
	tests := []struct {
		name, sql string
		retention time.Duration
		want      string
	}{
		{"ciphertext deleted", "UPDATE audit_entries SET request_ct = NULL WHERE idx = $1", 0, "request ciphertext does not match"},
		{"row deleted", "DELETE FROM audit_entries WHERE idx = $1", 0, "entry 0 is missing"},
		{"encoding edited", "UPDATE audit_entries SET entry = (SELECT entry FROM audit_entries WHERE idx = 1) WHERE idx = $1", 0, "entry 0"},
		{"marked shredded before the retention period", "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, shredded_ns = recorded_ns + 90000000000000 WHERE idx = $1",
			48 * time.Hour, "less than 48h0m0s after it was recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
				db, keys, trusted, reqIndex, respIndex := splitExchange(t, b)
				mustExec(t, db, tt.sql, reqIndex)
				rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted, Retention: tt.retention})
				if err != nil {
					t.Fatal(err)
				}
				if rep.From != respIndex {
					t.Fatalf("verification recomputed from entry %d, want %d", rep.From, respIndex)
				}
				if rep.Intact() || rep.Problems[0].Index != respIndex || !strings.Contains(rep.Problems[0].What, tt.want) {
					t.Errorf("problems %v, want one at entry %d mentioning %q", rep.Problems, respIndex, tt.want)
				}
			})
		})
	}
}

// A request entry shredded by retention, before its response entry, is
// valid, and readers report the request body as destroyed.
func TestOpenShreddedRequestEntry(t *testing.T) {
	row, bodies, reqIndex := openAfterRequestEdit(t, func(db *storage.DB, index int64) { shredIndex(t, db, index) })
	if !bodies.RequestShredded || bodies.Request != nil || len(bodies.Response) == 0 {
		t.Errorf("request of %d bytes (shredded %v), response of %d bytes; want the response and a shredded request",
			len(bodies.Request), bodies.RequestShredded, len(bodies.Response))
	}
	out, err := json.Marshal(Export(row, bodies))
	if err != nil {
		t.Fatal(err)
	}
	var x ExportedEntry
	if err := json.Unmarshal(out, &x); err != nil {
		t.Fatal(err)
	}
	if !x.RequestShredded || x.RequestEntry == nil || *x.RequestEntry != reqIndex {
		t.Errorf("export %s, want the request shredded with entry %d", out, reqIndex)
	}
}

// Rewriting a request entry below the trusted checkpoint together with
// its stored leaf hash is caught by the inclusion proof against the
// trusted root, which the stored hash alone cannot pass.
func TestVerifyRequestEntryRewrittenWithItsLeafHash(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, trusted, reqIndex, respIndex := splitExchange(t, b)
		var encoded []byte
		if err := db.QueryRow("SELECT entry FROM audit_entries WHERE idx = $1", reqIndex).Scan(&encoded); err != nil {
			t.Fatal(err)
		}
		leaf, err := DecodeEntry(encoded)
		if err != nil {
			t.Fatal(err)
		}
		garbage := bytes.Repeat([]byte{7}, 3000+28)
		leaf.Request.CiphertextSHA256 = digest(garbage)
		rewritten, err := EncodeEntry(leaf)
		if err != nil {
			t.Fatal(err)
		}
		leafHash := tlog.RecordHash(rewritten)
		mustExec(t, db, "UPDATE audit_entries SET entry = $1, request_ct = $2 WHERE idx = $3", rewritten, garbage, reqIndex)
		mustExec(t, db, "UPDATE audit_hashes SET hash = $1 WHERE id = $2", leafHash[:], tlog.StoredHashIndex(0, reqIndex))

		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || rep.Problems[0].Index != respIndex || !strings.Contains(rep.Problems[0].What, "not the one the trusted checkpoint covers") {
			t.Errorf("problems %v, want one at entry %d saying the request entry is not in the trusted tree", rep.Problems, respIndex)
		}
	})
}

// A shredding time in the future would pass any retention period, so it
// is reported.
func TestVerifyShreddingTimeInFuture(t *testing.T) {
	l, db, keys := newTestLog(t, nil)
	appendN(t, l, 3)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = $1 WHERE idx = 1",
		time.Now().Add(10*365*24*time.Hour).UnixNano())
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Retention: 2160 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() || rep.Problems[0].Index != 1 || !strings.Contains(rep.Problems[0].What, "after this verification began") {
		t.Errorf("problems %v, want entry 1 shredded in the future", rep.Problems)
	}
}

// A response entry whose request entry is gone still shows its response;
// the request is reported unavailable.
func TestOpenWithoutRequestEntry(t *testing.T) {
	_, bodies, _ := openAfterRequestEdit(t, func(db *storage.DB, index int64) {
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx = $1", index)
	})
	if bodies.Request != nil || !strings.Contains(bodies.RequestUnavailable, "request entry") || len(bodies.Response) == 0 {
		t.Errorf("request of %d bytes (unavailable %q), response of %d bytes; want the response and the request unavailable",
			len(bodies.Request), bodies.RequestUnavailable, len(bodies.Response))
	}
}

// openAfterRequestEdit appends an exchange, lets edit change its request
// entry, and decrypts the response entry. It returns that entry, its
// bodies and the request entry's index.
func openAfterRequestEdit(t *testing.T, edit func(db *storage.DB, index int64)) (*Row, *Bodies, int64) {
	t.Helper()
	l, db, keys := newTestLog(t, nil)
	_, reqIndex, respIndex := appendExchange(t, l, 1)
	edit(db, reqIndex)
	row, err := l.Row(context.Background(), respIndex)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := openBodies(t, l, keys, row)
	if err != nil {
		t.Fatal(err)
	}
	return row, bodies, reqIndex
}

func shredIndex(t *testing.T, db *storage.DB, index int64) {
	t.Helper()
	mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx = $2",
		int64(25*time.Hour), index)
}

// A request entry this log did not append, here one written before the
// log was opened again, is checked from the database.
func TestAppendNamesRequestEntryOfEarlierRun(t *testing.T) {
	ctx := context.Background()
	l, db, keys := newTestLog(t, nil)
	req := testEntry(1, 3000)
	a, err := l.AppendEntry(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, db, keys.options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close(ctx) })
	if _, err := again.AppendEntry(ctx, responseOf(req, a.Seq)); err != nil {
		t.Errorf("response entry naming request entry %d of the earlier run: %v", a.Index, err)
	}
	other := responseOf(req, a.Seq)
	other.RequestBody = []byte("another body")
	if _, err := again.AppendEntry(ctx, other); err == nil || !strings.Contains(err.Error(), "holds another request body") {
		t.Errorf("response entry with another body: err = %v, want it rejected", err)
	}
}
