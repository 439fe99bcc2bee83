package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SQLite's own checkpoints run inside the commit that grows the
// write-ahead log past 1,000 pages. That commit copies the log's pages
// into the database file and fsyncs both before it returns, and in this
// process it does so while holding the file's writeGate. Every other
// writer of the file waits for it: a stall of several milliseconds at
// every checkpoint, and a large part of the gateway's tail latency.
//
// So the handles of this process turn SQLite's automatic checkpoints off
// (wal_autocheckpoint 0), and one walKeeper per file checkpoints in the
// background instead, in two steps:
//
//  1. without the gate: a PASSIVE checkpoint copies the frames committed
//     so far, while writers go on appending;
//  2. under the gate: a second PASSIVE checkpoint copies the few frames
//     appended during step 1. With no writer between BEGIN and COMMIT,
//     and no reader on an older snapshot, it completes, and the next
//     writer starts the log again from its beginning, so the log file
//     stops growing.
//
// Step 2 holds the gate for a fraction of what an automatic checkpoint
// did, though it still fsyncs when it copies. Both steps fsync the log
// before they copy and the database file after, as SQLite's own
// checkpoints do. Every other writer of the file waits while step 2
// holds the gate, so step 2 runs only once the log has grown past
// walRestartBytes, and on close. No checkpoint is needed for durability,
// because a commit is durable once the log is fsync'd (SyncCommits or a
// full-sync handle).

// walKeeperInterval is the shortest time between two background
// checkpoints of one file. Smaller checkpoints stall commits less,
// probably because the log's fsyncs wait for the database pages that a
// checkpoint has just written (not confirmed). With bench/compare's
// gateway at about 360 exchanges/s, the p99 latency was 43 to 69 ms with
// one second, 14 to 17 ms with 100 ms, and 13 to 16 ms with 20 ms. The
// p90 fell from about 8 ms to 5 ms with 20 ms.
const walKeeperInterval = 20 * time.Millisecond

// walRestartBytes is the size of the write-ahead log's frames past which
// a background checkpoint takes the gate (step 2), so that the next
// writer starts the log again. It is about the size at which SQLite's
// automatic checkpoints run by default (1,000 pages of 4 KiB). Below it,
// step 1 alone copies the frames. Tests lower it, so it is atomic.
var walRestartBytes atomic.Int64

func init() { walRestartBytes.Store(4 << 20) }

// testHookCheckpointed, when set by a test, is called after each
// background checkpoint.
var testHookCheckpointed func(error)

// openLog opens a write-ahead log for SyncCommits. Tests replace it.
var openLog = os.Open

// syncLog fsyncs a write-ahead log for SyncCommits.
var syncLog atomic.Pointer[func(*os.File) error]

// FailLogSyncsForTest makes every later fsync of a write-ahead log by
// SyncCommits fail, as a disk error would, until restore is called. It is
// for the tests of packages built on this one, which cannot make a real
// disk fail.
func FailLogSyncsForTest() (restore func()) {
	if !testing.Testing() {
		panic("storage: FailLogSyncsForTest called outside a test binary")
	}
	fail := func(*os.File) error { return errors.New("storage: fsync failed (simulated by a test)") }
	syncLog.Store(&fail)
	return func() { syncLog.Store(nil) }
}

// walKeeper checkpoints one SQLite file in the background after writes.
type walKeeper struct {
	db *sql.DB // a pool of its own, so a checkpoint waits for no other pool
	// conn is db's one connection, held from the start for every
	// checkpoint (see holdConnection).
	conn *sql.Conn
	file string // the SQLite file, for reports
	gate *writeGate
	// wrote receives a value after a write transaction commits. It holds
	// one, so a burst of commits costs one checkpoint.
	wrote chan struct{}
	stop  chan struct{}
	done  chan struct{}
	// refs counts the open handles on the file; the last to close stops
	// the keeper. Guarded by keepers.
	refs int
	// pageSize is the file's page size in bytes, which is the size of
	// one frame's page in the log.
	pageSize int64
	// gated counts the checkpoints that took the gate (step 2), for tests.
	gated atomic.Int64
}

// keepers maps the path of each SQLite file, symbolic links resolved, to
// its walKeeper.
var keepers = struct {
	sync.Mutex
	m map[string]*walKeeper
}{m: make(map[string]*walKeeper)}

// keepWAL returns the running walKeeper of the file at abs, starting one
// for the first handle. Each call must be paired with releaseWAL.
func keepWAL(abs string, gate *writeGate, connector func() (*sql.DB, error)) (*walKeeper, error) {
	keepers.Lock()
	defer keepers.Unlock()
	if k := keepers.m[abs]; k != nil {
		k.refs++
		return k, nil
	}
	db, err := connector()
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	conn, err := holdConnection(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	var pageSize int64
	if err := conn.QueryRowContext(context.Background(), "PRAGMA page_size").Scan(&pageSize); err != nil {
		conn.Close()
		db.Close()
		return nil, err
	}
	k := &walKeeper{
		db:       db,
		conn:     conn,
		file:     abs,
		gate:     gate,
		wrote:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		refs:     1,
		pageSize: pageSize,
	}
	gate.keeper.Store(k)
	keepers.m[abs] = k
	go k.run()
	return k, nil
}

// holdConnection opens the keeper's connection and reads the file once
// through it. In WAL mode a connection that has read keeps a shared lock
// on the file while it is open, so no other connection's close counts as
// the last and checkpoints the log (see releaseWAL).
func holdConnection(db *sql.DB) (*sql.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeGateTimeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// releaseWAL drops one handle's hold on the keeper of abs. The last one
// stops the keeper, after a final checkpoint of what remains in the log.
//
// After a failed SyncCommits on the file there is no final checkpoint, and
// the keeper's connection stays open until the process exits. SQLite
// checkpoints the log when the last connection to the file closes, so
// this keeps the process from copying a log that may hold stale bytes. The
// next process to open the file then rebuilds its view of the log, which
// checks every frame's checksum and stops at the first bad one.
func releaseWAL(abs string) error {
	keepers.Lock()
	k := keepers.m[abs]
	if k == nil {
		keepers.Unlock()
		return nil
	}
	k.refs--
	if k.refs > 0 {
		keepers.Unlock()
		return nil
	}
	delete(keepers.m, abs)
	k.gate.keeper.Store(nil)
	keepers.Unlock()

	close(k.stop)
	<-k.done
	if failed := k.gate.syncFailed.Load(); failed != nil {
		return fmt.Errorf("storage: %s left with its write-ahead log unapplied, because a write or fsync of the file failed: %w", abs, *failed)
	}
	err := k.checkpoint(true)
	k.conn.Close()
	if cerr := k.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: checkpoint of %s: %w", abs, err)
	}
	return nil
}

// notify signals the keeper that a write transaction ended, without
// blocking.
func (k *walKeeper) notify() {
	select {
	case k.wrote <- struct{}{}:
	default:
	}
}

// CheckpointReport receives the outcome of background checkpoints that
// differs from the previous one: the error of the first one that fails,
// and nil for the first one that succeeds after failures. file is the
// SQLite file. While checkpoints fail, the write-ahead log grows.
type CheckpointReport func(file string, err error)

// checkpointReport is the process's CheckpointReport; nil drops reports.
var checkpointReport atomic.Pointer[CheckpointReport]

// ReportCheckpoints sets the function that hears when background
// checkpoints start or stop failing, for every SQLite file of the
// process. A nil f drops reports.
func ReportCheckpoints(f CheckpointReport) {
	if f == nil {
		checkpointReport.Store(nil)
		return
	}
	checkpointReport.Store(&f)
}

// run checkpoints after writes, at most once per walKeeperInterval, until
// stop is closed. A checkpoint that fails is tried again after the next
// write. Only a change between failing and succeeding goes to the
// CheckpointReport. The final checkpoint, run by releaseWAL, returns its
// error to Close instead.
func (k *walKeeper) run() {
	defer close(k.done)
	pause := time.NewTimer(0)
	defer pause.Stop()
	failing := false
	for {
		select {
		case <-k.stop:
			return
		case <-pause.C:
		}
		select {
		case <-k.stop:
			return
		case <-k.wrote:
		}
		err := k.checkpoint(false)
		if testHookCheckpointed != nil {
			testHookCheckpointed(err)
		}
		if (err != nil) != failing {
			failing = err != nil
			if f := checkpointReport.Load(); f != nil {
				(*f)(k.file, err)
			}
		}
		pause.Reset(walKeeperInterval)
	}
}

// checkpoint runs the two steps described above. Step 2 runs when restart
// is set or the log has reached walRestartBytes of frames. It runs even
// when step 1 copied every frame, because a writer may have been between its
// BEGIN and its COMMIT then, and its frames would keep the log from
// restarting.
//
// After a failed SyncCommits on the file it copies nothing. The kernel may
// have dropped log pages it could not write, so the log file may now
// hold stale bytes where committed frames were. A checkpoint reads frames
// without checking their checksums, so it would copy those bytes into the
// database file. SQLite's recovery at the next start does check them, and
// stops at the first stale frame.
func (k *walKeeper) checkpoint(restart bool) error {
	if failed := k.gate.syncFailed.Load(); failed != nil {
		return fmt.Errorf("not copying the write-ahead log, because a write or fsync of the file failed (%w); restart once the disk is healthy", *failed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeGateTimeout)
	defer cancel()
	frames, err := k.passive(ctx)
	if err != nil || frames == 0 {
		return err
	}
	if !restart && frames*k.pageSize < walRestartBytes.Load() {
		return nil
	}
	if err := k.gate.acquire(ctx); err != nil {
		return err
	}
	defer k.gate.unlock()
	k.gated.Add(1)
	_, err = k.passive(ctx)
	return err
}

// passive runs one PASSIVE checkpoint and returns the number of frames in
// the log. The gated connection notes an I/O error, which stops later
// checkpoints.
func (k *walKeeper) passive(ctx context.Context) (int64, error) {
	var busy, frames, copied int64
	err := k.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	return frames, err
}

// SyncFailure returns the first failure to write or sync db's file in this
// process: a failed SyncCommits, or an SQLite write I/O error of a commit
// or checkpoint. It returns nil when there is none. After one, nothing may copy the file's
// write-ahead log into the database file (see walKeeper.checkpoint); on
// PostgreSQL it is always nil.
func (db *DB) SyncFailure() error {
	if db.Dialect != SQLite {
		return nil
	}
	if failed := gateFor(db.file).syncFailed.Load(); failed != nil {
		return *failed
	}
	return nil
}

// SyncCommits makes every transaction committed on db's file so far
// durable, whichever handle committed it. On a handle from
// DeferCommitSync, it fsyncs the write-ahead log, which a commit there
// only writes. The fsync flushes every page of the file written before it.
// Concurrent calls on the handles of one file share fsyncs: a call waits
// for the first fsync that starts after it (see syncGroup). On other
// handles commits are durable when they return, and SyncCommits does
// nothing.
//
// A component commits on a deferred handle and calls SyncCommits after,
// instead of committing on a full-sync handle, so that other writers of
// the file can take the write lock during its fsync. An error means the commits may be lost in a
// power failure, and a later SyncCommits cannot vouch for them: Linux
// reports a failed write-back once per open file.
func (db *DB) SyncCommits() error {
	if db.log == nil {
		return nil
	}
	if err := db.log.sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", db.Target, err)
	}
	return nil
}

// walLog is the write-ahead log of one deferred-sync handle, kept open, so
// that its fsyncs report every write-back error since the first sync. A
// descriptor opened after a failed write-back may not see the failure if
// another descriptor saw it first.
type walLog struct {
	path string     // the log beside the database file, symbolic links resolved
	gate *writeGate // the file's gate, which records a failed sync
	mu   sync.Mutex
	f    *os.File
}

// sync makes every commit on the file before the call durable, with an
// fsync of the log that it shares with the other callers on the file
// (syncGroup). A failure stops the file's background checkpoints for good.
// After an earlier failure, or an SQLite I/O error on the file, it fails
// without syncing: a sync that succeeds then proves nothing about the
// pages the failure concerned.
func (w *walLog) sync() error {
	if err := w.gate.failure(); err != nil {
		return fmt.Errorf("an earlier write or sync of the file failed (%w)", err)
	}
	return w.gate.syncs.sync(w.fsync, w.gate.failure)
}

// fsync fsyncs the log, opening it again if SQLite replaced the file, and
// records a failure on the file's gate.
func (w *walLog) fsync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if failed := w.gate.syncFailed.Load(); failed != nil {
		return fmt.Errorf("an earlier write or sync of the file failed (%w)", *failed)
	}
	err := w.open()
	if err == nil {
		if fail := syncLog.Load(); fail != nil {
			err = (*fail)(w.f)
		} else {
			err = w.f.Sync()
		}
	}
	if err != nil {
		w.gate.syncFailed.CompareAndSwap(nil, &err)
	}
	return err
}

// open makes w.f the current log file. The log exists while any
// connection to the database is open, and the file's walKeeper keeps one
// open, so a missing log is an error. A log this handle opens for the
// first time may be new to its directory, so the directory is synced
// too, as SQLite does for a log it creates.
func (w *walLog) open() error {
	st, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	if w.f != nil {
		cur, err := w.f.Stat()
		if err == nil && os.SameFile(st, cur) {
			return nil
		}
		w.f.Close()
		w.f = nil
	}
	f, err := openLog(w.path)
	if err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(w.path)); err != nil {
		f.Close()
		return err
	}
	w.f = f
	return nil
}

// close releases the log's descriptor.
func (w *walLog) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
