package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func TestAppendListRoundTrip(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, keys := newTestLogOn(t, b, nil)
		ctx := context.Background()
		in := testEntry(7, 300)
		seq, err := l.Append(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if seq != 1 || in.Seq != 1 {
			t.Fatalf("seq = %d, entry.Seq = %d; want 1", seq, in.Seq)
		}
		if in.RecordedAt.IsZero() {
			t.Error("RecordedAt not set")
		}

		got, err := l.List(ctx, record.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("List returned %d entries, want 1", len(got))
		}
		want := *in
		want.RequestBody, want.ResponseBody = nil, nil
		if !entriesEqual(got[0], want) {
			t.Errorf("List = %+v\nwant %+v", got[0], want)
		}

		row, err := l.Row(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		bodies, err := openBodies(t, l, keys, row)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bodies.Request, in.RequestBody) {
			t.Error("decrypted request body differs")
		}
		if !bytes.Equal(bodies.Response, in.ResponseBody) {
			t.Error("decrypted response body differs")
		}
	})
}

func entriesEqual(a, b record.Entry) bool {
	ta, tb := a.Received, b.Received
	ra, rb := a.RecordedAt, b.RecordedAt
	a.Received, b.Received, a.RecordedAt, b.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ta.Equal(tb) && ra.Equal(rb) && a.Seq == b.Seq && equalNoTimes(a, b)
}

func equalNoTimes(a, b record.Entry) bool {
	return a.ExchangeID == b.ExchangeID && a.Phase == b.Phase && a.Direction == b.Direction &&
		a.Partner == b.Partner && a.CertFingerprint == b.CertFingerprint && a.TokenID == b.TokenID &&
		a.Source == b.Source && a.Method == b.Method && a.Target == b.Target && a.Interaction == b.Interaction &&
		a.Decision == b.Decision && a.Rule == b.Rule && a.Reason == b.Reason && a.Status == b.Status &&
		a.RequestType == b.RequestType && a.UpstreamTime == b.UpstreamTime && a.TotalTime == b.TotalTime &&
		a.UpstreamState == b.UpstreamState && a.RequestBody == nil && b.RequestBody == nil
}

func TestListFilters(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, _ := newTestLogOn(t, b, nil)
		appendN(t, l, 10)
		ctx := context.Background()

		tests := []struct {
			name string
			f    record.Filter
			want []int64
		}{
			{"all", record.Filter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{"after seq", record.Filter{AfterSeq: 8}, []int64{9, 10}},
			{"limit", record.Filter{Limit: 2}, []int64{1, 2}},
			{"partner", record.Filter{Partner: "other-ehr", AfterSeq: 4}, []int64{6, 8, 10}},
			{"exchange", record.Filter{ExchangeID: "ex-000003"}, []int64{4}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.List(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if !equalInts(seqs, tt.want) {
					t.Errorf("seqs = %v, want %v", seqs, tt.want)
				}
			})
		}
	})
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGroupCommitConcurrent(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 50 })
		const workers, each = 300, 5
		var mu sync.Mutex
		seen := make(map[int64]bool)
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					a, err := l.AppendEntry(context.Background(), testEntry(w*each+i, 512))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seen[a.Index] {
						errs <- errors.New("duplicate index")
					}
					seen[a.Index] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := range int64(workers * each) {
			if !seen[i] {
				t.Fatalf("index %d never returned: indexes are not dense", i)
			}
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Size != workers*each || rep.Uncovered != 0 {
			t.Errorf("report = %+v, want intact with %d entries all covered", rep, workers*each)
		}
	})
}

func TestQueueFullFailsFast(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, _ := newTestLogOn(t, b, func(o *Options) { o.QueueSize = 1; o.MaxBatch = 1 })
		// Fill the queue directly while the writer is kept busy waiting
		// for the append lock, held by another connection.
		release := holdAppendLock(t, l)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		results := make(chan error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Append(ctx, testEntry(i, 10))
				results <- err
			}()
		}
		// At most one entry is in the writer and one in the queue. The others
		// must fail at once, while the writer still waits.
		deadline := time.After(3 * time.Second)
		full := 0
		for full < 8 {
			select {
			case err := <-results:
				if !errors.Is(err, record.ErrUnavailable) {
					t.Fatalf("err = %v, want record.ErrUnavailable", err)
				}
				full++
			case <-deadline:
				t.Fatalf("only %d of 8 appends failed fast", full)
			}
		}
		release()
		wg.Wait()
	})
}

// holdAppendLock takes the append lock of l's database on a connection of
// its own and returns the function that releases it.
func holdAppendLock(t *testing.T, l *Log) func() {
	t.Helper()
	ctx := context.Background()
	conn, err := l.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lock, unlock, args := "BEGIN IMMEDIATE", "ROLLBACK", []any(nil)
	if l.db.Dialect == storage.PostgreSQL {
		lock, unlock, args = sqlLockAppendsSessionPostgres, sqlUnlockAppendsSessionPostgres, []any{l.lockKey}
	}
	if _, err := conn.ExecContext(ctx, lock, args...); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(ctx, unlock, args...); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
}

func TestCloseDrainsAndRejects(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 1000 })
		appendN(t, l, 3)
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(context.Background(), testEntry(9, 1)); !errors.Is(err, record.ErrUnavailable) {
			t.Errorf("append after close: err = %v, want record.ErrUnavailable", err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Latest == nil || rep.Latest.Size != 3 {
			t.Errorf("latest checkpoint = %+v, want a final one of size 3", rep.Latest)
		}
	})
}

func TestReceiptsVerifyIndependently(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 37 })
		appended := appendN(t, l, 100)
		ctx := context.Background()
		hasher := rfc6962.DefaultHasher
		for _, a := range appended {
			p, err := l.Receipt(ctx, a.Index)
			if a.Index >= 74 {
				if !errors.Is(err, ErrNotCovered) {
					t.Fatalf("index %d: err = %v, want ErrNotCovered", a.Index, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("index %d: %v", a.Index, err)
			}
			if p.LeafHash != a.LeafHash {
				t.Fatalf("index %d: receipt leaf hash differs from AppendEntry's", a.Index)
			}
			cp, err := CheckProof(p, keys.verifier)
			if err != nil {
				t.Fatalf("index %d: %v", a.Index, err)
			}
			var hashes [][]byte
			for _, h := range p.Hashes {
				hashes = append(hashes, h[:])
			}
			if err := proof.VerifyInclusion(hasher, uint64(a.Index), uint64(cp.Size), a.LeafHash[:], hashes, cp.Hash[:]); err != nil {
				t.Fatalf("index %d: transparency-dev verifier: %v", a.Index, err)
			}
		}
		if _, err := l.Receipt(ctx, 100); !errors.Is(err, ErrNotFound) {
			t.Errorf("index 100: err = %v, want ErrNotFound", err)
		}
	})
}

func TestConsistencyProofsVerifyIndependently(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, _ := newTestLogOn(t, b, nil)
		appendN(t, l, 70)
		ctx := context.Background()
		roots := make(map[int64][]byte)
		for size := int64(1); size <= 70; size++ {
			p, err := l.InclusionProof(ctx, 0, size)
			if err != nil {
				t.Fatal(err)
			}
			row, _ := l.Row(ctx, 0)
			leaf := rfc6962.DefaultHasher.HashLeaf(row.Encoded)
			var hashes [][]byte
			for _, h := range p {
				hashes = append(hashes, h[:])
			}
			root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, 0, uint64(size), leaf, hashes)
			if err != nil {
				t.Fatal(err)
			}
			roots[size] = root
		}
		for _, pair := range [][2]int64{{1, 2}, {3, 7}, {8, 64}, {13, 70}, {64, 70}, {69, 70}} {
			p, err := l.ConsistencyProof(ctx, pair[0], pair[1])
			if err != nil {
				t.Fatal(err)
			}
			var hashes [][]byte
			for _, h := range p {
				hashes = append(hashes, h[:])
			}
			err = proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(pair[0]), uint64(pair[1]), hashes, roots[pair[0]], roots[pair[1]])
			if err != nil {
				t.Errorf("consistency %d -> %d: %v", pair[0], pair[1], err)
			}
		}
	})
}

func TestReopenContinuesTree(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		keys := newTestKeys(t)
		db := b.New(t)
		for round := range 3 {
			l, err := Open(context.Background(), db, keys.options())
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 11)
			if err := l.Close(context.Background()); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Size != 33 || rep.Checkpoints != 3 {
			t.Errorf("report = %+v, want intact, 33 entries, 3 checkpoints", rep)
		}
	})
}

func TestOpenRejectsOtherOrigin(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		_, db, _ := newTestLogOn(t, b, nil)
		other := newTestKeys(t)
		opts := other.options()
		opts.Origin = "other.example/log"
		if _, err := Open(context.Background(), db, opts); err == nil {
			t.Fatal("Open with another origin and key succeeded")
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	keys := newTestKeys(t)
	tests := []struct {
		name string
		edit func(*Options)
	}{
		{"no origin", func(o *Options) { o.Origin = "" }},
		{"no signer", func(o *Options) { o.Signer = nil }},
		{"signer for another origin", func(o *Options) { o.Origin = "elsewhere.example/log" }},
		{"no recipients", func(o *Options) { o.Recipients = nil }},
		{"negative queue", func(o *Options) { o.QueueSize = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := keys.options()
			tt.edit(&o)
			if err := o.Validate(); err == nil {
				t.Error("Validate accepted invalid options")
			}
		})
	}
}

func TestOptionsValidateOriginMismatch(t *testing.T) {
	o := newTestKeys(t).options()
	o.Origin = "elsewhere.example/log"
	if err := o.Validate(); !errors.Is(err, ErrOriginMismatch) {
		t.Errorf("Validate() = %v, want ErrOriginMismatch", err)
	}
}

// Receipt returns a verifiable proof for a covered entry, ErrNotCovered
// for an entry no checkpoint covers yet and ErrNotFound beyond the log.
func TestReceiptStatuses(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, _, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
		appendN(t, l, 6)
		ctx := context.Background()

		p, err := l.Receipt(ctx, 2)
		if err != nil {
			t.Fatalf("covered entry: %v", err)
		}
		if _, err := CheckProof(p, keys.verifier); err != nil {
			t.Errorf("covered entry: %v", err)
		}
		if _, err := l.Receipt(ctx, 5); !errors.Is(err, ErrNotCovered) {
			t.Errorf("uncovered entry: %v, want ErrNotCovered", err)
		}
		if _, err := l.Receipt(ctx, 6); !errors.Is(err, ErrNotFound) {
			t.Errorf("index beyond the log: %v, want ErrNotFound", err)
		}
	})
}

func TestFileAndSlogSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	var logged bytes.Buffer
	l, _, keys := newTestLog(t, func(o *Options) {
		o.Sinks = []Sink{&FileSink{Path: path}, &SlogSink{Logger: slog.New(slog.NewJSONHandler(&logged, nil))}}
	})
	appendN(t, l, 3)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := OpenCheckpoint(data, keys.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 3 {
		t.Errorf("file checkpoint size = %d, want 3", c.Size)
	}
	if !strings.Contains(logged.String(), `"size":3`) || strings.Contains(logged.String(), "abcdefghijklmnop") {
		t.Errorf("slog output = %s, want the checkpoint of size 3 and no body bytes", logged.String())
	}
}

// An append is reported committed only after its commit is synced. Once
// a sync fails, the log refuses every later append, even when syncs
// succeed again, because no later fsync vouches for what the failed one
// should have written.
func TestAppendFailsAfterSyncFailure(t *testing.T) {
	// No time-based checkpoint runs during the test, so the seam below is
	// read only after the appends that follow each change.
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointInterval = time.Hour })
	ctx := context.Background()
	if _, err := l.Append(ctx, testEntry(1, 64)); err != nil {
		t.Fatal(err)
	}
	// The queue send in Append orders these writes before the writer's
	// reads.
	real := l.syncCommits
	l.syncCommits = func() error { return errors.New("injected fsync failure") }
	_, err := l.Append(ctx, testEntry(2, 64))
	if err == nil {
		t.Fatal("append with a failing sync = nil, want an error")
	}
	if !errors.Is(err, record.ErrUnavailable) {
		t.Errorf("error = %v, want it to wrap record.ErrUnavailable", err)
	}
	l.syncCommits = real
	if _, err := l.Append(ctx, testEntry(3, 64)); err == nil {
		t.Error("append after a failed sync = nil, want an error until a restart")
	}
}

// AppendCommitted returns once the entry is committed and readable, with
// no sync of its own; the next AppendEntry's sync covers it. A failed
// sync then fails that AppendEntry, which is how a caller learns that an
// entry it went on with may be lost.
func TestAppendCommittedDefersSync(t *testing.T) {
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointInterval = time.Hour })
	ctx := context.Background()
	var syncs atomic.Int64
	real := l.syncCommits
	// Set before the first append, whose queue send orders it before the
	// writer's reads.
	l.syncCommits = func() error {
		syncs.Add(1)
		return real()
	}

	for i := range 3 {
		a, err := l.AppendCommitted(ctx, testEntry(i, 64))
		if err != nil {
			t.Fatal(err)
		}
		list, err := l.List(ctx, record.Filter{ExchangeID: testEntry(i, 64).ExchangeID})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Seq != a.Seq {
			t.Fatalf("entry %d after AppendCommitted: read %+v, want seq %d", i, list, a.Seq)
		}
	}
	if n := syncs.Load(); n != 0 {
		t.Errorf("%d syncs after three AppendCommitted, want 0", n)
	}
	if _, err := l.AppendEntry(ctx, testEntry(3, 64)); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("%d syncs after AppendEntry, want 1", n)
	}

	if _, err := l.AppendCommitted(ctx, testEntry(4, 64)); err != nil {
		t.Fatal(err)
	}
	l.syncCommits = func() error { return errors.New("injected fsync failure") }
	if _, err := l.AppendEntry(ctx, testEntry(5, 64)); err == nil {
		t.Error("AppendEntry whose sync failed after an AppendCommitted = nil, want an error")
	}
}

// After a failed sync AppendCommitted fails too, so that the gateway
// forwards nothing while no fsync vouches for the log.
func TestAppendCommittedFailsAfterSyncFailure(t *testing.T) {
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointInterval = time.Hour })
	ctx := context.Background()
	l.syncCommits = func() error { return errors.New("injected fsync failure") }
	if _, err := l.AppendEntry(ctx, testEntry(1, 64)); err == nil {
		t.Fatal("AppendEntry with a failing sync = nil, want an error")
	}
	if _, err := l.AppendCommitted(ctx, testEntry(2, 64)); err == nil {
		t.Error("AppendCommitted after a failed sync = nil, want an error")
	}
}

// After a failed fsync of the write-ahead log, retention refuses to run:
// it ends with a checkpoint, which would copy a log that may hold stale
// bytes into the database file.
func TestShredRefusedAfterFailedSync(t *testing.T) {
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointInterval = time.Hour })
	ctx := context.Background()
	if _, err := l.AppendEntry(ctx, testEntry(1, 64)); err != nil {
		t.Fatal(err)
	}
	restore := storage.FailLogSyncsForTest()
	_, err := l.AppendEntry(ctx, testEntry(2, 64))
	restore()
	if err == nil {
		t.Fatal("AppendEntry with failing syncs = nil, want a failed sync")
	}
	if _, err := l.Shred(ctx, l.opts.Now().Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Errorf("Shred after a failed sync = %v, want an error naming the failed fsync", err)
	}
}

// A sync that fails while retention runs stops it before its closing
// checkpoint of the write-ahead log.
func TestShredStopsWhenSyncFailsMidway(t *testing.T) {
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointInterval = time.Hour })
	ctx := context.Background()
	for i := range 2 * shredBatch {
		if _, err := l.AppendEntry(ctx, testEntry(i, 64)); err != nil {
			t.Fatal(err)
		}
	}
	var appendErr error
	testHookShredBatch = func() {
		testHookShredBatch = nil
		restore := storage.FailLogSyncsForTest()
		_, appendErr = l.AppendEntry(ctx, testEntry(2*shredBatch, 64))
		restore()
	}
	t.Cleanup(func() { testHookShredBatch = nil })

	_, err := l.Shred(ctx, l.opts.Now().Add(time.Hour))
	if appendErr == nil {
		t.Fatal("AppendEntry with failing syncs = nil, want a failed sync")
	}
	if err == nil || !strings.Contains(err.Error(), "not checkpointed") {
		t.Errorf("Shred after a sync failed midway = %v, want an error saying the log was not checkpointed", err)
	}
}

// A checkpoint is stored only after an fsync of the write-ahead log has
// made the entries it covers durable, so with every fsync failing no
// reader ever sees one.
func TestCheckpointStoredOnlyAfterSync(t *testing.T) {
	var publishErrs []string
	var mu sync.Mutex
	l, db, _ := newTestLog(t, func(o *Options) {
		o.CheckpointEvery = 1
		o.OnPublishError = func(sink string, _ int64, err error) {
			mu.Lock()
			publishErrs = append(publishErrs, sink+": "+err.Error())
			mu.Unlock()
		}
	})
	if l.wdb == l.db {
		t.Fatal("the writer has no deferred-sync handle on SQLite")
	}
	restore := storage.FailLogSyncsForTest()
	defer restore()

	// AppendCommitted returns after the commit, before any fsync.
	if _, err := l.AppendCommitted(context.Background(), testEntry(0, 64)); err != nil {
		t.Fatalf("AppendCommitted = %v", err)
	}
	// Close waits for the writer, which has tried to store a checkpoint.
	l.Close(context.Background())

	var entries, checkpoints int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM audit_entries").Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM audit_checkpoints").Scan(&checkpoints); err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Errorf("stored entries = %d, want 1", entries)
	}
	if checkpoints != 0 {
		t.Errorf("stored checkpoints with every fsync failing = %d, want 0", checkpoints)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(publishErrs) == 0 {
		t.Error("OnPublishError was not called for the checkpoint that could not be stored")
	}
}

// gateProbeSigner signs with a log key, after a write to the log's SQLite
// file through another handle. That write needs the file's write gate, so
// it fails when the log signs with the gate held.
type gateProbeSigner struct {
	note.Signer
	db    *storage.DB
	mu    sync.Mutex
	calls int
	err   error
}

func (s *gateProbeSigner) Sign(msg []byte) ([]byte, error) {
	// The timeout only ends the wait of a writer that signs under the
	// gate. A correct writer never waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS gate_probe (x INTEGER)")
	s.mu.Lock()
	s.calls++
	if err != nil && s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	return s.Signer.Sign(msg)
}

// The writer signs a checkpoint without the SQLite write gate, so other
// writers of the file can commit meanwhile.
func TestCheckpointSignedWithoutWriteGate(t *testing.T) {
	probe := &gateProbeSigner{}
	l, db, keys := newTestLog(t, func(o *Options) {
		o.CheckpointEvery = 2
		probe.Signer = o.Signer
		o.Signer = probe
	})
	probe.db = db
	appendN(t, l, 4)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	probe.mu.Lock()
	defer probe.mu.Unlock()
	if probe.calls == 0 {
		t.Fatal("the writer signed no checkpoint")
	}
	if probe.err != nil {
		t.Errorf("a write during signing failed, so the writer signed with the gate held: %v", probe.err)
	}
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("verify found problems: %v", rep.Problems)
	}
	if rep.Latest == nil || rep.Latest.Size != 4 {
		t.Errorf("verify: latest checkpoint %v, want one of size 4", rep.Latest)
	}
}

// A running writer that finds its newest checkpoints deleted stops
// appending, instead of signing a tree reloaded from stored hashes that
// may have been rewritten along with them.
func TestAppendFailsAfterCheckpointsDeleted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, _ := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
		appendN(t, l, 10)
		mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 4")
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 6")
		mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 6))

		_, err := l.AppendEntry(context.Background(), testEntry(10, 64))
		if err == nil {
			t.Fatal("append after deleting checkpoints succeeded")
		}
		if !strings.Contains(err.Error(), "checkpoints were deleted") {
			t.Errorf("error = %v, want deleted checkpoints named", err)
		}
		var size int64
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_entries").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != 6 {
			t.Errorf("the log has %d entries after the failed append, want 6", size)
		}
	})
}

// Open with the checkpoint published last refuses a log that no longer
// extends it: rolled back, stripped of its checkpoints, or rewritten
// while no writer ran. An intact log opens and takes appends.
func TestOpenChecksPublishedCheckpoint(t *testing.T) {
	tamper := []struct {
		name  string
		edit  func(t *testing.T, db *storage.DB)
		error string // "" when Open succeeds
	}{
		{"intact", func(*testing.T, *storage.DB) {}, ""},
		{"rolled back", func(t *testing.T, db *storage.DB) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 4")
			mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 6")
			mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 6))
		}, "entries were removed"},
		{"checkpoints deleted", func(t *testing.T, db *storage.DB) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 8")
		}, "checkpoints were deleted"},
		{"history rewritten", func(t *testing.T, db *storage.DB) {
			mustExec(t, db, "UPDATE audit_hashes SET hash = $1 WHERE id = $2", make([]byte, tlog.HashSize), tlog.StoredHashIndex(3, 0))
		}, "history was rewritten"},
	}
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		for _, tt := range tamper {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
				appendN(t, l, 10)
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				// Close signs the last checkpoint, at size 10.
				latest, err := l.LatestCheckpoint(ctx)
				if err != nil || latest == nil || latest.Size != 10 {
					t.Fatalf("latest checkpoint %v, %v; want one of size 10", latest, err)
				}
				tt.edit(t, db)

				opts := keys.options()
				opts.Published, opts.PublishedKey = latest.Note, keys.verifier
				l2, err := Open(ctx, db, opts)
				if tt.error != "" {
					if err == nil {
						l2.Close(ctx)
						t.Fatal("Open succeeded")
					}
					if !strings.Contains(err.Error(), tt.error) {
						t.Errorf("error = %v, want %q", err, tt.error)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer l2.Close(ctx)
				if _, err := l2.AppendEntry(ctx, testEntry(10, 64)); err != nil {
					t.Errorf("append to the intact log: %v", err)
				}
			})
		}
	})
}

// A published checkpoint signed by another key is not taken for this
// log's.
func TestOpenPublishedCheckpointOtherKey(t *testing.T) {
	ctx := context.Background()
	l, db, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 4)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := l.LatestCheckpoint(ctx)
	if err != nil || latest == nil {
		t.Fatalf("latest checkpoint %v, %v", latest, err)
	}
	opts := keys.options()
	opts.Published, opts.PublishedKey = latest.Note, newTestKeys(t).verifier
	if l2, err := Open(ctx, db, opts); err == nil {
		l2.Close(ctx)
		t.Fatal("Open accepted a checkpoint it cannot verify")
	} else if !strings.Contains(err.Error(), "not one of this log") {
		t.Errorf("error = %v", err)
	}
}

// OpenCheckpoint distinguishes a checkpoint signed by another key from one
// changed after signing, and names the keys involved, so that an auditor
// holding the wrong verifier key does not read it as tampering only.
func TestOpenCheckpointSignatureErrors(t *testing.T) {
	keys := newTestKeys(t)
	msg, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 3, Hash: tlog.Hash{1}}, keys.signer)
	if err != nil {
		t.Fatal(err)
	}
	signedBy := fmt.Sprintf("%s+%08x", testOrigin, keys.verifier.KeyHash())

	other := newTestKeys(t).verifier
	_, _, err = OpenCheckpoint(msg, other)
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		t.Errorf("other key: error %v does not wrap note.UnverifiedNoteError", err)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no signature by the verifier key %s+%08x, only by %s", testOrigin, other.KeyHash(), signedBy)) {
		t.Errorf("other key: error = %v, want both keys named", err)
	}
	if err == nil || !strings.Contains(err.Error(), "the verifier key is not the one that signed this log") {
		t.Errorf("other key: error = %v, want the wrong key named as a cause", err)
	}

	changed := bytes.Replace(msg, []byte("\n3\n"), []byte("\n4\n"), 1)
	_, _, err = OpenCheckpoint(changed, keys.verifier)
	var invalid *note.InvalidSignatureError
	if !errors.As(err, &invalid) {
		t.Errorf("changed text: error %v does not wrap note.InvalidSignatureError", err)
	}
	if err == nil || !strings.Contains(err.Error(), "signature by "+signedBy+" does not match its text") {
		t.Errorf("changed text: error = %v, want the signature named as not matching", err)
	}
}

// A tail of entries deleted with its checkpoints but not its stored hashes,
// with no published checkpoint to catch it, is rejected at Open. Otherwise
// every append fails on a duplicate hash id. Verify names the leftovers.
func TestRollbackLeavingHashes(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
		appendN(t, l, 10)
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 4")
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 6")

		rep, err := Verify(ctx, db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("stores %d tree hashes where its 6 entries need %d", tlog.StoredHashCount(10), tlog.StoredHashCount(6))
		if rep.Intact() || !strings.Contains(rep.Problems[len(rep.Problems)-1].What, want) {
			t.Errorf("verify problems %v, want one with %q", rep.Problems, want)
		}

		l2, err := Open(ctx, db, keys.options())
		if err == nil {
			l2.Close(ctx)
			t.Fatal("Open accepted a log with hashes beyond its entries")
		}
		if !strings.Contains(err.Error(), "entries or hashes were deleted outside the gateway") {
			t.Errorf("Open error = %v", err)
		}
	})
}

// countCheckpointsAbove returns the number of stored checkpoints larger
// than size.
func countCheckpointsAbove(t *testing.T, db *storage.DB, size int64) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM audit_checkpoints WHERE size > $1", size).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Entries a running writer committed after its latest checkpoint are
// signed by nothing yet. Deleting them with their stored hashes leaves a
// log whose counts agree, so the writer refuses to append rather than
// sign the shorter tree, which verification would find intact.
func TestAppendFailsAfterUncoveredTailDeleted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, _ := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
		appendN(t, l, 10) // checkpoints of sizes 4 and 8
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 8")
		mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 8))

		_, err := l.AppendEntry(context.Background(), testEntry(10, 64))
		if err == nil {
			t.Fatal("append after deleting the uncovered tail succeeded")
		}
		if !strings.Contains(err.Error(), "fewer than the 10 this writer has seen") {
			t.Errorf("error = %v, want the deleted entries named", err)
		}
		l.Close(context.Background())
		if n := countCheckpointsAbove(t, db, 8); n != 0 {
			t.Errorf("%d checkpoints signed over the shortened log, want none", n)
		}
	})
}

// The same tail replaced by a longer one, appended by the insider's own
// writer, looks like another replica's appends. But its stored hashes do
// not prove that the tree extends the one this writer holds, so the
// writer refuses to sign it.
func TestAppendFailsAfterUncoveredTailReplaced(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		l, db, _ := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 4 })
		appendN(t, l, 10)
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 8")
		mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 8))
		forger, err := Open(ctx, db, newTestKeys(t).options())
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, forger, 3)
		forger.Close(ctx)
		mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 8")

		_, err = l.AppendEntry(ctx, testEntry(10, 64))
		if err == nil {
			t.Fatal("append after replacing the uncovered tail succeeded")
		}
		if !strings.Contains(err.Error(), "does not extend the tree of 10 entries this writer has seen") {
			t.Errorf("error = %v, want the rewrite named", err)
		}
		l.Close(ctx)
		if n := countCheckpointsAbove(t, db, 8); n != 0 {
			t.Errorf("%d checkpoints signed over the replaced tail, want none", n)
		}
		var size int64
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_entries").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != 11 {
			t.Errorf("the log has %d entries after the refused append, want the 11 of the rewrite", size)
		}
	})
}

// A checkpoint published last whose own hashes are intact does not make
// Open accept a larger stored tree that does not extend it: the root of
// the first 8 entries is rewritten, and the frontier of 6 is kept.
func TestOpenChecksTreeExtendsPublished(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 6 })
		appendN(t, l, 8)
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		var published []byte
		if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = 6").Scan(&published); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "UPDATE audit_hashes SET hash = $1 WHERE id = $2", make([]byte, tlog.HashSize), tlog.StoredHashIndex(3, 0))

		opts := keys.options()
		opts.Published, opts.PublishedKey = published, keys.verifier
		l2, err := Open(ctx, db, opts)
		if err == nil {
			l2.Close(ctx)
			t.Fatal("Open accepted a tree that does not extend the published checkpoint")
		}
		if !errors.Is(err, ErrNotExtended) || !strings.Contains(err.Error(), "history was rewritten") {
			t.Errorf("error = %v", err)
		}
	})
}

// A signing time moved into the future on the latest stored checkpoint
// does not hold back the time-based checkpoints of a running writer.
func TestCheckpointTimeInFutureIgnored(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, _ := newTestLogOn(t, b, func(o *Options) {
			o.CheckpointEvery = 1000
			o.CheckpointInterval = 50 * time.Millisecond
		})
		appendN(t, l, 3)
		waitForCheckpoint(t, db, 3)
		mustExec(t, db, "UPDATE audit_checkpoints SET created_ns = $1", time.Now().Add(24*time.Hour).UnixNano())

		appendN(t, l, 3)
		waitForCheckpoint(t, db, 6)
	})
}

// waitForCheckpoint waits up to 5 seconds for a stored checkpoint of size.
func waitForCheckpoint(t *testing.T, db *storage.DB, size int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_checkpoints WHERE size = $1", size).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size %d within 5s", size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When entries the running writer committed are deleted, it signs the tree
// it holds and publishes it to the file sink. The deletion then leaves a
// trace: the next Open with the file rejects the log, and verify against
// the file reports the loss.
func TestDeletedTailLeavesEvidence(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		file := filepath.Join(t.TempDir(), "checkpoint.txt")
		l, db, keys := newTestLogOn(t, b, func(o *Options) {
			o.CheckpointEvery = 4
			o.Sinks = []Sink{&FileSink{Path: file}}
		})
		appendN(t, l, 10) // checkpoints of sizes 4 and 8; 8 and 9 uncovered
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 8")
		mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 8))
		if _, err := l.AppendEntry(ctx, testEntry(10, 64)); err == nil {
			t.Fatal("append after deleting the uncovered tail succeeded")
		}
		l.Close(ctx)

		published, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := OpenCheckpoint(published, keys.verifier)
		if err != nil || cp.Size != 10 {
			t.Fatalf("checkpoint file holds %+v, %v; want the writer's tree of 10 entries", cp, err)
		}
		if n := countCheckpointsAbove(t, db, 8); n != 0 {
			t.Errorf("%d checkpoints stored over the shortened log, want none", n)
		}

		opts := keys.options()
		opts.Published, opts.PublishedKey = published, keys.verifier
		if l2, err := Open(ctx, db, opts); err == nil {
			l2.Close(ctx)
			t.Error("Open with the published evidence accepted the shortened log")
		} else if !errors.Is(err, ErrNotExtended) {
			t.Errorf("Open error = %v, want ErrNotExtended", err)
		}
		rep, err := Verify(ctx, db, VerifyOptions{LogKey: keys.verifier, Trusted: published})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || !strings.Contains(rep.Problems[0].What, "entries were truncated") {
			t.Errorf("verify against the evidence: %v, want the truncation reported", rep.Problems)
		}
	})
}
