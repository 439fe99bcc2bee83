package auditlog

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// verifyChunk is the number of entries read per query.
const verifyChunk = 2000

// chunk is the entries [from, to) as stored, with their stored hashes.
type chunk struct {
	from, to int64
	rows     []Row
	checks   []rowCheck // checks[i] is the result of inspecting rows[i]
	stored   storedHashes
	arena    []byte // holds the blobs of rows
	err      error  // set on the last chunk sent when reading failed
}

// rowCheck is the result of inspecting one row on its own.
type rowCheck struct {
	leafHash tlog.Hash // computed from the stored encoding, whatever is wrong elsewhere
	problems []string  // in the order they are reported
}

// scanEntries recomputes the tree from the entries. One goroutine reads
// chunks from the database while the rows of the previous chunk are
// inspected in parallel and then added to the tree in order.
func (v *verifier) scanEntries() error {
	ctx, cancel := context.WithCancel(v.ctx)
	defer cancel()
	chunks := make(chan *chunk, 1)
	from := v.tree.size
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(chunks)
		err := v.runCatchingFaults(func() error { return v.readChunks(ctx, from, chunks) })
		if err != nil {
			select {
			case chunks <- &chunk{err: err}:
			case <-ctx.Done():
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	for c := range chunks {
		if c.err != nil {
			return c.err
		}
		v.inspectChunk(c)
		if err := v.checkChunk(c); err != nil {
			return err
		}
		v.recycle(c.arena)
		if v.opts.Progress != nil {
			v.opts.Progress(v.tree.size, v.rep.Size)
		}
	}
	return nil
}

// readChunks sends the chunks of the entries from start on, in order. It
// stops at the first error, which it returns, or when ctx ends.
func (v *verifier) readChunks(ctx context.Context, start int64, out chan<- *chunk) error {
	for from := start; from < v.rep.Size; from += verifyChunk {
		c := &chunk{from: from, to: min(from+verifyChunk, v.rep.Size)}
		if err := v.readChunk(ctx, c); err != nil {
			return err
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// readChunk reads the rows and stored hashes of c. The blobs are copied
// into one arena per chunk rather than allocated per row, which halved the
// allocations of a verification.
func (v *verifier) readChunk(ctx context.Context, c *chunk) error {
	rows, err := v.tx.QueryContext(ctx, sqlEntryRange, c.from, c.to)
	if err != nil {
		return fmt.Errorf("auditlog: read entries: %w", err)
	}
	defer rows.Close()
	c.rows = make([]Row, 0, c.to-c.from)
	c.arena = v.arena()
	var raw [4]sql.RawBytes
	for rows.Next() {
		var r Row
		col := &r.columns
		var shredded sql.NullInt64
		err := rows.Scan(&col.index, &col.exchangeID, &col.partner, &col.phase, &col.decision, &col.status, &col.recordedNS,
			&raw[0], &raw[1], &raw[2], &raw[3], &shredded)
		if err != nil {
			return fmt.Errorf("auditlog: read entries: %w", err)
		}
		for i, dst := range []*[]byte{&r.Encoded, &r.RequestCiphertext, &r.ResponseCiphertext, &r.WrappedKey} {
			*dst, c.arena = keepBytes(c.arena, raw[i])
		}
		if shredded.Valid {
			r.Shredded = time.Unix(0, shredded.Int64)
		}
		c.rows = append(c.rows, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auditlog: read entries: %w", err)
	}
	c.stored, err = v.readStoredHashes(ctx, c.from, c.to)
	return err
}

// keepBytes appends b to arena and returns the copy, nil for nil.
func keepBytes(arena, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, arena
	}
	start := len(arena)
	arena = append(arena, b...)
	return arena[start:len(arena):len(arena)], arena
}

// chunkArenaSize is the initial capacity of a chunk's arena: enough for
// entries with 4 KiB bodies.
const chunkArenaSize = verifyChunk * 5 << 10

// arena returns an empty arena, reused from an earlier chunk if one is
// free.
func (v *verifier) arena() []byte {
	select {
	case a := <-v.arenas:
		return a[:0]
	default:
		return make([]byte, 0, chunkArenaSize)
	}
}

// recycle offers the arena of a checked chunk for reuse.
func (v *verifier) recycle(a []byte) {
	select {
	case v.arenas <- a:
	default:
	}
}

// storedHashes are the stored hashes with ids [lo, lo+len(hashes)).
type storedHashes struct {
	lo     int64
	hashes []tlog.Hash
	found  []bool
}

func (s *storedHashes) get(id int64) (tlog.Hash, bool) {
	i := id - s.lo
	if i < 0 || i >= int64(len(s.hashes)) || !s.found[i] {
		return tlog.Hash{}, false
	}
	return s.hashes[i], true
}

// readStoredHashes reads the stored hashes written with entries [from, to).
// A hash of the wrong length reads as zero, which the caller reports as a
// mismatch.
func (v *verifier) readStoredHashes(ctx context.Context, from, to int64) (storedHashes, error) {
	lo, hi := tlog.StoredHashIndex(0, from), tlog.StoredHashCount(to)
	s := storedHashes{lo: lo, hashes: make([]tlog.Hash, hi-lo), found: make([]bool, hi-lo)}
	rows, err := v.tx.QueryContext(ctx, sqlHashRange, lo, hi)
	if err != nil {
		return s, fmt.Errorf("auditlog: read stored hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var b sql.RawBytes
		if err := rows.Scan(&id, &b); err != nil {
			return s, fmt.Errorf("auditlog: read stored hashes: %w", err)
		}
		if id < lo || id >= hi {
			continue
		}
		if len(b) == tlog.HashSize {
			copy(s.hashes[id-lo][:], b)
		}
		s.found[id-lo] = true
	}
	return s, rows.Err()
}

// inspectChunk inspects every row of c, spread over the processors.
func (v *verifier) inspectChunk(c *chunk) {
	c.checks = make([]rowCheck, len(c.rows))
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(c.rows); i += workers {
				c.checks[i] = v.inspect(&c.rows[i])
			}
		})
	}
	wg.Wait()
}

// inspect checks one row against its own encoding: the index, the query
// columns, the ciphertext and wrapped key hashes, and the key-encryption
// key. It reads only v.keks, so rows may be inspected concurrently.
func (v *verifier) inspect(r *Row) rowCheck {
	c := rowCheck{leafHash: tlog.RecordHash(r.Encoded)}
	leaf, err := DecodeEntry(r.Encoded)
	if err != nil {
		c.problems = append(c.problems, fmt.Sprintf("the stored encoding does not parse: %v", err))
		return c
	}
	r.Leaf = *leaf
	if leaf.Index != r.columns.index {
		c.problems = append(c.problems, fmt.Sprintf("its signed encoding is entry %d: entries were reordered or copied", leaf.Index))
		return c
	}
	if what := columnMismatch(r, leaf); what != "" {
		c.problems = append(c.problems, "column "+what+" differs from the signed entry")
	}
	if what := blobMismatch(r, leaf); what != "" {
		c.problems = append(c.problems, what)
	} else if what := v.kekMissing(r); what != "" {
		c.problems = append(c.problems, what)
	}
	return c
}

// kekMissing checks that an unshredded entry's key-encryption key is
// stored. Retention deletes a KEK only after every entry under it is
// shredded, so a missing one means bodies were made unreadable outside
// retention.
func (v *verifier) kekMissing(r *Row) string {
	if r.WrappedKey == nil {
		return ""
	}
	id, legacy, err := parseWrappedKey(r.WrappedKey)
	switch {
	case err != nil:
		return "the wrapped data key is malformed"
	case legacy:
		return ""
	case !v.keks[id]:
		return fmt.Sprintf("key-encryption key %d of the wrapped data key is missing: the bodies cannot be decrypted", id)
	}
	return ""
}

// checkChunk adds the rows of c to the tree in index order, reporting
// their problems, gaps and stored hashes that differ.
func (v *verifier) checkChunk(c *chunk) error {
	for i := range c.rows {
		r := &c.rows[i]
		for v.tree.size < r.columns.index {
			if err := v.missing(&c.stored); err != nil {
				return err
			}
		}
		if err := v.report(r, &c.checks[i]); err != nil {
			return err
		}
		if err := v.advance(c.checks[i].leafHash, &c.stored); err != nil {
			return err
		}
	}
	for v.tree.size < c.to {
		if err := v.missing(&c.stored); err != nil {
			return err
		}
	}
	return nil
}

// report records the problems inspect found in r and counts shredding.
func (v *verifier) report(r *Row, c *rowCheck) error {
	for _, what := range c.problems {
		if err := v.problem(v.tree.size, 0, "%s", what); err != nil {
			return err
		}
	}
	if r.WrappedKey == nil {
		v.rep.Shredded++
		if r.Shredded.After(v.rep.LastShredded) {
			v.rep.LastShredded = r.Shredded
		}
	}
	return nil
}

// missing reports a deleted entry and continues with its stored leaf hash,
// so later entries are still checked; without one the tree cannot go on.
func (v *verifier) missing(stored *storedHashes) error {
	if err := v.problem(v.tree.size, 0, "missing: the entry was deleted"); err != nil {
		return err
	}
	leaf, ok := stored.get(tlog.StoredHashIndex(0, v.tree.size))
	if !ok {
		v.problem(v.tree.size, 0, "its stored leaf hash is also missing; verification cannot continue past it")
		return errTooManyProblems
	}
	return v.advance(leaf, stored)
}

func columnMismatch(r *Row, l *Leaf) string {
	c, e := &r.columns, &l.Entry
	switch {
	case c.exchangeID != e.ExchangeID:
		return "exchange_id"
	case c.partner != e.Partner:
		return "partner"
	case c.phase != string(e.Phase):
		return "phase"
	case c.decision != string(e.Decision):
		return "decision"
	case c.status != e.Status:
		return "status"
	case c.recordedNS != unixNano(e.RecordedAt):
		return "recorded_ns"
	}
	return ""
}

// blobMismatch checks ciphertexts and the wrapped key against the hashes
// the entry commits to. A missing wrapped key is shredding, not tampering,
// when shredded_ns is set.
func blobMismatch(r *Row, l *Leaf) string {
	if bad := ciphertextMismatch("request", r.RequestCiphertext, &l.Request); bad != "" {
		return bad
	}
	if bad := ciphertextMismatch("response", r.ResponseCiphertext, &l.Response); bad != "" {
		return bad
	}
	switch {
	case r.WrappedKey == nil && r.Shredded.IsZero():
		return "the wrapped data key was deleted without a shredding time"
	case r.WrappedKey != nil && digest(r.WrappedKey) != l.WrappedKeySHA256:
		return "the wrapped data key does not match its committed hash"
	}
	return ""
}

func ciphertextMismatch(part string, ct []byte, b *Body) string {
	if b.Size == 0 {
		if len(ct) != 0 {
			return part + " ciphertext present for an empty body"
		}
		return ""
	}
	if digest(ct) != b.CiphertextSHA256 {
		return part + " ciphertext does not match its committed hash"
	}
	return ""
}

// advance adds leafHash as the next entry, compares the stored hashes, and
// compares the root with any checkpoint of the new size.
func (v *verifier) advance(leafHash tlog.Hash, stored *storedHashes) error {
	index := v.tree.size
	first := tlog.StoredHashIndex(0, index)
	for k, h := range v.tree.add(leafHash) {
		id := first + int64(k)
		if got, ok := stored.get(id); !ok || got != h {
			if err := v.problem(index, 0, "stored hash %d differs from the recomputed one", id); err != nil {
				return err
			}
		}
	}
	return v.compareCheckpoint()
}

func (v *verifier) compareCheckpoint() error {
	size := v.tree.size
	if v.nextCP >= len(v.checkpoints) || v.checkpoints[v.nextCP].Size != size {
		return nil
	}
	c := v.checkpoints[v.nextCP]
	v.nextCP++
	if v.tree.root() != c.Hash {
		return v.problem(v.lastGood, size, "the recomputed root differs from signed checkpoint #%d (size %d): an entry in this range was changed",
			c.ID, c.Size)
	}
	v.lastGood = size
	return nil
}

// checkConsistency proves, from the stored hashes, that each checkpoint
// extends the previous one (RFC 6962 consistency proofs).
func (v *verifier) checkConsistency() error {
	r := dbHashReader{ctx: v.ctx, q: v.tx}
	for i := 1; i < len(v.checkpoints); i++ {
		old, cur := v.checkpoints[i-1], v.checkpoints[i]
		if old.Size == 0 || cur.Size > v.rep.Size || cur.Size <= v.rep.From {
			continue
		}
		proof, err := tlog.ProveTree(cur.Size, old.Size, r)
		if err == nil {
			err = tlog.CheckTree(proof, cur.Size, cur.Hash, old.Size, old.Hash)
		}
		if err != nil {
			if perr := v.problem(old.Size, cur.Size, "checkpoints #%d (size %d) and #%d (size %d) are not consistent: %v",
				old.ID, old.Size, cur.ID, cur.Size, err); perr != nil {
				return perr
			}
		}
	}
	return nil
}
