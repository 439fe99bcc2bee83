package auditlog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// pending is one Append waiting for its batch to commit.
type pending struct {
	entry   record.Entry // caller's entry, copied; bodies are read, not changed
	reqSum  [32]byte     // SHA-256 of the request plaintext
	respSum [32]byte
	// secret holds the data key, then the nonces of the request body, the
	// response body, the wrapped key and the query string, drawn on the
	// caller's goroutine.
	secret [dataKeySize + 4*nonceSize]byte
	done   chan appendResult
	// unsynced makes the writer report the entry once its batch commits,
	// without waiting for the sync (AppendCommitted).
	unsynced bool
}

func (p *pending) dataKey() []byte { return p.secret[:dataKeySize] }

func (p *pending) nonce(i int) []byte {
	at := dataKeySize + i*nonceSize
	return p.secret[at : at+nonceSize]
}

type appendResult struct {
	appended Appended
	recorded time.Time
	err      error
}

// writerState is the tree state, read and changed only by the writer
// goroutine (and by Open before it starts). Each batch transaction reads
// it again from the database under the append lock, since other writers
// may have appended.
type writerState struct {
	tree    frontier
	loaded  bool  // tree was read from the database at least once
	cpSize  int64 // size of the latest checkpoint
	signed  int64 // size of the latest checkpoint this writer signed
	cpAt    time.Time
	stale   bool // set by a failed commit, so the next one reloads the tree
	kek     *kek // key-encryption key in use, or nil before the first batch
	kekUses int64
}

// AppendEntry queues e for the writer and waits for its batch to commit.
// On success it sets e.Seq and e.RecordedAt. The error wraps
// record.ErrUnavailable when the queue is full, the log is closed, the
// commit fails or ctx ends first. In the last case the entry may still be
// committed.
func (l *Log) AppendEntry(ctx context.Context, e *record.Entry) (Appended, error) {
	return l.appendEntry(ctx, e, false)
}

// AppendCommitted is AppendEntry without the wait for the disk: it
// returns once e is committed and visible to readers, before the
// write-ahead log is synced. The next sync makes e durable with the
// entries that wait for it; entries appended this way are never synced on
// their own. A failed sync fails every later append, so a later
// AppendEntry that succeeds vouches for e.
//
// It suits an entry whose consequences are themselves writes to the same
// SQLite file, made after it returns: SQLite recovers an unbroken prefix
// of its write-ahead log, so a crash that loses e loses them too. On
// PostgreSQL every commit is durable when it returns, and AppendCommitted
// is AppendEntry.
func (l *Log) AppendCommitted(ctx context.Context, e *record.Entry) (Appended, error) {
	return l.appendEntry(ctx, e, true)
}

func (l *Log) appendEntry(ctx context.Context, e *record.Entry, unsynced bool) (Appended, error) {
	if err := checkFields(e); err != nil {
		return Appended{}, err
	}
	p := &pending{entry: *e, done: make(chan appendResult, 1), unsynced: unsynced}
	p.entry.Seq = 0
	p.reqSum, p.respSum = digest(e.RequestBody), digest(e.ResponseBody)
	if e.RequestSeq > 0 && len(e.RequestBody) > 0 {
		if err := l.checkRequestEntry(ctx, e, p.reqSum); err != nil {
			return Appended{}, err
		}
	}
	if _, err := rand.Read(p.secret[:]); err != nil {
		return Appended{}, fmt.Errorf("auditlog: append: %w (%w)", record.ErrUnavailable, err)
	}
	if err := l.enqueue(p); err != nil {
		return Appended{}, err
	}

	select {
	case r := <-p.done:
		if r.err != nil {
			return Appended{}, r.err
		}
		e.Seq, e.RecordedAt = r.appended.Seq, r.recorded
		if e.Phase == record.PhaseRequest {
			l.requests.add(r.appended.Index, e.ExchangeID, Body{Size: int64(len(e.RequestBody)), SHA256: p.reqSum})
		}
		return r.appended, nil
	case <-ctx.Done():
		return Appended{}, fmt.Errorf("auditlog: append: %w (%w)", record.ErrUnavailable, ctx.Err())
	}
}

func (l *Log) enqueue(p *pending) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return fmt.Errorf("auditlog: append: %w (log closed)", record.ErrUnavailable)
	}
	select {
	case l.queue <- p:
		return nil
	default:
		return fmt.Errorf("auditlog: append: %w (queue of %d entries full)", record.ErrUnavailable, cap(l.queue))
	}
}

// checkFields rejects entries EncodeEntry would refuse, before any work.
func checkFields(e *record.Entry) error {
	for _, s := range entryStrings(e) {
		if len(*s) > MaxFieldBytes {
			return fmt.Errorf("auditlog: entry field of %d bytes exceeds %d", len(*s), MaxFieldBytes)
		}
	}
	if _, query, _ := strings.Cut(e.Target, "?"); len(query)+nonceSize+16 > MaxFieldBytes {
		return fmt.Errorf("auditlog: query string of %d bytes exceeds %d", len(query), MaxFieldBytes-nonceSize-16)
	}
	if e.Status < 0 || e.Status > 1<<31 || e.UpstreamState < 0 || e.UpstreamState > 1<<31 {
		return fmt.Errorf("auditlog: entry status %d or upstream status %d out of range", e.Status, e.UpstreamState)
	}
	if e.RequestSeq > 0 && e.Phase != record.PhaseResponse && e.Phase != record.PhaseRefusal {
		return errors.New("auditlog: only a response or refusal entry may keep its request body in the request entry")
	}
	return nil
}

// run is the writer goroutine: it commits queued entries in batches and
// signs time-based checkpoints, until the queue is closed and drained. A
// second goroutine, syncLoop, makes the commits durable and reports them,
// so that the writer commits the next batch while the disk syncs the
// last one.
func (l *Log) run() {
	synced := make(chan struct{})
	go l.syncLoop(synced)
	defer func() {
		close(l.toSync)
		<-synced
		close(l.done)
	}()
	ticker := time.NewTicker(l.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		select {
		case p, ok := <-l.queue:
			if !ok {
				l.checkpointIfBehind(true)
				return
			}
			// The send that woke the writer made it the next goroutine to
			// run. Yielding first lets exchanges that are ready to run reach
			// their append and share this commit, which matters most with
			// few processors. It waits for no timer, only for ready work.
			runtime.Gosched()
			l.commit(l.collect([]*pending{p}))
		case <-ticker.C:
			l.checkpointIfBehind(false)
		}
	}
}

// collect adds queued entries to batch, up to MaxBatch, without waiting.
func (l *Log) collect(batch []*pending) []*pending {
	return appendReady(batch, l.queue, l.opts.MaxBatch)
}

// appendReady appends to batch the values ready on ch, until batch has
// limit values or ch is empty or closed. Its receives do not block.
func appendReady[T any](batch []T, ch <-chan T, limit int) []T {
	for len(batch) < limit {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// commit writes batch, and the entries queued while it waited for the
// append lock, in one transaction, and reports to every caller: to those
// of AppendCommitted at once, to the others after the sync. A commit that
// no caller waits on is left to the next sync. When the commit makes a
// checkpoint due, the writer syncs, reports the batch and stores the
// checkpoint (storeCheckpoint) before it takes the next batch.
func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	results, batch, head, err := l.commitTx(ctx, batch, false)
	if err != nil {
		failBatch(batch, err)
		return
	}
	waiting := 0
	for i, p := range batch {
		if p.unsynced {
			p.done <- results[i]
			continue
		}
		batch[waiting], results[waiting] = p, results[i]
		waiting++
	}
	batch, results = batch[:waiting], results[:waiting]
	if head == nil {
		if waiting > 0 {
			l.toSync <- committed{batch: batch, results: results}
		}
		return
	}
	// storeCheckpoint syncs first, so the batch is durable once it
	// returns, whether or not the checkpoint was stored.
	cp, err := l.storeCheckpoint(ctx, *head)
	if errors.Is(err, errCheckpointSync) {
		failBatch(batch, err)
	} else {
		for i, p := range batch {
			p.done <- results[i]
		}
	}
	if err != nil {
		l.reportPublish("checkpoint", head.Size, err)
		return
	}
	if cp != nil {
		l.toSync <- committed{cp: cp}
	}
}

// failBatch reports err to every caller of batch.
func failBatch(batch []*pending, err error) {
	err = fmt.Errorf("auditlog: commit: %w (%w)", record.ErrUnavailable, err)
	for _, p := range batch {
		p.done <- appendResult{err: err}
	}
}

// committed is a transaction the writer has committed and syncLoop has
// yet to make durable: a batch with its results, a signed checkpoint, or
// both.
type committed struct {
	batch   []*pending
	results []appendResult
	cp      *SignedCheckpoint
}

// syncFailure is the error of a failed sync, kept for every later commit.
type syncFailure struct{ err error }

// syncLoop makes committed transactions durable, several with one sync
// when they queue up, and only then reports them to their callers and
// publishes their checkpoints, in commit order. After a failed sync every
// transaction gets the error, even when syncs succeed again, because no
// later fsync vouches for what the failed one should have written.
func (l *Log) syncLoop(done chan<- struct{}) {
	defer close(done)
	for c := range l.toSync {
		group := appendReady([]committed{c}, l.toSync, syncQueue+1)
		err := l.syncOnce()
		for _, c := range group {
			if err != nil {
				failBatch(c.batch, err)
				if c.cp != nil {
					l.reportPublish("checkpoint", c.cp.Size, err)
				}
				continue
			}
			for i, p := range c.batch {
				p.done <- c.results[i]
			}
			if c.cp != nil {
				l.pub.offer(c.cp)
			}
		}
	}
}

// SyncCommitted makes every entry committed before the call durable,
// those of AppendCommitted included, together with every other commit
// made before it on the log's SQLite file. It shares its fsync with the
// writer's syncs and with other callers on the file. It returns the error
// of the first failed sync, if any, as every later append does. On
// PostgreSQL every commit is already durable, and it does nothing.
func (l *Log) SyncCommitted() error {
	if err := l.syncOnce(); err != nil {
		return fmt.Errorf("auditlog: sync: %w (%w)", record.ErrUnavailable, err)
	}
	return nil
}

// syncOnce syncs the writer's commits, unless an earlier sync failed. The
// writer's syncLoop and callers of SyncCommitted may run it at once.
func (l *Log) syncOnce() error {
	if f := l.syncErr.Load(); f != nil {
		return f.err
	}
	if err := l.syncCommits(); err != nil {
		err = fmt.Errorf("%w; restart Gatehouse once the disk is healthy", err)
		l.syncErr.Store(&syncFailure{err})
		return err
	}
	return nil
}

// checkpointIfBehind signs a checkpoint when this writer's entries have
// waited for one longer than CheckpointInterval, or on close when any
// entry is uncovered.
func (l *Log) checkpointIfBehind(closing bool) {
	w := &l.w
	if !w.stale && w.tree.size == w.cpSize {
		return
	}
	if !closing && l.opts.Now().Sub(w.cpAt) < l.opts.CheckpointInterval {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	// The interval has passed or the log is closing, so the checkpoint
	// must cover whatever the tree holds. The transaction only reads the
	// tree state, which another writer may have changed.
	_, _, head, err := l.commitTx(ctx, nil, true)
	if err == nil && head != nil {
		var cp *SignedCheckpoint
		if cp, err = l.storeCheckpoint(ctx, *head); cp != nil {
			l.toSync <- committed{cp: cp}
		}
	}
	if err != nil {
		l.reportPublish("checkpoint", w.tree.size, err)
	}
}

// commitTx appends batch in one transaction that holds the append lock,
// and returns the tree head a checkpoint must sign when one is due or
// forced. A non-empty batch grows by the entries queued while the writer
// waited for the lock, so one commit and one fsync serve them all. The
// lock may be held by a replica or, on SQLite, by another writer of this
// process such as the payer service. It returns the batch it wrote, with
// one result per entry. On failure it restores the in-memory state and
// marks it stale, because the database may or may not hold the
// transaction. The batch returned with an error lists every caller that
// must get it.
func (l *Log) commitTx(ctx context.Context, batch []*pending, force bool) ([]appendResult, []*pending, *Checkpoint, error) {
	w := &l.w
	saved := *w
	fail := func(err error) ([]appendResult, []*pending, *Checkpoint, error) {
		*w = saved
		w.stale = true
		return nil, batch, nil, err
	}

	if f := l.syncErr.Load(); f != nil {
		return fail(f.err)
	}
	tx, err := l.beginLocked(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if len(batch) > 0 {
		batch = l.collect(batch)
	}
	now := l.opts.Now()
	if err := l.refresh(ctx, l.stmts.In(tx), now); err != nil {
		return fail(err)
	}
	var results []appendResult
	if len(batch) > 0 {
		if results, err = l.writeEntries(ctx, tx, l.stmts, batch, now); err != nil {
			return fail(err)
		}
	}
	var head *Checkpoint
	if l.checkpointDueAt(w.tree.size, now, force) {
		head = &Checkpoint{Origin: l.opts.Origin, Size: w.tree.size, Hash: w.tree.root()}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return results, batch, head, nil
}

// errCheckpointSync marks a storeCheckpoint error from the sync of the
// entries, which their callers must get too.
var errCheckpointSync = errors.New("auditlog: sync before checkpoint")

// storeCheckpoint signs head, a tree head this writer committed, and
// stores it, with the append lock held only for the insert. It first
// syncs the log's commits, so the entries head covers are on disk before
// any reader can see the checkpoint. The checkpoint row itself is synced
// by syncLoop before it is published. A power loss may lose that row
// after a receipt quoted it, but not the entries under it, so the next
// checkpoint of that size signs the same tree and the note comes out
// identical, because Ed25519 signatures are deterministic. It returns nil
// when another writer stored a checkpoint of head's size or larger
// meanwhile.
func (l *Log) storeCheckpoint(ctx context.Context, head Checkpoint) (*SignedCheckpoint, error) {
	if err := l.syncOnce(); err != nil {
		return nil, fmt.Errorf("%w: %w", errCheckpointSync, err)
	}
	msg, err := SignCheckpoint(head, l.opts.Signer)
	if err != nil {
		return nil, err
	}

	w := &l.w
	saved := *w
	fail := func(err error) (*SignedCheckpoint, error) {
		*w = saved
		w.stale = true
		return nil, err
	}
	tx, err := l.beginLocked(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	now := l.opts.Now()
	// refresh fails unless the stored tree extends the tree this writer
	// holds, which is the tree of head or a larger one.
	if err := l.refresh(ctx, l.stmts.In(tx), now); err != nil {
		return fail(err)
	}
	if head.Size <= w.cpSize {
		return nil, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, sqlInsertCheckpoint, head.Size, msg, now.UnixNano()); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	w.cpSize, w.cpAt, w.signed = head.Size, now, head.Size
	return &SignedCheckpoint{Checkpoint: head, Note: msg}, nil
}

// checkpointDueAt reports whether a tree of size, at now, needs a new
// checkpoint.
func (l *Log) checkpointDueAt(size int64, now time.Time, force bool) bool {
	w := &l.w
	return size > w.cpSize && (force || size-w.cpSize >= l.opts.CheckpointEvery || now.Sub(w.cpAt) >= l.opts.CheckpointInterval)
}

// beginLocked begins a writer transaction and takes the append lock in
// it. On a lock failure it rolls the transaction back before it returns.
func (l *Log) beginLocked(ctx context.Context) (*sql.Tx, error) {
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := l.lockAppends(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// lockAppends takes the append lock on PostgreSQL. On SQLite the
// transaction already holds the write lock.
func (l *Log) lockAppends(ctx context.Context, tx *sql.Tx) error {
	if l.db.Dialect != storage.PostgreSQL {
		return nil
	}
	_, err := tx.ExecContext(ctx, sqlLockAppendsPostgres, l.lockKey)
	return err
}

// refresh reads the tree size and the latest checkpoint through q, and
// reloads the tree's edge when another writer appended since this one last
// did, or after a failed commit. Under the append lock, what it reads stays
// true until the transaction ends. The commit happens at now.
func (l *Log) refresh(ctx context.Context, q queryer, now time.Time) error {
	w := &l.w
	var maxIndex, maxHashID, cpSize, cpCreated sql.NullInt64
	if err := q.QueryRowContext(ctx, sqlTreeState).Scan(&maxIndex, &cpSize, &cpCreated, &maxHashID); err != nil {
		return fmt.Errorf("auditlog: read tree state: %w", err)
	}
	size, err := countFromMaxID(maxIndex, "entry index")
	if err != nil {
		return err
	}
	hashes, err := countFromMaxID(maxHashID, "stored hash id")
	if err != nil {
		return err
	}
	// Checkpoints are never deleted, and every writer signs a larger one
	// than the latest, so a latest checkpoint below one this writer signed
	// means checkpoints were deleted. Appending on would sign a tree
	// reloaded from stored hashes that may have been rewritten with them.
	if w.signed > 0 && (!cpSize.Valid || cpSize.Int64 < w.signed) {
		return fmt.Errorf("auditlog: the latest stored checkpoint covers %d entries, below the %d of one this writer signed, so checkpoints were deleted; run 'gatehouse audit verify --from-checkpoint' with a checkpoint kept outside this machine",
			cpSize.Int64, w.signed)
	}
	// The signing time of a checkpoint is not signed. A time set in the
	// future would hold back every time-based checkpoint, leaving entries
	// covered by no signature until that time. So the writer
	// takes the time only from a checkpoint it has not seen (another
	// writer's), and never later than now.
	if cpSize.Valid && (cpSize.Int64 != w.cpSize || !w.loaded) {
		w.cpAt = time.Unix(0, cpCreated.Int64)
		if w.cpAt.After(now) {
			w.cpAt = now
		}
	}
	if cpSize.Valid {
		w.cpSize = cpSize.Int64
	}
	if w.cpSize > size {
		return fmt.Errorf("auditlog: latest checkpoint covers %d entries but the log has %d; run 'gatehouse audit verify'", w.cpSize, size)
	}
	if !w.loaded || w.stale || size != w.tree.size {
		tree, err := l.reloadTree(dbHashReader{ctx: ctx, q: q}, size)
		if err != nil {
			return err
		}
		w.tree, w.loaded, w.stale = tree, true, false
	}
	// Entries and their hashes are inserted in one transaction. A count
	// that disagrees means rows were deleted outside the gateway, and the
	// next insert would collide with a hash left behind.
	if want := tlog.StoredHashCount(size); hashes != want {
		return fmt.Errorf("%w: the database stores %d tree hashes but its %d entries need %d, so entries or hashes were deleted outside the gateway; run 'gatehouse audit verify' and restore the database from a backup",
			errHashCount, hashes, size, want)
	}
	return nil
}

// reloadTree reads the edge of the tree of size leaves. Once the writer
// has a tree, the stored one must extend it: entries are never deleted,
// and another writer only appends. Entries this writer committed after the
// latest checkpoint are covered by no signature yet, so a tail deleted or
// replaced while the gateway runs would otherwise be signed into the next
// checkpoint, and verification would find the log intact.
func (l *Log) reloadTree(r tlog.HashReader, size int64) (frontier, error) {
	w := &l.w
	if !w.loaded {
		tree, err := loadFrontier(r, size)
		if err != nil {
			return tree, fmt.Errorf("auditlog: load tree of size %d: %w", size, err)
		}
		return tree, nil
	}
	if size < w.tree.size {
		l.publishEvidence()
		return frontier{}, fmt.Errorf("auditlog: the log has %d entries, fewer than the %d this writer has seen, so entries were deleted outside the gateway; run 'gatehouse audit verify --from-checkpoint' with a checkpoint kept outside this machine",
			size, w.tree.size)
	}
	tree, err := loadExtension(r, size, w.tree.size, w.tree.root())
	if errors.Is(err, errNotExtending) {
		l.publishEvidence()
		return tree, fmt.Errorf("auditlog: the stored tree of %d entries does not extend the tree of %d entries this writer has seen, so entries were rewritten outside the gateway; run 'gatehouse audit verify --from-checkpoint' with a checkpoint kept outside this machine",
			size, w.tree.size)
	}
	if err != nil {
		return tree, fmt.Errorf("auditlog: load tree of size %d: %w", size, err)
	}
	return tree, nil
}

// publishEvidence signs the tree this writer holds and hands it to the
// sinks, once per size, when the stored log lost or rewrote entries this
// writer committed. The newest of them may be covered by no stored
// checkpoint, so once the database is consistent again the change would
// leave no trace. The checkpoint file then holds a checkpoint the database
// cannot reproduce: the next start refuses the log, and 'audit verify
// --from-checkpoint' with the file reports the loss. The checkpoint is not
// stored, because the database is no longer trusted.
func (l *Log) publishEvidence() {
	w := &l.w
	if l.pub == nil || w.tree.size <= l.evidenceSize {
		return
	}
	c := Checkpoint{Origin: l.opts.Origin, Size: w.tree.size, Hash: w.tree.root()}
	msg, err := SignCheckpoint(c, l.opts.Signer)
	if err != nil {
		return
	}
	l.evidenceSize = c.Size
	l.pub.offer(&SignedCheckpoint{Checkpoint: c, Note: msg, Created: l.opts.Now()})
}

// errHashCount is refresh's error for stored hashes that the entries do
// not account for.
var errHashCount = errors.New("auditlog: stored hashes and entries disagree")

// checkPublished checks that the stored log extends the checkpoint
// it last published outside the database (Options.Published): that the
// stored hashes produce its root at its size and that a stored checkpoint
// covers it. Appends then fail as soon as stored checkpoints fall below
// it, as they do below one this writer signed.
func (l *Log) checkPublished(ctx context.Context, q queryer) error {
	cp, _, err := OpenCheckpoint(l.opts.Published, l.opts.PublishedKey)
	if err != nil {
		cp, err = l.openRetiredPublished(ctx, q, err)
	}
	if err != nil {
		return err
	}
	w := &l.w
	switch {
	case cp.Size > w.tree.size:
		return fmt.Errorf("%w: the log has %d entries, fewer than the %d of the checkpoint published last, so entries were removed", ErrNotExtended, w.tree.size, cp.Size)
	case cp.Size > w.cpSize:
		return fmt.Errorf("%w: the latest stored checkpoint covers %d entries, fewer than the %d of the one published last, so checkpoints were deleted", ErrNotExtended, w.cpSize, cp.Size)
	}
	// The tree the writer appends to must extend the checkpoint, not just
	// hold hashes that reproduce its root: the hashes of a larger tree are
	// other rows, which could have been rewritten on their own.
	tree, err := loadExtension(dbHashReader{ctx: ctx, q: q}, w.tree.size, cp.Size, cp.Hash)
	if err != nil {
		return fmt.Errorf("%w: the stored tree does not reproduce the checkpoint published last, of size %d, so history was rewritten", ErrNotExtended, cp.Size)
	}
	w.tree = tree
	w.signed = max(w.signed, cp.Size)
	return nil
}

// writeEntries assigns indexes, seals the entries and inserts them with
// their stored hashes.
func (l *Log) writeEntries(ctx context.Context, tx *sql.Tx, st *storage.Statements, batch []*pending, now time.Time) ([]appendResult, error) {
	k, err := l.currentKEK(ctx, tx, now, len(batch))
	if err != nil {
		return nil, err
	}
	rows, err := l.sealBatch(batch, l.w.tree.size, now, k)
	defer releaseSealed(rows)
	if err != nil {
		return nil, err
	}

	tree := &l.w.tree
	results := make([]appendResult, len(batch))
	hashArgs := make([]any, 0, 2*hashColumnCount*len(batch))
	for i, row := range rows {
		leafHash := tlog.RecordHash(row.Encoded)
		first := tlog.StoredHashIndex(0, tree.size)
		for k, h := range tree.add(leafHash) {
			hashArgs = append(hashArgs, first+int64(k), h[:])
		}
		results[i] = appendResult{
			appended: Appended{Seq: row.Leaf.Index + 1, Index: row.Leaf.Index, LeafHash: leafHash},
			recorded: now,
		}
	}
	ptx := st.In(tx)
	if err := l.insertEntries(ctx, ptx, rows); err != nil {
		return nil, err
	}
	if err := l.insertRows(ctx, ptx, sqlInsertHashesPrefix, hashColumnCount, hashArgs); err != nil {
		return nil, err
	}
	return results, nil
}

// currentKEK returns the key-encryption key for a batch of n entries at
// now, wrapping and storing a new one when the current one has expired or
// would exceed KEKMaxEntries.
func (l *Log) currentKEK(ctx context.Context, tx *sql.Tx, now time.Time, n int) (*kek, error) {
	w := &l.w
	if w.kek == nil || !now.Before(w.kek.expires) || w.kekUses+int64(n) > l.opts.KEKMaxEntries {
		k, err := newKEK(ctx, tx, l.opts.Recipients, now, l.opts.KEKInterval)
		if err != nil {
			return nil, err
		}
		w.kek, w.kekUses = k, 0
	}
	w.kekUses += int64(n)
	return w.kek, nil
}

// insertEntries inserts rows with multi-row INSERT statements.
func (l *Log) insertEntries(ctx context.Context, tx storage.PreparedTx, rows []*Row) error {
	args := make([]any, 0, len(rows)*entryColumnCount)
	for _, row := range rows {
		e := &row.Leaf.Entry
		args = append(args, row.Leaf.Index, e.ExchangeID, e.Partner, string(e.Phase), string(e.Decision), e.Status,
			unixNano(e.RecordedAt), row.Encoded, row.RequestCiphertext, row.ResponseCiphertext, row.WrappedKey)
	}
	return l.insertRows(ctx, tx, sqlInsertEntriesPrefix, entryColumnCount, args)
}

// insertSizes are the row counts of the multi-row INSERT statements,
// largest first. A few fixed sizes keep PostgreSQL's prepared statement
// cache (pgx prepares each distinct text) small, and the largest keeps a
// statement under SQLite's default limit of 32766 parameters. Every count
// up to 4 has its own size, because one entry adds 1 to 4 tree hashes in
// 15 of every 16 appends, and a commit holds one or a few entries.
var insertSizes = []int{256, 64, 16, 4, 3, 2, 1}

// statementRows returns the row count of the first INSERT statement for
// rows rows: the largest of insertSizes not above rows.
func statementRows(rows int) int {
	for _, size := range insertSizes {
		if size <= rows {
			return size
		}
	}
	return insertSizes[len(insertSizes)-1]
}

// insertRows inserts args, cols values per row, in statements of
// insertSizes rows. The fixed sizes also keep the statement cache small.
func (l *Log) insertRows(ctx context.Context, tx storage.PreparedTx, prefix string, cols int, args []any) error {
	for len(args) > 0 {
		n := statementRows(len(args) / cols)
		if _, err := tx.ExecContext(ctx, insertQuery(l.db.Dialect, prefix, cols, n), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

func (l *Log) reportPublish(sink string, size int64, err error) {
	if l.opts.OnPublishError != nil {
		l.opts.OnPublishError(sink, size, err)
	}
}
