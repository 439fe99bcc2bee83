package storage

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keeperWait bounds the wait for something the keeper must do without
// further input. It detects a keeper that never acts; it measures nothing.
const keeperWait = 10 * time.Second

// writeBlobs commits n transactions of one 4 KiB row each through db.
func writeBlobs(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	blob := []byte(strings.Repeat("x", 4096))
	for range n {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (b) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// With SQLite's automatic checkpoints off, only the keeper keeps the
// write-ahead log from growing without end: after every background
// checkpoint the next writer starts the log again from its beginning.
// Without the keeper the log below grows past 20 MiB.
func TestWALKeeperBoundsTheLog(t *testing.T) {
	done := checkpointOutcomes(t)

	path := filepath.Join(t.TempDir(), "k.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, want 0: the keeper checkpoints instead", auto)
	}

	const rounds, perRound = 20, 256 // about 1 MiB of rows per round
	for r := range rounds {
		writeBlobs(t, db, perRound)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: background checkpoint: %v", r, err)
			}
		case <-time.After(keeperWait):
			t.Fatalf("round %d: no background checkpoint after %d commits", r, perRound)
		}
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 8<<20 {
		t.Errorf("write-ahead log is %d bytes after %d rounds of about 1 MiB: the log is not restarted", st.Size(), rounds)
	}
}

// The keeper copies the bulk of the log without the gate: while another
// goroutine holds the gate, a checkpoint still moves the committed pages
// into the database file, and it completes once the gate is free. Were
// the whole checkpoint under the gate, the file would not grow before the
// release.
func TestWALKeeperCopiesWithoutTheGate(t *testing.T) {
	// A file written without storage.Open, so that no background keeper
	// checkpoints it, and a keeper that is not running.
	path := filepath.Join(t.TempDir(), "k.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	blob := []byte(strings.Repeat("x", 4096))
	for range 64 {
		if _, err := raw.Exec(`INSERT INTO blobs (b) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
	}
	kdb, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer kdb.Close()
	kconn, err := holdConnection(kdb)
	if err != nil {
		t.Fatal(err)
	}
	defer kconn.Close()
	k := &walKeeper{db: kdb, conn: kconn, gate: &writeGate{ch: make(chan struct{}, 1)}}

	if err := k.gate.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- k.checkpoint(true) }()
	deadline := time.Now().Add(keeperWait)
	for fileSize(t, path) < before+64*4096 {
		if time.Now().After(deadline) {
			k.gate.unlock()
			t.Fatal("no page reached the database file while the gate was held")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-res:
		t.Fatalf("the checkpoint returned (%v) while the gate was held: a writer could have appended after it", err)
	default:
	}
	k.gate.unlock()
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(keeperWait):
		t.Fatal("the checkpoint did not finish after the gate was freed")
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// recordLogOpens makes SyncCommits record each log it opens.
func recordLogOpens(t *testing.T) *[]string {
	t.Helper()
	var opened []string
	openLog = func(name string) (*os.File, error) {
		opened = append(opened, name)
		return os.Open(name)
	}
	t.Cleanup(func() { openLog = os.Open })
	return &opened
}

// openDeferred opens the SQLite file at path and a DeferCommitSync handle
// on it, both closed when the test ends.
func openDeferred(t *testing.T, path string) (full, deferred *DB) {
	t.Helper()
	ctx := context.Background()
	full, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close() })
	deferred, err = full.DeferCommitSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deferred.Close() })
	return full, deferred
}

// SyncCommits fsyncs the log on a deferred-sync handle only, opens it
// once for many syncs, and reports a missing log as an error.
func TestSyncCommits(t *testing.T) {
	opened := recordLogOpens(t)

	path := filepath.Join(t.TempDir(), "s.db")
	full, deferred := openDeferred(t, path)
	writeBlobs(t, deferred, 1)
	if err := full.SyncCommits(); err != nil {
		t.Fatalf("full-sync handle: SyncCommits = %v, want nil", err)
	}
	if len(*opened) != 0 {
		t.Fatalf("full-sync handle: opened %q, want nothing", *opened)
	}
	for range 3 {
		writeBlobs(t, deferred, 1)
		if err := deferred.SyncCommits(); err != nil {
			t.Fatal(err)
		}
	}
	if len(*opened) != 1 || (*opened)[0] != path+"-wal" {
		t.Fatalf("deferred handle: opened %q, want the write-ahead log %s once", *opened, path+"-wal")
	}

	if err := os.Rename(path+"-wal", path+"-wal.moved"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(path+"-wal.moved", path+"-wal")
	if err := deferred.SyncCommits(); err == nil {
		t.Error("SyncCommits with the log missing = nil, want an error")
	}
}

// SQLite keeps the log beside the file a symbolic link points to, so a
// handle opened through a link syncs that log, and shares the file's gate
// with a handle opened through the real path.
func TestSyncCommitsThroughSymlink(t *testing.T) {
	opened := recordLogOpens(t)

	ctx := context.Background()
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "real.db")
	if err := os.Mkdir(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	direct, err := Open(ctx, real)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	_, deferred := openDeferred(t, link)

	writeBlobs(t, deferred, 1)
	if err := deferred.SyncCommits(); err != nil {
		t.Fatal(err)
	}
	if len(*opened) != 1 || (*opened)[0] != real+"-wal" {
		t.Errorf("opened %q, want the log beside the real file, %s", *opened, real+"-wal")
	}
	if gateFor(real).keeper.Load() == nil {
		t.Error("no keeper under the real path")
	}
	gates.Lock()
	_, linkGate := gates.m[link]
	gates.Unlock()
	if linkGate {
		t.Error("the link has a gate of its own: writers through it would not queue with the others")
	}
}

// A handle closed twice releases the keeper once: the file's other handle
// keeps it.
func TestCloseReleasesKeeperOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	if gateFor(path).keeper.Load() == nil {
		t.Fatal("the keeper stopped while a handle is open")
	}
	b.Close()
	if gateFor(path).keeper.Load() != nil {
		t.Fatal("the keeper still runs after the last handle closed")
	}
}

// A background checkpoint that starts failing is reported once, not at
// every attempt.
func TestWALKeeperReportsFailureOnce(t *testing.T) {
	cycles := make(chan error, 64)
	testHookCheckpointed = func(err error) { cycles <- err }
	t.Cleanup(func() { testHookCheckpointed = nil })
	reports := make(chan error, 64)
	ReportCheckpoints(func(_ string, err error) { reports <- err })
	t.Cleanup(func() { ReportCheckpoints(nil) })

	path := filepath.Join(t.TempDir(), "r.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Closing the keeper's connection makes every checkpoint fail.
	gateFor(path).keeper.Load().conn.Close()

	failed := 0
	for failed < 3 {
		writeBlobs(t, db, 1)
		select {
		case err := <-cycles:
			if err != nil {
				failed++
			}
		case <-time.After(keeperWait):
			t.Fatal("no background checkpoint after a commit")
		}
	}
	if n := len(reports); n != 1 {
		t.Fatalf("%d reports after %d failed checkpoints, want 1", n, failed)
	}
	if err := <-reports; err == nil {
		t.Error("report of a failing checkpoint has no error")
	}
}

// After a failed SyncCommits the keeper copies nothing more: the log may
// hold stale bytes where the kernel dropped pages it could not write, and
// only SQLite's recovery at the next start checks the frames' checksums.
func TestWALKeeperStopsAfterFailedSync(t *testing.T) {
	cycles := failSyncs(t)

	path := filepath.Join(t.TempDir(), "f.db")
	_, deferred := openDeferred(t, path)
	writeBlobs(t, deferred, 1)
	mustFailSync(t, deferred)
	if err := waitForFailedCheckpoint(t, cycles, deferred); !strings.Contains(err.Error(), "fsync") {
		t.Errorf("checkpoint after a failed sync = %v, want an error naming the failed fsync", err)
	}

	for range 3 {
		writeBlobs(t, deferred, 1)
		select {
		case err := <-cycles:
			if err == nil {
				t.Fatal("a later checkpoint succeeded after a failed sync, want an error")
			}
		case <-time.After(keeperWait):
			t.Fatal("no background checkpoint attempt after a commit")
		}
	}
}

// After a failed SyncCommits, closing the file's last handle leaves the
// log unapplied: SQLite would otherwise checkpoint it as the last
// connection closes, stale bytes and all. Stale bytes are simulated by
// overwriting part of the log's last frame.
func TestCloseLeavesLogAfterFailedSync(t *testing.T) {
	cycles := failSyncs(t)

	path := filepath.Join(t.TempDir(), "c.db")
	full, deferred := openToClose(t, path)
	writeBlobs(t, deferred, 1)
	mustFailSync(t, deferred)
	if err := full.SyncFailure(); err == nil {
		t.Error("SyncFailure after a failed sync = nil, want the error")
	}
	waitForFailedCheckpoint(t, cycles, deferred)
	writeBlobs(t, deferred, 4)

	stale := overwriteLastFrame(t, path)

	deferred.Close()
	if err := full.Close(); err == nil || !strings.Contains(err.Error(), "unapplied") {
		t.Errorf("Close after a failed sync = %v, want an error saying the log is left unapplied", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("the write-ahead log is gone after Close: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, stale) {
		t.Error("the database file holds the log's stale bytes after Close")
	}
}

// failSyncs makes every SyncCommits of the test fail, as after a failed
// write-back, by handing the log a closed descriptor. It returns the
// outcomes of the background checkpoints.
func failSyncs(t *testing.T) <-chan error {
	t.Helper()
	cycles := checkpointOutcomes(t)
	openLog = func(name string) (*os.File, error) {
		f, err := os.Open(name)
		if err == nil {
			f.Close()
		}
		return f, err
	}
	t.Cleanup(func() { openLog = os.Open })
	return cycles
}

// checkpointOutcomes returns the outcomes of the background checkpoints
// run during the test. A test may read fewer outcomes than the keeper
// produces on a slow machine. A blocking send would then stall the keeper
// and db.Close, so outcomes past the buffer are dropped.
func checkpointOutcomes(t *testing.T) <-chan error {
	t.Helper()
	cycles := make(chan error, 64)
	testHookCheckpointed = func(err error) {
		select {
		case cycles <- err:
		default:
		}
	}
	t.Cleanup(func() { testHookCheckpointed = nil })
	return cycles
}

// waitForFailedCheckpoint writes through db until a background checkpoint
// fails, and returns its error. A checkpoint that began before a failed
// sync may still succeed, so the first outcomes may be nil.
func waitForFailedCheckpoint(t *testing.T, cycles <-chan error, db *DB) error {
	t.Helper()
	deadline := time.After(keeperWait)
	for {
		writeBlobs(t, db, 1)
		select {
		case err := <-cycles:
			if err != nil {
				return err
			}
		case <-deadline:
			t.Fatal("the keeper still checkpoints after a failed sync")
		}
	}
}

// With the sync failing before the keeper's first checkpoint, Close still
// leaves the log unapplied: the keeper holds its connection from the
// start, so no other connection's close is the last one.
func TestCloseLeavesLogWhenSyncFailsFirst(t *testing.T) {
	failSyncs(t)
	path := filepath.Join(t.TempDir(), "k.db")
	full, deferred := openToClose(t, path)
	mustFailSync(t, deferred)
	writeBlobs(t, deferred, 5)
	stale := overwriteLastFrame(t, path)

	deferred.Close()
	full.Close()
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("the write-ahead log is gone after Close: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, stale) {
		t.Error("the database file holds the log's stale bytes after Close")
	}
}

// overwriteLastFrame puts stale bytes in the middle of the page of the
// last frame of path's write-ahead log, as a lost write-back could leave,
// and returns them.
func overwriteLastFrame(t *testing.T, path string) []byte {
	t.Helper()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	stale := bytes.Repeat([]byte("Z"), 2048)
	lastPage := 32 + (st.Size()-32)/(24+sqlitePageSize)*(24+sqlitePageSize) - sqlitePageSize
	f, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(stale, lastPage+1024); err != nil {
		t.Fatal(err)
	}
	return stale
}

// openToClose opens the SQLite file at path and a DeferCommitSync handle
// on it, for a test that closes both itself.
func openToClose(t *testing.T, path string) (full, deferred *DB) {
	t.Helper()
	ctx := context.Background()
	full, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	deferred, err = full.DeferCommitSync(ctx)
	if err != nil {
		full.Close()
		t.Fatal(err)
	}
	return full, deferred
}

// mustFailSync calls SyncCommits on db, which failSyncs makes fail, and
// stops the test if it succeeds.
func mustFailSync(t *testing.T, db *DB) {
	t.Helper()
	if err := db.SyncCommits(); err == nil {
		t.Fatal("SyncCommits on a closed descriptor = nil, want an error")
	}
}

// Below walRestartBytes of frames, a background checkpoint copies the
// log without taking the gate, so no writer of the file waits for its
// fsyncs. Past it, the checkpoint takes the gate so that the log restarts.
func TestWALKeeperGatesOnlyLargeLogs(t *testing.T) {
	cycles := checkpointOutcomes(t)
	path := filepath.Join(t.TempDir(), "k.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k := gateFor(db.file).keeper.Load()
	if k == nil {
		t.Fatal("no keeper for an open file")
	}

	writeBlobs(t, db, 8)
	if err := waitForCheckpoint(t, cycles); err != nil {
		t.Fatalf("background checkpoint: %v", err)
	}
	if n := k.gated.Load(); n != 0 {
		t.Errorf("%d checkpoints of a log under %d bytes took the gate, want 0", n, walRestartBytes.Load())
	}

	restore := walRestartBytes.Load()
	walRestartBytes.Store(1)
	t.Cleanup(func() { walRestartBytes.Store(restore) })
	// Outcomes of checkpoints that read the old limit may still be
	// queued, so write and wait until one reads the new one.
	for range 32 {
		writeBlobs(t, db, 1)
		if err := waitForCheckpoint(t, cycles); err != nil {
			t.Fatalf("background checkpoint: %v", err)
		}
		if k.gated.Load() > 0 {
			return
		}
	}
	t.Error("no checkpoint took the gate once the log was past walRestartBytes")
}

// waitForCheckpoint returns the outcome of the next background checkpoint.
func waitForCheckpoint(t *testing.T, cycles <-chan error) error {
	t.Helper()
	select {
	case err := <-cycles:
		return err
	case <-time.After(keeperWait):
		t.Fatal("no background checkpoint after a write")
		return nil
	}
}
