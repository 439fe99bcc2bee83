package auditlog

import (
	"context"
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

// checkRefs adds a problem to each check in checks whose entry names a
// request entry that does not hold its request body. A request entry
// outside the chunk is read on its own. One below the trusted checkpoint
// of an incremental run is not recomputed with the tree, so it is checked
// here in full, its leaf hash against the stored one. The request entries
// at or above it are checked in their own chunks.
func (r *chunkReader) checkRefs(ctx context.Context, rs *requestRefs, checks []rowCheck) error {
	for _, ref := range rs.refs {
		target, problem := rs.targets[ref.target], ""
		if target == nil {
			var err error
			if target, problem, err = r.readTarget(ctx, ref.target); err != nil {
				return err
			}
		}
		if problem == "" && target != nil {
			problem = requestEntryMismatch(target, ref.exchangeID, &ref.body)
		}
		if problem != "" {
			checks[ref.pos].problems = append(checks[ref.pos].problems, "its request body is kept in its request entry, but "+problem)
		}
	}
	return nil
}

// readTarget reads the request entry at index. It returns nil and the
// problem when the entry is missing or, below the run's first recomputed
// entry, damaged.
func (r *chunkReader) readTarget(ctx context.Context, index int64) (*Leaf, string, error) {
	var target *Leaf
	var check rowCheck
	err := r.readRange(ctx, index, index+1, func(c rowCheck) {
		check = c
		if c.parsed {
			target = referenceLeaf(&r.row.fields)
		}
	})
	switch {
	case err != nil:
		return nil, "", err
	case check.index != index || (target == nil && len(check.problems) == 0):
		return nil, fmt.Sprintf("entry %d is missing", index), nil
	case index >= r.v.rep.From:
		return target, "", nil
	case len(check.problems) > 0:
		return nil, fmt.Sprintf("entry %d: %s", index, check.problems[0]), nil
	}
	stored, err := r.readStoredHashes(ctx, index, index+1)
	if err != nil {
		return nil, "", err
	}
	if h, ok := stored.get(tlog.StoredHashIndex(0, index)); !ok || h != check.leafHash {
		return nil, fmt.Sprintf("entry %d does not match its stored leaf hash", index), nil
	}
	return target, "", nil
}
