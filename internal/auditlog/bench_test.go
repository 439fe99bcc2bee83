package auditlog

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// eachBackend runs fn as one sub-benchmark per backend. The PostgreSQL one
// skips without GATEHOUSE_TEST_POSTGRES.
func eachBackend(b *testing.B, fn func(b *testing.B, be storagetest.Backend)) {
	for _, be := range storagetest.Backends() {
		b.Run(be.Name(), func(b *testing.B) {
			if be.Dialect == storage.PostgreSQL {
				storagetest.SkipWithoutPostgres(b)
			}
			fn(b, be)
		})
	}
}

// processCPU returns the CPU time the process has used, user and system.
// Benchmarks report it per operation next to the wall-clock rate, since
// it varies less with other load on the machine.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppend measures durable appends with a 4 KiB request body from
// 64 concurrent callers, all committed through group commit.
func BenchmarkAppend(b *testing.B) {
	eachBackend(b, func(b *testing.B, be storagetest.Backend) {
		l, _, _ := newTestLogOn(b, be, nil)
		const callers = 64
		body := testEntry(1, 4096).RequestBody
		var next atomic.Int64
		b.SetBytes(4096)
		b.ResetTimer()
		start, cpu := time.Now(), processCPU(b)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					e := testEntry(1, 0)
					e.RequestBody = body
					if _, err := l.Append(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/append")
	})
}

// benchLogs holds closed logs of n entries with 4 KiB bodies, built once
// per backend, size and test binary by getBenchLog. TestMain drops them.
var benchLogs = map[benchLogKey]*benchLog{}

type benchLogKey struct {
	dialect storage.Dialect
	size    int
}

type benchLog struct {
	db      *storage.DB
	log     *Log
	keys    *testKeys
	cleanup func() error
}

func (bl *benchLog) close() {
	bl.db.Close()
	bl.cleanup()
}

func getBenchLog(b *testing.B, be storagetest.Backend, n int) *benchLog {
	if bl, ok := benchLogs[benchLogKey{be.Dialect, n}]; ok {
		return bl
	}
	b.Helper()
	bl := newBenchLogOutsideCleanup(b, be)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := bl.log.Append(context.Background(), testEntry(int(i), 4096)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := bl.log.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	benchLogs[benchLogKey{be.Dialect, n}] = bl
	return bl
}

// newBenchLogOutsideCleanup opens a log whose database outlives b, so
// several benchmarks can share it.
func newBenchLogOutsideCleanup(b *testing.B, be storagetest.Backend) *benchLog {
	bl := &benchLog{keys: newTestKeys(b)}
	var url string
	if be.Dialect == storage.SQLite {
		dir, err := os.MkdirTemp("", "auditlog-bench")
		if err != nil {
			b.Fatal(err)
		}
		url, bl.cleanup = filepath.Join(dir, "audit.db"), func() error { return os.RemoveAll(dir) }
	} else {
		var err error
		if url, bl.cleanup, err = storagetest.CreateSchema(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	var err error
	if bl.db, err = storage.Open(context.Background(), url); err != nil {
		b.Fatal(err)
	}
	if bl.log, err = Open(context.Background(), bl.db, bl.keys.options()); err != nil {
		b.Fatal(err)
	}
	return bl
}

// BenchmarkReceipt measures building an inclusion proof (entry lookup,
// latest checkpoint, proof hashes) in a log of 20,000 entries.
func BenchmarkReceipt(b *testing.B) {
	eachBackend(b, func(b *testing.B, be storagetest.Backend) {
		bl := getBenchLog(b, be, 20000)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			if _, err := bl.log.Receipt(ctx, int64(i*7919%20000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerify measures full verification of a log of verifyBenchSize
// entries with 4 KiB bodies, kept between runs by getCachedBenchLog.
func BenchmarkVerify(b *testing.B) {
	eachBackend(b, func(b *testing.B, be storagetest.Backend) {
		n := verifyBenchSize(b)
		db, verifier := getCachedBenchLog(b, be, n)
		b.ResetTimer()
		start, cpu := time.Now(), processCPU(b)
		for range b.N {
			rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: verifier})
			if err != nil {
				b.Fatal(err)
			}
			if !rep.Intact() || rep.Size != int64(n) {
				b.Fatalf("size %d, problems %v", rep.Size, rep.Problems)
			}
		}
		b.ReportMetric(float64(b.N)*float64(n)/time.Since(start).Seconds(), "entries/s")
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N)/float64(n), "cpu-µs/entry")
	})
}
