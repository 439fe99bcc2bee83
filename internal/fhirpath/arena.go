package fhirpath

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

// reset clears the items handed out, so the pool does not keep resource
// trees alive, and reports whether the arena is small enough to pool.
func (a *arena) reset() bool {
	clear(a.chunk[:a.used])
	a.used = 0
	return len(a.chunk) <= maxPooledArena
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

// pushCall returns a cleared call frame; popCall releases it. Frames are
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

func (ev *evaluator) popCall(c *call) {
	*c = call{}
	ev.callDepth--
}

// pushScope returns a scope for one iteration of a function argument;
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
