package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// heldSyncs replaces the fsync of SyncCommits with one that reports each
// call on entered and then waits for a value on release, which it
// returns. It counts the calls.
type heldSyncs struct {
	entered chan int
	release chan error
	calls   atomic.Int32
}

func holdSyncs(t *testing.T) *heldSyncs {
	t.Helper()
	h := &heldSyncs{entered: make(chan int), release: make(chan error)}
	f := func(*os.File) error {
		n := int(h.calls.Add(1))
		h.entered <- n
		return <-h.release
	}
	syncLog.Store(&f)
	t.Cleanup(func() { syncLog.Store(nil) })
	return h
}

// openSyncGroup opens a file with two deferred-sync handles, as the
// exchange record and the patient links hold on one file.
func openSyncGroup(t *testing.T) (*DB, *DB) {
	t.Helper()
	full, first := openDeferred(t, filepath.Join(t.TempDir(), "g.db"))
	second, err := full.DeferCommitSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	return first, second
}

// waitForSyncCallers returns once n callers are inside SyncCommits on
// db's file.
func waitForSyncCallers(db *DB, n int) {
	g := gateFor(db.file).syncs
	for {
		g.mu.Lock()
		waiting := g.waiting
		g.mu.Unlock()
		if waiting >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// startFollowers starts n SyncCommits calls, alternating between the two
// handles, while the leader's fsync is held, and waits until all of them
// are inside SyncCommits.
func startFollowers(first, second *DB, n int) <-chan error {
	results := make(chan error, n)
	for i := range n {
		db := first
		if i%2 == 1 {
			db = second
		}
		go func() { results <- db.SyncCommits() }()
	}
	waitForSyncCallers(first, n+1)
	return results
}

// awaitLeaderSync returns once the first caller's fsync has started. It
// fails the test when that caller returns without one.
func awaitLeaderSync(t *testing.T, h *heldSyncs, leader <-chan error) {
	t.Helper()
	select {
	case <-h.entered:
	case err := <-leader:
		t.Fatalf("leader: SyncCommits returned %v without an fsync", err)
	}
}

// awaitFollowerSync returns once a second fsync has started. It fails the
// test when a caller that waited returns first.
func awaitFollowerSync(t *testing.T, h *heldSyncs, results <-chan error) {
	t.Helper()
	select {
	case <-h.entered:
	case err := <-results:
		t.Fatalf("a caller that arrived during the first fsync returned (%v) before a second fsync started", err)
	}
}

// holdFollowerSync starts a leader SyncCommits, starts followers callers
// on both handles while the leader's fsync is held, and lets that fsync
// succeed. It returns once the followers' fsync has started and is held,
// with the channel of the followers' results and the two handles.
func holdFollowerSync(t *testing.T, followers int) (h *heldSyncs, results <-chan error, first, second *DB) {
	t.Helper()
	first, second = openSyncGroup(t)
	h = holdSyncs(t)

	leader := make(chan error, 1)
	go func() { leader <- first.SyncCommits() }()
	awaitLeaderSync(t, h, leader)
	results = startFollowers(first, second, followers)

	h.release <- nil
	if err := <-leader; err != nil {
		t.Fatalf("leader: SyncCommits = %v, want nil", err)
	}
	awaitFollowerSync(t, h, results)
	return h, results, first, second
}

// Callers that arrive while an fsync runs may have committed after it
// started, so they must wait for the next one, and that one fsync serves
// all of them, whichever handle they call on.
func TestSyncCommitsGroupsWaiters(t *testing.T) {
	const followers = 6
	h, results, _, _ := holdFollowerSync(t, followers)

	h.release <- nil
	for range followers {
		if err := <-results; err != nil {
			t.Fatalf("follower: SyncCommits = %v, want nil", err)
		}
	}
	if got := h.calls.Load(); got != 2 {
		t.Errorf("fsync calls = %d, want 2 for 1 leader and %d callers that waited", got, followers)
	}
}

// A failed fsync fails every caller it served, and every later one, even
// when the disk would accept the next fsync.
func TestSyncCommitsGroupFailureFailsWaiters(t *testing.T) {
	const followers = 6
	h, results, first, second := holdFollowerSync(t, followers)

	diskErr := errors.New("simulated write-back error")
	h.release <- diskErr
	for i := range followers {
		if err := <-results; !errors.Is(err, diskErr) {
			t.Errorf("follower %d: SyncCommits = %v, want the failed fsync's error", i, err)
		}
	}

	syncLog.Store(nil)
	for _, db := range []*DB{first, second} {
		if err := db.SyncCommits(); !errors.Is(err, diskErr) {
			t.Errorf("SyncCommits after the failure = %v, want the failed fsync's error", err)
		}
	}
}
