package fhirpath

import "slices"

// Scratch memory of one evaluation. Most steps of an evaluation produce a
// small collection that the next step reads and drops, so allocating each
// one from the heap made allocation the bulk of the evaluation time. The
// evaluator instead carves collections out of an arena and keeps call
// frames and scopes on stacks, all reused by the next evaluation once the
// evaluator is back in the pool.
//
// The contract that makes the reuse safe: nothing handed out of the arena
// outlives the evaluation. Evaluate copies its result, and trace() copies
// what it passes to EvalContext.Trace.

const (
	// minArenaChunk is the size of the first chunk, in items.
	minArenaChunk = 64
	// maxPooledArena is the largest arena, in items, an evaluator may
	// keep when it goes back to the pool.
	maxPooledArena = 1 << 14
)

// arena hands out collections from one chunk at a time. A chunk that runs
// out is replaced by a larger one. Collections in the old chunk stay
// valid, because the old chunk is only dropped, never reused.
type arena struct {
	chunk []Value // current chunk
	used  int     // items of chunk handed out
}

// alloc returns an empty collection with capacity n. Its capacity is
// exact, so an append past n moves to the heap and cannot overwrite the
// next collection of the chunk.
func (a *arena) alloc(n int) Collection {
	if a.used+n > len(a.chunk) {
		size := max(2*len(a.chunk), minArenaChunk)
		for size < n {
			size *= 2
		}
		a.chunk, a.used = make([]Value, size), 0
	}
	c := a.chunk[a.used : a.used : a.used+n]
	a.used += n
	return c
}

// reset makes the whole chunk available again and reports whether the
// arena is small enough to pool.
//
// NOTE: the items handed out are not cleared, because clearing them cost
// a write barrier per item while the collector ran. Until they are
// overwritten they keep the values and nodes of earlier evaluations
// alive, for as long as the pool keeps the evaluator (sync.Pool drops
// idle items within two garbage collections).
func (a *arena) reset() bool {
	a.used = 0
	return len(a.chunk) <= maxPooledArena
}

// resultChunk is the number of items the evaluator allocates at once for
// the results it returns.
const resultChunk = 32

// result copies out into memory that the caller owns. Small results are
// carved from a chunk shared by the results of later evaluations: each
// piece goes to one caller only and has no spare capacity, so a caller
// that modifies or appends to its result affects no other. This saves an
// allocation per evaluation, at the price that a retained result keeps
// its whole chunk alive.
func (ev *evaluator) result(out Collection) Collection {
	n := len(out)
	if n > resultChunk/4 {
		return slices.Clone(out)
	}
	if n > len(ev.results) {
		ev.results = make([]Value, resultChunk)
	}
	r := ev.results[:n:n]
	ev.results = ev.results[n:]
	if n == 1 {
		r[0] = out[0] // a single store is cheaper than copy's bulk write barrier
	} else {
		copy(r, out)
	}
	return r
}

// single returns the collection of one item.
func (ev *evaluator) single(v Value) Collection {
	c := ev.arena.alloc(1)
	return append(c, v)
}

// collection returns an empty collection with capacity n.
func (ev *evaluator) collection(n int) Collection {
	if n == 0 {
		return nil
	}
	return ev.arena.alloc(n)
}

// pushCall returns a cleared call frame, and popCall releases it. Frames are
// used in stack order, so one evaluation needs as many as its deepest
// nesting of function calls.
func (ev *evaluator) pushCall() *call {
	if ev.callDepth == len(ev.calls) {
		ev.calls = append(ev.calls, new(call))
	}
	c := ev.calls[ev.callDepth]
	ev.callDepth++
	return c
}

// popCall leaves the frame's fields as they are, because the next
// pushCall sets them all again. Clearing them cost a write barrier per
// field while the collector runs. Until then they may keep collections of
// the last evaluation alive, for as long as the pool keeps the evaluator.
func (ev *evaluator) popCall(*call) {
	ev.callDepth--
}

// pushScope returns a scope for one iteration of a function argument, and
// popScope releases it.
func (ev *evaluator) pushScope() *scope {
	if ev.scopeTop == len(ev.scopes) {
		ev.scopes = append(ev.scopes, new(scope))
	}
	sc := ev.scopes[ev.scopeTop]
	ev.scopeTop++
	return sc
}

func (ev *evaluator) popScope(sc *scope) {
	*sc = scope{}
	ev.scopeTop--
}

// Collections shared by every evaluation. They have no spare capacity and
// nothing writes to an item of a collection it did not allocate, so they
// are never modified.
var (
	collTrue  = Collection{Boolean(true)}
	collFalse = Collection{Boolean(false)}
)

func boolCollection(b bool) Collection {
	if b {
		return collTrue
	}
	return collFalse
}
