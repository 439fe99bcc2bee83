package validate

import "sync"

// chunks hands out zeroed items carved from chunks that are kept for the
// next validation, so that the per-value records of the walk (groups,
// occurrences and their lists) cost no allocation once a run is warm.
// Items are handed out and given back as a stack (see mark and
// release), so the chunks in use grow with the depth and width of the
// instance, not its size. Given-back items are zeroed, so that a pooled
// run keeps no instance data alive.
type chunks[T any] struct {
	list [][]T
	cur  int // index in list of the chunk being carved
	used int // items of that chunk handed out
}

const (
	chunkItems = 256
	// maxKeptChunks bounds what a pooled run keeps after validating a
	// large document: 64 chunks of each kind, about 4 MB in all by the
	// item sizes on 64-bit platforms.
	maxKeptChunks = 64
)

// take returns n zeroed items with capacity n, so that an append past
// them moves to the heap instead of overwriting items handed out later.
func (c *chunks[T]) take(n int) []T {
	if n > chunkItems/4 {
		return make([]T, n)
	}
	if c.cur < len(c.list) && c.used+n > chunkItems {
		c.cur, c.used = c.cur+1, 0
	}
	if c.cur == len(c.list) {
		c.list = append(c.list, make([]T, chunkItems))
	}
	out := c.list[c.cur][c.used : c.used+n : c.used+n]
	c.used += n
	return out
}

func (c *chunks[T]) one() *T { return &c.take(1)[0] }

// chunkMark is a position in chunks, to give back what was taken after it.
type chunkMark struct{ cur, used int }

func (c *chunks[T]) mark() chunkMark { return chunkMark{c.cur, c.used} }

// release zeroes the items taken since m and hands them out again. The
// caller must hold no pointer to them.
func (c *chunks[T]) release(m chunkMark) {
	for i := m.cur; i <= c.cur && i < len(c.list); i++ {
		from, to := 0, chunkItems
		if i == m.cur {
			from = m.used
		}
		if i == c.cur {
			to = c.used
		}
		if from < to {
			clear(c.list[i][from:to])
		}
	}
	c.cur, c.used = m.cur, m.used
}

// reset releases every item and drops the chunks past maxKeptChunks.
// Dropped chunks are not zeroed first, because the collector frees them.
func (c *chunks[T]) reset() {
	if len(c.list) > maxKeptChunks {
		clear(c.list[maxKeptChunks:])
		c.list = c.list[:maxKeptChunks]
		if c.cur >= maxKeptChunks {
			c.cur, c.used = maxKeptChunks-1, chunkItems
		}
	}
	c.release(chunkMark{})
}

// maxKeptMapEntries bounds the maps a pooled run keeps: a map that grew
// past it on a large document is dropped rather than cleared.
const maxKeptMapEntries = 1 << 14

var runPool = sync.Pool{New: func() any {
	return &run{seen: map[issueKey]struct{}{}, evaluated: map[evalKey]struct{}{}, conforms: map[conformKey]*bool{}}
}}

// newRun takes a run from the pool. The caller gives it back with
// release once the issues have been taken.
func newRun(v *Validator) *run {
	r := runPool.Get().(*run)
	r.v = v
	return r
}

// release clears r and puts it back in the pool. r.issues is handed to
// the caller's Result, so it is dropped, not reused.
func (r *run) release() {
	r.v, r.issues = nil, nil
	r.seen = clearedMap(r.seen)
	r.evaluated = clearedMap(r.evaluated)
	r.conforms = clearedMap(r.conforms)
	r.cleanNarratives = clearedMap(r.cleanNarratives)
	r.nesting, r.conformanceChecks = 0, 0
	r.fpFailed, r.unknownMembership = false, false
	r.lastNode, r.lastIDs = nil, r.lastIDs[:0]
	r.groups.reset()
	r.occs.reset()
	r.occRefs.reset()
	r.tree.reset()
	r.fpTree.Reset()
	clear(r.groupStack)
	r.groupStack = r.groupStack[:0]
	clear(r.resources)
	r.resources = r.resources[:0]
	clear(r.bundles)
	r.bundles = r.bundles[:0]
	runPool.Put(r)
}

func clearedMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) > maxKeptMapEntries {
		return map[K]V{}
	}
	clear(m)
	return m
}
