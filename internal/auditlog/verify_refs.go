package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// requestRefs collects, for one chunk, the request entries it holds and
// the references its entries make to request entries.
type requestRefs struct {
	targets map[int64]*Leaf // request entries of the chunk, by index
	refs    []requestRef
}

// requestRef is an entry's reference to the request entry holding its
// request body.
type requestRef struct {
	pos        int   // the referring entry's position in the chunk's checks
	target     int64 // the request entry's index
	exchangeID string
	body       Body
}

// note records what the row just inspected, whose parsed encoding is f,
// adds to the chunk's references: it is a request entry, or it names one.
func (rs *requestRefs) note(f *entryFields, check rowCheck, pos int) {
	if !check.parsed {
		return
	}
	phase := string(f.strs[fieldPhase])
	switch {
	case phase == string(record.PhaseRequest):
		rs.targets[f.index] = referenceLeaf(f)
	case f.request.InRequestEntry():
		rs.refs = append(rs.refs, requestRef{pos: pos, target: f.requestEntry,
			exchangeID: string(f.strs[fieldExchangeID]), body: f.request})
	}
}

// referenceLeaf keeps the fields of f a reference is checked against.
func referenceLeaf(f *entryFields) *Leaf {
	l := &Leaf{Index: f.index, Request: f.request}
	l.Entry.Phase = record.Phase(f.strs[fieldPhase])
	l.Entry.ExchangeID = string(f.strs[fieldExchangeID])
	return l
}

// requestTarget is a request entry read for references from another
// chunk: its fields, or what is wrong with it.
type requestTarget struct {
	leaf    *Leaf
	problem string
}

// maxCachedTargets bounds a reader's cache of request entries.
const maxCachedTargets = 4096

// checkRefs adds a problem to each check in checks whose entry names a
// request entry that does not hold its request body. A request entry
// outside the chunk is read on its own (readTarget).
func (r *chunkReader) checkRefs(ctx context.Context, rs *requestRefs, checks []rowCheck) error {
	for _, ref := range rs.refs {
		target := requestTarget{leaf: rs.targets[ref.target]}
		if target.leaf == nil {
			var err error
			if target, err = r.readTarget(ctx, ref.target); err != nil {
				return err
			}
		}
		problem := target.problem
		if problem == "" && target.leaf != nil {
			problem = requestEntryMismatch(target.leaf, ref.exchangeID, &ref.body)
		}
		if problem != "" {
			checks[ref.pos].problems = append(checks[ref.pos].problems, "its request body is kept in its request entry, but "+problem)
		}
	}
	return nil
}

// readTarget reads the request entry at index, from the cache when it was
// read before. An entry at or above the run's first recomputed entry is
// checked in its own chunk, so only its encoding is read here. One below
// it, in an incremental run, is not recomputed with the tree, so it is
// checked here in full, and its leaf hash against the trusted checkpoint
// with an inclusion proof.
func (r *chunkReader) readTarget(ctx context.Context, index int64) (requestTarget, error) {
	if t, ok := r.targets[index]; ok {
		return t, nil
	}
	var t requestTarget
	var err error
	if index >= r.v.rep.From {
		t, err = r.readTargetEncoding(ctx, index)
	} else {
		t, err = r.readTrustedTarget(ctx, index)
	}
	if err != nil {
		return t, err
	}
	if r.targets == nil || len(r.targets) >= maxCachedTargets {
		r.targets = map[int64]requestTarget{}
	}
	r.targets[index] = t
	return t, nil
}

// readTargetEncoding reads the encoding of the entry at index. A damaged
// encoding is reported at that entry's own index, so it yields no target
// and no problem here.
func (r *chunkReader) readTargetEncoding(ctx context.Context, index int64) (requestTarget, error) {
	var encoded []byte
	err := r.scan.Tx.QueryRowContext(ctx, sqlReadEntryEncoding, index).Scan(&encoded)
	if errors.Is(err, sql.ErrNoRows) {
		return requestTarget{problem: fmt.Sprintf("entry %d is missing", index)}, nil
	}
	if err != nil {
		return requestTarget{}, err
	}
	var f entryFields
	if parseEntry(encoded, &f) != nil || f.index != index {
		return requestTarget{}, nil
	}
	return requestTarget{leaf: referenceLeaf(&f)}, nil
}

// readTrustedTarget reads and inspects the entry at index, below the
// trusted checkpoint, and proves its leaf hash in the trusted tree.
func (r *chunkReader) readTrustedTarget(ctx context.Context, index int64) (requestTarget, error) {
	var leaf *Leaf
	var check rowCheck
	read := false
	err := r.readRange(ctx, index, index+1, func(c rowCheck) {
		check, read = c, true
		if c.parsed {
			leaf = referenceLeaf(&r.row.fields)
		}
	})
	switch {
	case err != nil:
		return requestTarget{}, err
	case !read:
		return requestTarget{problem: fmt.Sprintf("entry %d is missing", index)}, nil
	case len(check.problems) > 0:
		return requestTarget{problem: fmt.Sprintf("entry %d: %s", index, check.problems[0])}, nil
	}
	trusted := r.v.trusted
	proof, err := tlog.ProveRecord(trusted.Size, index, dbHashReader{ctx: ctx, q: r.scan.Tx})
	if err != nil {
		return requestTarget{}, fmt.Errorf("prove entry %d in the trusted checkpoint: %w", index, err)
	}
	if tlog.CheckRecord(proof, trusted.Size, trusted.Hash, index, check.leafHash) != nil {
		return requestTarget{problem: fmt.Sprintf("entry %d is not the one the trusted checkpoint covers", index)}, nil
	}
	return requestTarget{leaf: leaf}, nil
}
