package auditlog

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/sqlitedb"
)

// BenchmarkAppend measures durable appends with a 4 KiB request body from
// 64 concurrent callers, all committed through group commit.
func BenchmarkAppend(b *testing.B) {
	l, _, _ := newTestLog(b, nil)
	const callers = 64
	body := testEntry(1, 4096).RequestBody
	var next atomic.Int64
	b.SetBytes(4096)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				e := testEntry(1, 0)
				e.RequestBody = body
				if _, err := l.Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// benchLogs holds closed logs of n entries with 4 KiB bodies, built once
// per size and test binary by getBenchLog.
var benchLogs = map[int]*benchLog{}

type benchLog struct {
	dir  string
	db   *sql.DB
	log  *Log
	keys *testKeys
}

func getBenchLog(b *testing.B, n int) *benchLog {
	if bl, ok := benchLogs[n]; ok {
		return bl
	}
	b.Helper()
	l, db, keys, dir := newBenchLogOutsideCleanup(b)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := l.Append(context.Background(), testEntry(int(i), 4096)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	bl := &benchLog{dir: dir, db: db, log: l, keys: keys}
	benchLogs[n] = bl
	return bl
}

// newBenchLogOutsideCleanup opens a log whose database outlives b, so
// several benchmarks can share it. TestMain removes it.
func newBenchLogOutsideCleanup(b *testing.B) (*Log, *sql.DB, *testKeys, string) {
	keys := newTestKeys(b)
	dir, err := os.MkdirTemp("", "auditlog-bench")
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlitedb.Open(context.Background(), dir+"/audit.db")
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(context.Background(), db, keys.options())
	if err != nil {
		b.Fatal(err)
	}
	return l, db, keys, dir
}

// BenchmarkReceipt measures building an inclusion proof (entry lookup,
// latest checkpoint, proof hashes) in a log of 20,000 entries.
func BenchmarkReceipt(b *testing.B) {
	bl := getBenchLog(b, 20000)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bl.log.Receipt(ctx, int64(i*7919%20000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures full verification of a log of 20,000 entries
// with 4 KiB bodies.
func BenchmarkVerify(b *testing.B) {
	bl := getBenchLog(b, 20000)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rep, err := Verify(context.Background(), bl.db, VerifyOptions{LogKey: bl.keys.verifier})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Intact() {
			b.Fatal(rep.Problems)
		}
	}
	b.ReportMetric(float64(b.N)*20000/time.Since(start).Seconds(), "entries/s")
}
