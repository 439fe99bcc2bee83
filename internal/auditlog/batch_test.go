package auditlog

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// countingClock returns a clock that moves one nanosecond per call, so
// that each transaction of the writer gets a time of its own and the
// entries of one batch share it.
func countingClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return time.Unix(1700000000, n.Add(1)) }
}

// waitQueued waits until l's queue contains n entries that the writer has
// not taken, and fails the test after 10 s.
func waitQueued(t *testing.T, l *Log, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(l.queue) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d entries, want %d", len(l.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// appendResultOf is the outcome of appending testEntry(n, ...).
type appendResultOf struct {
	n   int
	a   Appended
	e   *record.Entry
	err error
}

// appendAsync appends entry n on a goroutine of its own and sends the
// result to out.
func appendAsync(l *Log, n int, wg *sync.WaitGroup, out chan<- appendResultOf) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		e := testEntry(n, 256)
		a, err := l.AppendEntry(context.Background(), e)
		out <- appendResultOf{n: n, a: a, e: e, err: err}
	}()
}

// TestBatchIncludesLockWaitEntries checks group commit across a wait for
// the append lock. The entry the writer took and those queued during the
// wait commit in one transaction, with dense indexes in queue order.
func TestBatchIncludesLockWaitEntries(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, func(o *Options) { o.Now = countingClock() })
		release := holdAppendLock(t, l)
		results := make(chan appendResultOf, 4)
		var wg sync.WaitGroup

		// The writer takes the first entry and waits for the lock.
		appendAsync(l, 0, &wg, results)
		waitQueued(t, l, 0)
		// Let the writer pass its first collect, so that only the wait for
		// the lock can add the entries queued next to its batch.
		time.Sleep(20 * time.Millisecond)
		for n := 1; n <= 3; n++ {
			appendAsync(l, n, &wg, results)
			waitQueued(t, l, n)
		}
		release()
		wg.Wait()
		close(results)

		byIndex := map[int64]appendResultOf{}
		var recorded time.Time
		for r := range results {
			if r.err != nil {
				t.Fatalf("append %d: %v", r.n, r.err)
			}
			byIndex[r.a.Index] = r
			if recorded.IsZero() {
				recorded = r.e.RecordedAt
			}
			if !r.e.RecordedAt.Equal(recorded) {
				t.Errorf("append %d recorded at %v, another at %v: the entries committed in separate transactions", r.n, r.e.RecordedAt, recorded)
			}
		}
		// Entries 1 to 3 queued in that order after the writer took 0.
		for i := range int64(4) {
			r, ok := byIndex[i]
			if !ok || r.n != int(i) {
				t.Errorf("index %d holds append %d (present %v), want append %d", i, r.n, ok, i)
			}
		}
		listed, err := l.List(context.Background(), record.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 4 {
			t.Fatalf("listed %d entries, want 4", len(listed))
		}
		for i, e := range listed {
			if want := testEntry(i, 0).ExchangeID; e.ExchangeID != want || e.Seq != int64(i+1) {
				t.Errorf("entry %d is %s seq %d, want %s seq %d", i, e.ExchangeID, e.Seq, want, i+1)
			}
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Size != 4 {
			t.Errorf("report = %+v, want intact with 4 entries", rep)
		}
	})
}

// TestFailedBatchFailsEveryCaller checks that when the transaction of a
// batch that grew during the lock wait fails, every caller gets an error
// wrapping record.ErrUnavailable and no entry is stored.
func TestFailedBatchFailsEveryCaller(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, _ := newTestLogOn(t, b, nil)
		release := holdAppendLockUntil(t, l)
		results := make(chan appendResultOf, 4)
		var wg sync.WaitGroup
		appendAsync(l, 0, &wg, results)
		waitQueued(t, l, 0)
		time.Sleep(20 * time.Millisecond) // as in the test above
		for n := 1; n <= 3; n++ {
			appendAsync(l, n, &wg, results)
			waitQueued(t, l, n)
		}
		// A checkpoint beyond the log's size makes the writer's read of
		// the tree state fail under the lock, after it took the queue.
		release(sqlInsertCheckpoint, 1000, []byte("bogus"), int64(1))
		wg.Wait()
		close(results)

		for r := range results {
			if !errors.Is(r.err, record.ErrUnavailable) {
				t.Errorf("append %d: err = %v, want record.ErrUnavailable", r.n, r.err)
			}
			if r.e.Seq != 0 {
				t.Errorf("append %d got seq %d from a failed commit", r.n, r.e.Seq)
			}
		}
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM audit_entries").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d entries stored by a failed commit", n)
		}
	})
}

// holdAppendLockUntil takes the append lock as holdAppendLock does. The
// function it returns runs stmt (unless empty) under the lock, then
// releases the lock; on SQLite stmt commits with the locking transaction.
func holdAppendLockUntil(t *testing.T, l *Log) func(stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := l.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lock, unlock, lockArgs := "BEGIN IMMEDIATE", "COMMIT", []any(nil)
	if l.db.Dialect == storage.PostgreSQL {
		lock, unlock, lockArgs = sqlLockAppendsSessionPostgres, sqlUnlockAppendsSessionPostgres, []any{l.lockKey}
	}
	if _, err := conn.ExecContext(ctx, lock, lockArgs...); err != nil {
		t.Fatal(err)
	}
	return func(stmt string, args ...any) {
		if stmt != "" {
			if _, err := conn.ExecContext(ctx, stmt, args...); err != nil {
				t.Error(err)
			}
		}
		if _, err := conn.ExecContext(ctx, unlock, lockArgs...); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
}

// TestBatchIncludesReadyAppenders checks that the writer lets appenders
// that are ready to run reach the queue before it takes its batch. With
// one processor, a send to the queue makes the writer the next goroutine
// to run, so without the yield each entry commits on its own.
func TestBatchIncludesReadyAppenders(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	l, _, _ := newTestLog(t, func(o *Options) { o.Now = countingClock() })
	appendN(t, l, 1) // the KEK and the schema are in place before the rounds

	// The scheduler now and then runs the writer before the others, so one
	// round in ten that batches is enough; without the yield none does.
	const rounds = 10
	var sizes []int
	for range rounds {
		n := firstBatchSize(t, l, 4)
		if n > 1 {
			return
		}
		sizes = append(sizes, n)
	}
	t.Errorf("the first transaction of 4 appenders ready at once held %v entries in %d rounds, want more than 1 in one round", sizes, rounds)
}

// firstBatchSize starts appenders goroutines that append at once and
// returns how many entries the first of their transactions held.
func firstBatchSize(t *testing.T, l *Log, appenders int) int {
	t.Helper()
	start := make(chan struct{})
	results := make(chan appendResultOf, appenders)
	var wg sync.WaitGroup
	for n := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			e := testEntry(n, 256)
			a, err := l.AppendEntry(context.Background(), e)
			results <- appendResultOf{n: n, a: a, e: e, err: err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)

	// Entries of one transaction share its time from the counting clock.
	var first time.Time
	batches := map[time.Time]int{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("append %d: %v", r.n, r.err)
		}
		batches[r.e.RecordedAt]++
		if first.IsZero() || r.e.RecordedAt.Before(first) {
			first = r.e.RecordedAt
		}
	}
	return batches[first]
}

// The tree hashes of one appended entry, 1 to 4 in 15 of every 16
// appends, go into the database in one INSERT statement.
func TestStatementRowsOneEntryHashes(t *testing.T) {
	for rows := 1; rows <= 4; rows++ {
		if n := statementRows(rows); n != rows {
			t.Errorf("%d rows: first statement inserts %d, want all %d", rows, n, rows)
		}
	}
	if n := statementRows(300); n != 256 {
		t.Errorf("300 rows: first statement inserts %d, want 256", n)
	}
}
