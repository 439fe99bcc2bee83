package auditlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// hashMap is an in-memory tlog.HashReader over a few stored hashes.
type hashMap map[int64]tlog.Hash

func (m hashMap) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, id := range indexes {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("auditlog: stored hash %d not in memory", id)
		}
		out[i] = h
	}
	return out, nil
}

func (m hashMap) clone() hashMap {
	c := make(hashMap, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// keep drops every hash whose index is not in ids.
func (m hashMap) keep(ids []int64) {
	for k := range m {
		found := false
		for _, id := range ids {
			if id == k {
				found = true
				break
			}
		}
		if !found {
			delete(m, k)
		}
	}
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

// maxHashesPerQuery keeps IN lists under SQLite's variable limit.
const maxHashesPerQuery = 500

// dbHashReader reads stored hashes from audit_hashes.
type dbHashReader struct {
	ctx context.Context
	q   queryer
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
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
	q := `SELECT id, hash FROM audit_hashes WHERE id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	rows, err := r.q.QueryContext(r.ctx, q, args...)
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
