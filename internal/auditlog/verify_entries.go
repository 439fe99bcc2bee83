package auditlog

import (
	"golang.org/x/mod/sumdb/tlog"
)

// checkChunk adds the rows of c to the tree in index order, reporting
// their problems, gaps and stored hashes that differ.
func (v *verifier) checkChunk(c *chunk) error {
	for i := range c.checks {
		check := &c.checks[i]
		for v.tree.size < check.index {
			if err := v.missing(&c.stored); err != nil {
				return err
			}
		}
		if err := v.report(check); err != nil {
			return err
		}
		if err := v.advance(check.leafHash, &c.stored); err != nil {
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

// report records the problems inspect found in a row and counts shredding.
func (v *verifier) report(c *rowCheck) error {
	for _, what := range c.problems {
		if err := v.problem(v.tree.size, 0, "%s", what); err != nil {
			return err
		}
	}
	if c.replacedKEK != 0 {
		if err := v.reportReplacedKEK(c.replacedKEK); err != nil {
			return err
		}
	}
	if c.shredded {
		v.rep.Shredded++
		if c.shreddedAt.After(v.rep.LastShredded) {
			v.rep.LastShredded = c.shreddedAt
		}
		if c.recordedAt.After(v.rep.NewestShredded) {
			v.rep.NewestShredded = c.recordedAt
		}
	}
	return nil
}

// reportReplacedKEK reports the entry at the tree's size, whose
// key-encryption key kekID was replaced. Each KEK is one problem, so that a
// KEK of a million entries does not use up MaxProblems. Its range covers
// the first run of consecutive entries under it. Later entries under it,
// after entries under other KEKs (another writer's), are not listed again,
// and the message states that they are affected too.
func (v *verifier) reportReplacedKEK(kekID int64) error {
	index := v.tree.size
	if at, ok := v.replaced[kekID]; ok {
		if p := &v.rep.Problems[at]; p.End == index {
			p.End = index + 1
		}
		return nil
	}
	if v.replaced == nil {
		v.replaced = map[int64]int{}
	}
	v.replaced[kekID] = len(v.rep.Problems)
	return v.problem(index, index+1, "key-encryption key %d was replaced outside the gateway: its stored age file differs from the SHA-256 that the signed entries commit to, so no entry under it can be decrypted", kekID)
}

// missing reports a deleted entry and continues with its stored leaf hash,
// so later entries are still checked. Without one the tree cannot go on.
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
