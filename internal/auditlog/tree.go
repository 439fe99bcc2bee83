package auditlog

import (
	"context"
	"database/sql"
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
	f := frontier{size: size}
	ids := frontierIndexes(size)
	hashes, err := r.ReadHashes(ids)
	if err != nil {
		return f, err
	}
	i := 0
	for level := 62; level >= 0; level-- {
		if size&(1<<level) != 0 {
			f.hashes[level] = hashes[i]
			i++
		}
	}
	return f, nil
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
