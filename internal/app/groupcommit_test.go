package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// concurrentExchanges is how many $submit requests the group commit tests
// send at once.
const concurrentExchanges = 8

// submitted is one $submit response, read in full.
type submitted struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// holdWriteLock begins a write transaction on the gateway's database and
// returns its connection. Until it ends, the audit writer waits.
func holdWriteLock(t *testing.T, h *harness) *sql.Conn {
	t.Helper()
	conn, err := h.rt.DB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// submitWhileLocked takes the write lock, sends concurrentExchanges
// $submit requests at once, lets them queue behind the lock, then runs
// finish, which must end the lock's transaction, and returns the
// responses.
func submitWhileLocked(t *testing.T, h *harness, finish func(conn *sql.Conn)) []submitted {
	t.Helper()
	// The token endpoint records its exchange too, so the token comes first.
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	bundle := shippedBundle(t)
	client := h.ehr.HTTPClient()
	conn := holdWriteLock(t, h)
	defer conn.Close()

	out := make([]submitted, concurrentExchanges)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest("POST", h.rt.PublicURL+"/fhir/Claim/$submit", bytes.NewReader(bundle))
			if err != nil {
				out[i].err = err
				return
			}
			req.Header = header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].status, out[i].header = resp.StatusCode, resp.Header
			out[i].body, out[i].err = io.ReadAll(resp.Body)
		}()
	}
	// The requests reach the record stage while the lock is held. How many
	// do before finish runs changes the batches, not what the test checks.
	time.Sleep(300 * time.Millisecond)
	finish(conn)
	wg.Wait()
	return out
}

// TestConcurrentExchangesRecordedInOrder checks group commit through the
// gateway. Exchanges whose entries wait for the write lock together are
// all recorded, each request entry before its response entry, and the log
// verifies.
func TestConcurrentExchangesRecordedInOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	results := submitWhileLocked(t, h, func(conn *sql.Conn) {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
	})

	seqs := map[int64]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		if r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200: %s", i, r.status, r.body)
		}
		list, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{ExchangeID: r.header.Get("X-Request-Id")})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Phase != record.PhaseRequest || list[1].Phase != record.PhaseResponse {
			t.Fatalf("request %d: entries %+v, want a request entry then a response entry", i, list)
		}
		if list[0].Seq >= list[1].Seq {
			t.Errorf("request %d: request entry %d is not before response entry %d", i, list[0].Seq, list[1].Seq)
		}
		if got := r.header.Get("X-Gatehouse-Record"); got != strconv.FormatInt(list[1].Seq, 10) {
			t.Errorf("request %d: X-Gatehouse-Record = %s, want the response entry %d", i, got, list[1].Seq)
		}
		seqs[list[0].Seq], seqs[list[1].Seq] = true, true
	}
	if n := h.upstream.count.Load(); n != concurrentExchanges {
		t.Errorf("upstream received %d requests, want %d", n, concurrentExchanges)
	}

	key, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(h.layout.Dir).VerifierFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := auditlog.Verify(context.Background(), h.rt.DB, auditlog.VerifyOptions{LogKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Errorf("verification report = %+v, want intact", rep)
	}
	for seq := range seqs {
		if seq < 1 || seq > rep.Size {
			t.Errorf("entry %d is outside the verified log of %d entries", seq, rep.Size)
		}
	}
}

// TestFailedGroupCommitFailsEveryExchange checks fail-closed recording
// under group commit: when the transaction holding the request entries of
// concurrent exchanges fails, each gets 503 with an OperationOutcome and
// none is forwarded.
func TestFailedGroupCommitFailsEveryExchange(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	results := submitWhileLocked(t, h, func(conn *sql.Conn) {
		// A checkpoint larger than the log makes every append transaction
		// fail once it has read the tree state under the lock.
		if _, err := conn.ExecContext(context.Background(),
			"INSERT INTO audit_checkpoints (size, note, created_ns) VALUES (1000000, x'00', 1)"); err != nil {
			t.Error(err)
		}
		if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
			t.Error(err)
		}
	})

	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("request %d: status %d, want 503: %s", i, r.status, r.body)
			continue
		}
		if code := outcomeCode(t, r.body); code != "transient" {
			t.Errorf("request %d: OperationOutcome code %q, want transient", i, code)
		}
	}
	if n := h.upstream.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
}
