package storage

import "sync"

// Several components of one process commit to the same SQLite file on
// deferred-sync handles and then call SyncCommits before they return:
// the exchange record's writer for each batch, and the patient links for
// each accepted exchange. An fsync flushes every page of the write-ahead
// log written before it starts, whichever handle or connection wrote it.
// So one fsync can serve every caller that committed before it started,
// and callers that arrive while one runs need only the next one.
//
// syncGroup runs those fsyncs for one file, one at a time (group commit).
// A caller that finds no fsync running starts one. A caller that finds
// one running waits for it to end, then for one started after its own
// call, which the first of the waiters to wake starts on behalf of all of
// them. Under load a file therefore sees at most two fsyncs per interval
// that one fsync takes, however many callers there are.
type syncGroup struct {
	mu   sync.Mutex
	cond *sync.Cond // on mu, signalled when an fsync ends
	// running is set while an fsync of the group runs.
	running bool
	// started counts the fsyncs started, finished those that ended. An
	// fsync numbered n flushes everything committed before started
	// became n.
	started, finished uint64
	// waiting counts callers inside sync, for tests.
	waiting int
}

// sync makes every commit on the file made before the call durable,
// calling fsync for the leader of each group. It returns nil only when an
// fsync started after the call succeeded and failed() reports no earlier
// failure of the file. After a failure it returns that failure to every
// caller: Linux reports a failed write-back once, so no later fsync
// vouches for the pages it concerned.
func (g *syncGroup) sync(fsync func() error, failed func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting++
	defer func() { g.waiting-- }()

	// The fsync running now may have started before this caller's commit,
	// so only the next one counts.
	need := g.started + 1
	for g.finished < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		fsync()
		g.mu.Lock()
		g.running = false
		g.finished = n
		g.cond.Broadcast()
	}
	// fsync records its own failure where failed() reads it, so a failed
	// fsync fails every caller it served and every later one.
	return failed()
}

func newSyncGroup() *syncGroup {
	g := &syncGroup{}
	g.cond = sync.NewCond(&g.mu)
	return g
}
