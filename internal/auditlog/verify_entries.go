package auditlog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// scanEntries recomputes the tree from the entries, chunk by chunk.
func (v *verifier) scanEntries() error {
	for v.size < v.rep.Size {
		var rows []*Row
		query := `SELECT ` + rowColumnsSQL + ` FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx`
		end := min(v.size+verifyChunk, v.rep.Size)
		err := scanRows(v.ctx, v.tx, query, []any{v.size, end}, false, func(r *Row) error {
			rows = append(rows, r)
			return nil
		})
		if err != nil {
			return err
		}
		stored, err := v.storedHashes(v.size, end)
		if err != nil {
			return err
		}
		if err := v.checkChunk(rows, end, stored); err != nil {
			return err
		}
		if v.opts.Progress != nil {
			v.opts.Progress(v.size, v.rep.Size)
		}
	}
	return nil
}

// storedHashes reads the stored hashes written with entries [from, to).
func (v *verifier) storedHashes(from, to int64) (map[int64]tlog.Hash, error) {
	lo, hi := tlog.StoredHashIndex(0, from), tlog.StoredHashCount(to)
	rows, err := v.tx.QueryContext(v.ctx, `SELECT id, hash FROM audit_hashes WHERE id >= ? AND id < ? ORDER BY id`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("auditlog: read stored hashes: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]tlog.Hash, hi-lo)
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, fmt.Errorf("auditlog: read stored hashes: %w", err)
		}
		var h tlog.Hash
		if copy(h[:], b) != tlog.HashSize || len(b) != tlog.HashSize {
			h = tlog.Hash{} // reported as a mismatch by the caller
		}
		out[id] = h
	}
	return out, rows.Err()
}

// checkChunk checks the rows of entries [v.size, end), reporting gaps.
func (v *verifier) checkChunk(rows []*Row, end int64, stored map[int64]tlog.Hash) error {
	for _, r := range rows {
		for v.size < r.columns.index {
			if err := v.missing(stored); err != nil {
				return err
			}
		}
		leafHash, err := v.checkRow(r)
		if err != nil {
			return err
		}
		if err := v.advance(leafHash, stored); err != nil {
			return err
		}
	}
	for v.size < end {
		if err := v.missing(stored); err != nil {
			return err
		}
	}
	return nil
}

// missing reports a deleted entry and continues with its stored leaf hash,
// so later entries are still checked; without one the tree cannot go on.
func (v *verifier) missing(stored map[int64]tlog.Hash) error {
	if err := v.problem(v.size, 0, "missing: the entry was deleted"); err != nil {
		return err
	}
	leaf, ok := stored[tlog.StoredHashIndex(0, v.size)]
	if !ok {
		v.problem(v.size, 0, "its stored leaf hash is also missing; verification cannot continue past it")
		return errTooManyProblems
	}
	return v.advance(leaf, stored)
}

// checkRow checks one entry against its own encoding and returns its leaf
// hash (computed from the encoding, whatever is wrong elsewhere).
func (v *verifier) checkRow(r *Row) (tlog.Hash, error) {
	i := v.size
	leafHash := tlog.RecordHash(r.Encoded)
	leaf, err := DecodeEntry(r.Encoded)
	if err != nil {
		return leafHash, v.problem(i, 0, "the stored encoding does not parse: %v", err)
	}
	if leaf.Index != i {
		return leafHash, v.problem(i, 0, "its signed encoding is entry %d: entries were reordered or copied", leaf.Index)
	}
	if what := columnMismatch(r, leaf); what != "" {
		if err := v.problem(i, 0, "column %s differs from the signed entry", what); err != nil {
			return leafHash, err
		}
	}
	if what := blobMismatch(r, leaf); what != "" {
		if err := v.problem(i, 0, "%s", what); err != nil {
			return leafHash, err
		}
	}
	if r.WrappedKey == nil {
		v.rep.Shredded++
		if r.Shredded.After(v.rep.LastShredded) {
			v.rep.LastShredded = r.Shredded
		}
	}
	return leafHash, nil
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

// advance adds leafHash as entry v.size, compares the stored hashes, and
// compares the root with any checkpoint of the new size.
func (v *verifier) advance(leafHash tlog.Hash, stored map[int64]tlog.Hash) error {
	hashes, err := tlog.StoredHashesForRecordHash(v.size, leafHash, v.frontier)
	if err != nil {
		return fmt.Errorf("auditlog: verify: %w", err)
	}
	first := tlog.StoredHashIndex(0, v.size)
	for k, h := range hashes {
		id := first + int64(k)
		if got, ok := stored[id]; !ok || got != h {
			if err := v.problem(v.size, 0, "stored hash %d differs from the recomputed one", id); err != nil {
				return err
			}
		}
		v.frontier[id] = h
	}
	v.size++
	v.frontier.keep(frontierIndexes(v.size))
	return v.compareCheckpoint()
}

func (v *verifier) compareCheckpoint() error {
	if v.nextCP >= len(v.checkpoints) || v.checkpoints[v.nextCP].Size != v.size {
		return nil
	}
	c := v.checkpoints[v.nextCP]
	v.nextCP++
	root, err := tlog.TreeHash(v.size, v.frontier)
	if err != nil {
		return fmt.Errorf("auditlog: verify: %w", err)
	}
	if root != c.Hash {
		return v.problem(v.lastGood, v.size, "the recomputed root differs from signed checkpoint #%d (size %d): an entry in this range was changed",
			c.ID, c.Size)
	}
	v.lastGood = v.size
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
