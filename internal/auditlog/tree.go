package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// frontier is the right edge of a Merkle tree of size leaves: the hash of
// each complete subtree that the binary digits of size name. It is all a
// writer or verifier needs to add leaves and compute the root, and a copy
// is a plain value copy.
type frontier struct {
	size int64
	// hashes[level] is the root of the complete subtree of 2^level leaves
	// on the edge, valid when bit level of size is set.
	hashes [63]tlog.Hash
}

// add appends the leaf whose record hash is leaf and returns the stored
// hashes it creates, in the order of tlog.StoredHashes: they get the
// consecutive stored hash indexes from tlog.StoredHashIndex(0, size).
func (f *frontier) add(leaf tlog.Hash) []tlog.Hash {
	level := bits.TrailingZeros64(^uint64(f.size))
	stored := make([]tlog.Hash, 0, level+1)
	h := leaf
	stored = append(stored, h)
	for l := range level {
		h = tlog.NodeHash(f.hashes[l], h)
		stored = append(stored, h)
	}
	f.hashes[level] = h
	f.size++
	return stored
}

// root returns the RFC 6962 root hash of the tree, as tlog.TreeHash does.
func (f *frontier) root() tlog.Hash {
	if f.size == 0 {
		return tlog.Hash(emptyTreeHash)
	}
	var root tlog.Hash
	first := true
	for level := range 63 {
		if f.size&(1<<level) == 0 {
			continue
		}
		if first {
			root, first = f.hashes[level], false
		} else {
			root = tlog.NodeHash(f.hashes[level], root)
		}
	}
	return root
}

// emptyTreeHash is SHA-256 of the empty string, the root of an empty tree.
var emptyTreeHash = digest(nil)

// loadFrontier reads the edge of the tree of size leaves from its stored
// hashes.
func loadFrontier(r tlog.HashReader, size int64) (frontier, error) {
	hashes, err := r.ReadHashes(frontierIndexes(size))
	if err != nil {
		return frontier{size: size}, err
	}
	return frontierFrom(size, hashes), nil
}

// frontierFrom builds the edge of the tree of size leaves from the hashes
// stored at frontierIndexes(size), in that order.
func frontierFrom(size int64, hashes []tlog.Hash) frontier {
	f := frontier{size: size}
	i := 0
	for level := 62; level >= 0; level-- {
		if size&(1<<level) != 0 {
			f.hashes[level] = hashes[i]
			i++
		}
	}
	return f
}

// errNotExtending is loadExtension's error for stored hashes that do not
// prove the tree extends the one it was given.
var errNotExtending = errors.New("auditlog: the stored tree does not extend the earlier tree")

// loadExtension reads the edge of the tree of size leaves, as loadFrontier
// does, and checks that this tree extends the tree of oldSize leaves whose
// root is oldRoot. The check is an RFC 6962 consistency proof from the
// stored hashes, read in the same query as the edge. Stored hashes that
// merely agree with each other fail it, because the proof must also
// reproduce oldRoot. The error wraps errNotExtending when the proof fails
// or size is below oldSize.
func loadExtension(r tlog.HashReader, size, oldSize int64, oldRoot tlog.Hash) (frontier, error) {
	if size < oldSize {
		return frontier{size: size}, fmt.Errorf("%w: %d leaves, fewer than %d", errNotExtending, size, oldSize)
	}
	ids := frontierIndexes(size)
	edge := len(ids)
	var proofIDs indexRecorder
	if oldSize > 0 && oldSize < size {
		// The recorder returns zero hashes, so this call only lists the
		// indexes the proof needs. The second call below builds the proof
		// from the hashes the query returned.
		if _, err := tlog.ProveTree(size, oldSize, &proofIDs); err != nil {
			return frontier{size: size}, err
		}
		ids = append(ids, proofIDs...)
	}
	hashes, err := r.ReadHashes(ids)
	if err != nil {
		return frontier{size: size}, err
	}
	f := frontierFrom(size, hashes[:edge])
	switch {
	case oldSize == 0:
		// Every tree extends the empty one.
	case oldSize == size:
		if f.root() != oldRoot {
			return f, fmt.Errorf("%w: another root for %d leaves", errNotExtending, size)
		}
	default:
		known := make(hashSet, len(proofIDs))
		for i, id := range proofIDs {
			known[id] = hashes[edge+i]
		}
		proof, err := tlog.ProveTree(size, oldSize, known)
		if err == nil {
			err = tlog.CheckTree(proof, size, f.root(), oldSize, oldRoot)
		}
		if err != nil {
			return f, fmt.Errorf("%w: from %d to %d leaves: %v", errNotExtending, oldSize, size, err)
		}
	}
	return f, nil
}

// indexRecorder is a tlog.HashReader that records the requested indexes
// and returns zero hashes.
type indexRecorder []int64

func (r *indexRecorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	*r = append(*r, indexes...)
	return make([]tlog.Hash, len(indexes)), nil
}

// hashSet is a tlog.HashReader over hashes already read.
type hashSet map[int64]tlog.Hash

func (s hashSet) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, id := range indexes {
		h, ok := s[id]
		if !ok {
			return nil, fmt.Errorf("auditlog: stored hash %d was not read", id)
		}
		out[i] = h
	}
	return out, nil
}

// frontierIndexes returns the stored hash indexes of the complete subtrees
// that make up a tree of n leaves, largest first. These are exactly the
// hashes tlog.TreeHash(n) reads and tlog.StoredHashes(n, ...) may read.
func frontierIndexes(n int64) []int64 {
	var ids []int64
	var start int64
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			ids = append(ids, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	return ids
}

// maxLogSize bounds the entries of a log, so that every stored hash index
// (about twice the entry count) fits in an int64. A larger index in the
// database was put there outside the gateway.
const maxLogSize = 1 << 62

// errIndexOutOfRange is wrapped by countFromMaxID's error.
var errIndexOutOfRange = errors.New("auditlog: index out of range")

// countFromMaxID returns the count of rows numbered from 0 that the
// highest id max implies: max+1, or 0 when max is NULL (no rows). what
// names the ids in the error, such as "entry index".
func countFromMaxID(max sql.NullInt64, what string) (int64, error) {
	if !max.Valid {
		return 0, nil
	}
	if max.Int64 >= maxLogSize || max.Int64 < 0 {
		return 0, fmt.Errorf("%w: %s %d is outside any log, so the row was inserted outside the gateway; run 'gatehouse audit verify'", errIndexOutOfRange, what, max.Int64)
	}
	return max.Int64 + 1, nil
}

// maxHashesPerQuery bounds the placeholders of one IN list.
const maxHashesPerQuery = 500

// dbHashReader reads stored hashes from audit_hashes.
type dbHashReader struct {
	ctx context.Context
	q   queryer
}

// queryer is the part of *sql.DB and *sql.Tx that reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (r dbHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	found := make(map[int64]tlog.Hash, len(indexes))
	for start := 0; start < len(indexes); start += maxHashesPerQuery {
		chunk := indexes[start:min(start+maxHashesPerQuery, len(indexes))]
		if err := r.readChunk(chunk, found); err != nil {
			return nil, err
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, id := range indexes {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("auditlog: stored hash %d is missing", id)
		}
		out[i] = h
	}
	return out, nil
}

func (r dbHashReader) readChunk(ids []int64, found map[int64]tlog.Hash) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := r.q.QueryContext(r.ctx, hashesInQuery(len(ids)), args...)
	if err != nil {
		return fmt.Errorf("auditlog: read stored hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return fmt.Errorf("auditlog: read stored hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return fmt.Errorf("auditlog: stored hash %d has %d bytes", id, len(b))
		}
		found[id] = tlog.Hash(b)
	}
	return rows.Err()
}
