package auditlog

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

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
	resp := *req
	resp.Phase, resp.RequestRecorded = record.PhaseResponse, true
	resp.ResponseBody = []byte(`{"resourceType":"ClaimResponse","id":"r1"}`)
	b, err := l.AppendEntry(ctx, &resp)
	if err != nil {
		t.Fatal(err)
	}
	return req, a.Index, b.Index
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
		if !row.Leaf.Entry.RequestRecorded {
			t.Error("the decoded entry does not say that its request is in the request entry")
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

		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() {
			t.Errorf("log with a request kept in the request entry: %v", rep.Problems)
		}
	})
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

func TestOpenShreddedRequestEntry(t *testing.T) {
	l, db, keys := newTestLog(t, nil)
	_, reqIndex, respIndex := appendExchange(t, l, 1)
	shredIndex(t, db, reqIndex)
	row, err := l.Row(context.Background(), respIndex)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := openBodies(t, l, keys, row)
	if err != nil {
		t.Fatal(err)
	}
	if !bodies.RequestShredded || bodies.Request != nil || len(bodies.Response) == 0 {
		t.Errorf("request of %d bytes (shredded %v), response of %d bytes; want the response and a shredded request",
			len(bodies.Request), bodies.RequestShredded, len(bodies.Response))
	}
}

func shredIndex(t *testing.T, db *storage.DB, index int64) {
	t.Helper()
	mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx = $2",
		int64(25*time.Hour), index)
}

func TestOpenMissingRequestEntry(t *testing.T) {
	ctx := context.Background()
	l, _, keys := newTestLog(t, nil)
	req, _, _ := appendExchange(t, l, 1)

	// A response entry of an exchange without a request entry, and one
	// whose request entry holds another body.
	orphan := *req
	orphan.ExchangeID, orphan.Phase, orphan.RequestRecorded = "ex-orphan", record.PhaseResponse, true
	other := *req
	other.Phase, other.RequestRecorded, other.RequestBody = record.PhaseResponse, true, []byte("another body")
	for _, e := range []*record.Entry{&orphan, &other} {
		a, err := l.AppendEntry(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		row, err := l.Row(ctx, a.Index)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openBodies(t, l, keys, row); err == nil || !strings.Contains(err.Error(), "no earlier request entry") {
			t.Errorf("exchange %s: err = %v, want no earlier request entry", e.ExchangeID, err)
		}
	}
}

func TestAppendRequestEntryWithoutBody(t *testing.T) {
	l, _, _ := newTestLog(t, nil)
	e := testEntry(1, 64)
	e.RequestRecorded = true
	if _, err := l.AppendEntry(context.Background(), e); err == nil {
		t.Error("a request entry that keeps its body elsewhere was appended")
	}
}
