package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// pending is one Append waiting for its batch to commit.
type pending struct {
	entry   record.Entry // caller's entry, copied; bodies are read, not changed
	reqSum  [32]byte     // SHA-256 of the request plaintext
	respSum [32]byte
	key     []byte // data key
	wrapped []byte // data key wrapped to the recipients
	done    chan appendResult
}

type appendResult struct {
	appended Appended
	recorded time.Time
	err      error
}

// writerState is the tree state, read and changed only by the writer
// goroutine (and by Open before it starts).
type writerState struct {
	size     int64
	frontier hashMap // stored hashes of the complete subtrees of size
	cpSize   int64   // size of the latest checkpoint
	cpAt     time.Time
	stale    bool // a commit failed: reload from the database first
}

// AppendEntry wraps a new data key for e, queues e for the writer and waits
// for its batch to commit. On success it sets e.Seq and e.RecordedAt. The
// error wraps record.ErrUnavailable when the queue is full, the log is
// closed, the commit fails or ctx ends first. In the last case the entry
// may still be committed.
func (l *Log) AppendEntry(ctx context.Context, e *record.Entry) (Appended, error) {
	if err := checkFields(e); err != nil {
		return Appended{}, err
	}
	p := &pending{entry: *e, done: make(chan appendResult, 1)}
	p.entry.Seq = 0
	p.reqSum, p.respSum = digest(e.RequestBody), digest(e.ResponseBody)
	var err error
	if p.key, p.wrapped, err = wrapKey(l.opts.Recipients); err != nil {
		return Appended{}, fmt.Errorf("%w: %w", record.ErrUnavailable, err)
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
	if e.Status < 0 || e.Status > 1<<31 || e.UpstreamState < 0 || e.UpstreamState > 1<<31 {
		return fmt.Errorf("auditlog: entry status %d or upstream status %d out of range", e.Status, e.UpstreamState)
	}
	return nil
}

// run is the writer goroutine: it commits queued entries in batches and
// signs time-based checkpoints, until the queue is closed and drained.
func (l *Log) run() {
	defer close(l.done)
	ticker := time.NewTicker(l.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		select {
		case p, ok := <-l.queue:
			if !ok {
				l.checkpointIfBehind(true)
				return
			}
			l.commit(l.collect(p))
		case <-ticker.C:
			l.checkpointIfBehind(false)
		}
	}
}

// collect gathers up to MaxBatch queued entries without waiting.
func (l *Log) collect(first *pending) []*pending {
	batch := []*pending{first}
	for len(batch) < l.opts.MaxBatch {
		select {
		case p, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commit writes batch in one transaction and reports to every caller.
func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	results, cp, err := l.commitTx(ctx, len(batch), func(tx *sql.Tx, now time.Time) ([]appendResult, error) {
		return l.writeEntries(ctx, tx, batch, now)
	})
	if err != nil {
		err = fmt.Errorf("auditlog: commit: %w (%w)", record.ErrUnavailable, err)
		for _, p := range batch {
			p.done <- appendResult{err: err}
		}
		return
	}
	for i, p := range batch {
		p.done <- results[i]
	}
	if cp != nil {
		l.pub.offer(cp)
	}
}

// checkpointIfBehind signs a checkpoint when entries have waited for one
// longer than CheckpointInterval, or on close when any entry is uncovered.
func (l *Log) checkpointIfBehind(closing bool) {
	w := &l.w
	if w.stale || w.size == w.cpSize {
		return
	}
	if !closing && l.opts.Now().Sub(w.cpAt) < l.opts.CheckpointInterval {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	_, cp, err := l.commitTx(ctx, 0, func(*sql.Tx, time.Time) ([]appendResult, error) { return nil, nil })
	if err != nil {
		l.reportPublish("checkpoint", w.size, err)
		return
	}
	if cp != nil {
		l.pub.offer(cp)
	}
}

// commitTx runs write and, when due, a checkpoint in one transaction. On
// failure it restores the in-memory tree and marks it for reloading, since
// the database may or may not hold the transaction.
func (l *Log) commitTx(ctx context.Context, added int, write func(*sql.Tx, time.Time) ([]appendResult, error)) ([]appendResult, *SignedCheckpoint, error) {
	w := &l.w
	if w.stale {
		if err := l.loadState(ctx); err != nil {
			return nil, nil, err
		}
	}
	saved := *w
	saved.frontier = w.frontier.clone()
	fail := func(err error) ([]appendResult, *SignedCheckpoint, error) {
		*w = saved
		w.stale = true
		return nil, nil, err
	}

	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	now := l.opts.Now()
	results, err := write(tx, now)
	if err != nil {
		return fail(err)
	}
	var cp *SignedCheckpoint
	if w.size > w.cpSize && (added == 0 || w.size-w.cpSize >= l.opts.CheckpointEvery || now.Sub(w.cpAt) >= l.opts.CheckpointInterval) {
		if cp, err = l.writeCheckpoint(ctx, tx, now); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return results, cp, nil
}

// writeEntries assigns indexes, encrypts the bodies, and inserts the
// entries and their stored hashes.
func (l *Log) writeEntries(ctx context.Context, tx *sql.Tx, batch []*pending, now time.Time) ([]appendResult, error) {
	insEntry, err := tx.PrepareContext(ctx, `INSERT INTO audit_entries
		(idx, exchange_id, partner, phase, decision, status, recorded_ns, entry, request_ct, response_ct, wrapped_key)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return nil, err
	}
	defer insEntry.Close()
	insHash, err := tx.PrepareContext(ctx, `INSERT INTO audit_hashes (id, hash) VALUES (?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insHash.Close()

	results := make([]appendResult, len(batch))
	for i, p := range batch {
		row, err := l.seal(p, l.w.size, now)
		if err != nil {
			return nil, err
		}
		leafHash, err := l.insertRow(ctx, insEntry, insHash, row)
		if err != nil {
			return nil, err
		}
		results[i] = appendResult{
			appended: Appended{Seq: row.Leaf.Index + 1, Index: row.Leaf.Index, LeafHash: leafHash},
			recorded: now,
		}
	}
	return results, nil
}

// seal builds the stored row of p at index: ciphertexts bound to the
// index, and the canonical encoding committing to them.
func (l *Log) seal(p *pending, index int64, now time.Time) (*Row, error) {
	row := &Row{WrappedKey: p.wrapped}
	leaf := &row.Leaf
	leaf.Index = index
	leaf.Entry = p.entry
	leaf.Entry.RequestBody, leaf.Entry.ResponseBody = nil, nil
	leaf.Entry.RecordedAt = now
	leaf.WrappedKeySHA256 = digest(p.wrapped)

	var err error
	ad := bodyAD(l.opts.Origin, index, p.entry.ExchangeID, "request")
	if row.RequestCiphertext, err = sealBody(p.key, p.entry.RequestBody, ad); err != nil {
		return nil, err
	}
	ad = bodyAD(l.opts.Origin, index, p.entry.ExchangeID, "response")
	if row.ResponseCiphertext, err = sealBody(p.key, p.entry.ResponseBody, ad); err != nil {
		return nil, err
	}
	leaf.Request = commitBody(p.entry.RequestBody, p.reqSum, row.RequestCiphertext)
	leaf.Response = commitBody(p.entry.ResponseBody, p.respSum, row.ResponseCiphertext)
	if row.Encoded, err = EncodeEntry(leaf); err != nil {
		return nil, err
	}
	return row, nil
}

func commitBody(plain []byte, sum [32]byte, sealed []byte) Body {
	if len(plain) == 0 {
		return Body{}
	}
	return Body{Size: int64(len(plain)), SHA256: sum, CiphertextSHA256: digest(sealed)}
}

// insertRow stores row and its tree hashes and advances the tree.
func (l *Log) insertRow(ctx context.Context, insEntry, insHash *sql.Stmt, row *Row) (tlog.Hash, error) {
	w := &l.w
	e := &row.Leaf.Entry
	leafHash := tlog.RecordHash(row.Encoded)
	hashes, err := tlog.StoredHashesForRecordHash(w.size, leafHash, w.frontier)
	if err != nil {
		return tlog.Hash{}, err
	}
	_, err = insEntry.ExecContext(ctx, w.size, e.ExchangeID, e.Partner, string(e.Phase), string(e.Decision),
		e.Status, unixNano(e.RecordedAt), row.Encoded, row.RequestCiphertext, row.ResponseCiphertext, row.WrappedKey)
	if err != nil {
		return tlog.Hash{}, err
	}
	first := tlog.StoredHashIndex(0, w.size)
	for k, h := range hashes {
		if _, err := insHash.ExecContext(ctx, first+int64(k), h[:]); err != nil {
			return tlog.Hash{}, err
		}
		w.frontier[first+int64(k)] = h
	}
	w.size++
	w.frontier.keep(frontierIndexes(w.size))
	return leafHash, nil
}

// writeCheckpoint signs the current tree head and inserts it.
func (l *Log) writeCheckpoint(ctx context.Context, tx *sql.Tx, now time.Time) (*SignedCheckpoint, error) {
	w := &l.w
	root, err := tlog.TreeHash(w.size, w.frontier)
	if err != nil {
		return nil, err
	}
	c := Checkpoint{Origin: l.opts.Origin, Size: w.size, Hash: root}
	msg, err := SignCheckpoint(c, l.opts.Signer)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, note, created_ns) VALUES (?, ?, ?)`,
		w.size, msg, now.UnixNano()); err != nil {
		return nil, err
	}
	w.cpSize, w.cpAt = w.size, now
	return &SignedCheckpoint{Checkpoint: c, Note: msg}, nil
}

// loadState reads the tree size, its frontier hashes and the latest
// checkpoint from the database.
func (l *Log) loadState(ctx context.Context) error {
	size, err := l.Size(ctx)
	if err != nil {
		return err
	}
	idx := frontierIndexes(size)
	hashes, err := l.hashReader(ctx).ReadHashes(idx)
	if err != nil {
		return fmt.Errorf("auditlog: load tree of size %d: %w", size, err)
	}
	w := writerState{size: size, frontier: make(hashMap, len(idx))}
	for i, id := range idx {
		w.frontier[id] = hashes[i]
	}
	cp, err := l.LatestCheckpoint(ctx)
	switch {
	case errors.Is(err, ErrNoCheckpoint):
		w.cpAt = l.opts.Now()
	case err != nil:
		return err
	default:
		w.cpSize, w.cpAt = cp.Size, cp.Created
	}
	if w.cpSize > size {
		return fmt.Errorf("auditlog: latest checkpoint covers %d entries but the log has %d; run 'gatehouse audit verify'", w.cpSize, size)
	}
	l.w = w
	return nil
}

func (l *Log) reportPublish(sink string, size int64, err error) {
	if l.opts.OnPublishError != nil {
		l.opts.OnPublishError(sink, size, err)
	}
}
